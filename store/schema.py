"""The database schema as a list of forward migrations.

Migration N brings a database from schema version N-1 to N. Released
migrations never change; a change to the schema is a new entry at the end.
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: the first schema.
    """
    CREATE TABLE spool (
        id TEXT PRIMARY KEY,
        received REAL NOT NULL,
        peer TEXT NOT NULL,
        helo TEXT,
        mail_from TEXT NOT NULL,
        rcpt_tos TEXT NOT NULL,
        trusted INTEGER NOT NULL,
        auth_user TEXT,
        tls INTEGER NOT NULL DEFAULT 0,
        source TEXT NOT NULL DEFAULT 'smtp',
        raw BLOB NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued',
        attempts INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX spool_state ON spool (state, received);

    CREATE TABLE outbox (
        id TEXT PRIMARY KEY,
        spool_id TEXT,
        created REAL NOT NULL,
        mail_from TEXT NOT NULL,
        rcpt_tos TEXT NOT NULL,
        raw BLOB NOT NULL,
        kind TEXT NOT NULL DEFAULT 'relay',
        state TEXT NOT NULL DEFAULT 'queued',
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt REAL NOT NULL,
        expires REAL NOT NULL,
        last_error TEXT
    );
    CREATE INDEX outbox_due ON outbox (state, next_attempt);

    CREATE TABLE quarantine (
        id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        spool_id TEXT,
        reason TEXT NOT NULL,
        peer TEXT,
        mail_from TEXT,
        rcpt_tos TEXT,
        raw BLOB NOT NULL
    );

    CREATE TABLE upns (
        address TEXT PRIMARY KEY,
        original TEXT NOT NULL,
        state TEXT NOT NULL,
        created REAL NOT NULL,
        updated REAL NOT NULL,
        activated REAL,
        method TEXT,
        revoked REAL,
        reason TEXT,
        organizer TEXT,
        key_kind TEXT,
        key_fingerprint TEXT,
        invitation_uid TEXT,
        invitation_sequence INTEGER NOT NULL DEFAULT 0,
        otp_algorithm TEXT,
        otp_seed TEXT,
        otp_sequence INTEGER,
        otp_last TEXT,
        signup_token_hash TEXT,
        signup_expires REAL,
        password_hash TEXT
    );
    CREATE INDEX upns_state ON upns (state);
    CREATE UNIQUE INDEX upns_signup ON upns (signup_token_hash);

    CREATE TABLE upn_events (
        upn TEXT NOT NULL REFERENCES upns (address),
        uid TEXT NOT NULL,
        recurrence_id TEXT NOT NULL DEFAULT '',
        sequence INTEGER NOT NULL DEFAULT 0,
        partstat TEXT,
        summary TEXT,
        start TEXT,
        calendar TEXT,
        cancelled REAL,
        recorded REAL NOT NULL,
        PRIMARY KEY (upn, uid, recurrence_id)
    );
    CREATE INDEX upn_events_uid ON upn_events (uid);

    CREATE TABLE keys (
        fingerprint TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        addresses TEXT NOT NULL,
        not_after REAL,
        revoked INTEGER NOT NULL DEFAULT 0,
        own INTEGER NOT NULL DEFAULT 0,
        material TEXT NOT NULL,
        imported REAL NOT NULL
    );
    CREATE TABLE key_addresses (
        address TEXT NOT NULL,
        fingerprint TEXT NOT NULL REFERENCES keys (fingerprint) ON DELETE CASCADE,
        PRIMARY KEY (address, fingerprint)
    );

    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        event TEXT NOT NULL,
        outcome TEXT NOT NULL,
        reason TEXT,
        message_id TEXT,
        queue_id TEXT,
        upn TEXT
    );
    CREATE INDEX audit_upn ON audit (upn, at);
    """,
)

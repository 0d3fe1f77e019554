"""RFC 2289 and RFC 2243 one-time passwords: vectors, parsing, OTPKEY and the verifier."""

import re

import pytest
from Crypto.Util import RFC1751

from crypto.errors import (
    AlgorithmMismatch,
    InvalidAnswer,
    InvalidChallenge,
    InvalidOtpKey,
    InvalidPassPhrase,
    InvalidReinitialization,
    InvalidSeed,
    OtpError,
    OtpRejected,
    ReplayedAnswer,
    SequenceExhausted,
)
from crypto.otp import (
    Answer,
    Challenge,
    Reinitialization,
    VerifierState,
    answer_challenge,
    compute_otp,
    current_challenge,
    format_hex,
    format_words,
    generate_otpkey,
    generate_seed,
    initial_state,
    looks_like_otpkey,
    parse_answer,
    parse_challenge,
    parse_hex,
    parse_otpkey,
    parse_words,
    verify,
)
from crypto.otp_words import WORDS, word_index

# RFC 2289, Appendix C: algorithm, pass phrase, seed, sequence, hex, six words.
RFC_2289_VECTORS = [
    ("md4", "This is a test.", "TeSt", 0, "D185 4218 EBBB 0B51", "ROME MUG FRED SCAN LIVE LACE"),
    ("md4", "This is a test.", "TeSt", 1, "6347 3EF0 1CD0 B444", "CARD SAD MINI RYE COL KIN"),
    ("md4", "This is a test.", "TeSt", 99, "C5E6 1277 6E6C 237A", "NOTE OUT IBIS SINK NAVE MODE"),
    ("md4", "AbCdEfGhIjK", "alpha1", 0, "5007 6F47 EB1A DE4E", "AWAY SEN ROOK SALT LICE MAP"),
    ("md4", "AbCdEfGhIjK", "alpha1", 1, "65D2 0D19 49B5 F7AB", "CHEW GRIM WU HANG BUCK SAID"),
    ("md4", "AbCdEfGhIjK", "alpha1", 99, "D150 C82C CE6F 62D1", "ROIL FREE COG HUNK WAIT COCA"),
    ("md4", "OTP's are good", "correct", 0, "849C 79D4 F6F5 5388", "FOOL STEM DONE TOOL BECK NILE"),
    ("md4", "OTP's are good", "correct", 1, "8C09 92FB 2508 47B1", "GIST AMOS MOOT AIDS FOOD SEEM"),
    ("md4", "OTP's are good", "correct", 99, "3F3B F4B4 145F D74B", "TAG SLOW NOV MIN WOOL KENO"),
    ("md5", "This is a test.", "TeSt", 0, "9E87 6134 D904 99DD", "INCH SEA ANNE LONG AHEM TOUR"),
    ("md5", "This is a test.", "TeSt", 1, "7965 E054 36F5 029F", "EASE OIL FUM CURE AWRY AVIS"),
    ("md5", "This is a test.", "TeSt", 99, "50FE 1962 C496 5880", "BAIL TUFT BITS GANG CHEF THY"),
    ("md5", "AbCdEfGhIjK", "alpha1", 0, "8706 6DD9 644B F206", "FULL PEW DOWN ONCE MORT ARC"),
    ("md5", "AbCdEfGhIjK", "alpha1", 1, "7CD3 4C10 40AD D14B", "FACT HOOF AT FIST SITE KENT"),
    ("md5", "AbCdEfGhIjK", "alpha1", 99, "5AA3 7A81 F212 146C", "BODE HOP JAKE STOW JUT RAP"),
    ("md5", "OTP's are good", "correct", 0, "F205 7539 43DE 4CF9", "ULAN NEW ARMY FUSE SUIT EYED"),
    ("md5", "OTP's are good", "correct", 1, "DDCD AC95 6F23 4937", "SKIM CULT LOB SLAM POE HOWL"),
    ("md5", "OTP's are good", "correct", 99, "B203 E28F A525 BE47", "LONG IVY JULY AJAR BOND LEE"),
    ("sha1", "This is a test.", "TeSt", 0, "BB9E 6AE1 979D 8FF4", "MILT VARY MAST OK SEES WENT"),
    ("sha1", "This is a test.", "TeSt", 1, "63D9 3663 9734 385B", "CART OTTO HIVE ODE VAT NUT"),
    ("sha1", "This is a test.", "TeSt", 99, "87FE C776 8B73 CCF9", "GAFF WAIT SKID GIG SKY EYED"),
    ("sha1", "AbCdEfGhIjK", "alpha1", 0, "AD85 F658 EBE3 83C9", "LEST OR HEEL SCOT ROB SUIT"),
    ("sha1", "AbCdEfGhIjK", "alpha1", 1, "D07C E229 B5CF 119B", "RITE TAKE GELD COST TUNE RECK"),
    ("sha1", "AbCdEfGhIjK", "alpha1", 99, "27BC 7103 5AAF 3DC6", "MAY STAR TIN LYON VEDA STAN"),
    ("sha1", "OTP's are good", "correct", 0, "D51F 3E99 BF8E 6F0B", "RUST WELT KICK FELL TAIL FRAU"),
    ("sha1", "OTP's are good", "correct", 1, "82AE B52D 9437 74E4", "FLIT DOSE ALSO MEW DRUM DEFY"),
    ("sha1", "OTP's are good", "correct", 99, "4F29 6A74 FE15 67EC", "AURA ALOE HURL WING BERG WAIT"),
]


def vector_id(vector: tuple[str, str, str, int, str, str]) -> str:
    algorithm, _, seed, sequence, _, _ = vector
    return f"{algorithm}-{seed}-{sequence}"


def rfc_hex(spaced: str) -> str:
    return spaced.replace(" ", "").lower()


# RFC 2243's re-initialisation example: challenge 'otp-md5 499 ke1234 ext',
# pass phrase 'This is a test.', new parameters 'md5 499 ke1235'.
RFC_2243_PASS_PHRASE = "This is a test."
RFC_2243_INIT_HEX = "init-hex:5bf0 75d9 959d 036f:md5 499 ke1235:3712 dcb4 aa53 16c1"
RFC_2243_INIT_WORD = "init-word:BOND FOGY DRAB NE RISE MART:md5 499 ke1235:RED HERD NOW BEAN PA BURG"
RFC_2243_CURRENT = bytes.fromhex("5bf075d9959d036f")
RFC_2243_NEW = bytes.fromhex("3712dcb4aa5316c1")

OTPKEY = "md5-0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def rfc_2243_state() -> VerifierState:
    """Return the server state whose current challenge is RFC 2243's 'otp-md5 499 ke1234'."""
    password = compute_otp("md5", RFC_2243_PASS_PHRASE, "ke1234", 500)
    return VerifierState("md5", "ke1234", 500, password)


# RFC 2289 Appendix C through the library --------------------------------------


@pytest.mark.parametrize("vector", RFC_2289_VECTORS, ids=vector_id)
def test_compute_otp_hex_vector(vector: tuple[str, str, str, int, str, str]) -> None:
    algorithm, pass_phrase, seed, sequence, hex_form, _ = vector
    assert format_hex(compute_otp(algorithm, pass_phrase, seed, sequence)) == rfc_hex(hex_form)


@pytest.mark.parametrize("vector", RFC_2289_VECTORS, ids=vector_id)
def test_compute_otp_words_vector(vector: tuple[str, str, str, int, str, str]) -> None:
    algorithm, pass_phrase, seed, sequence, _, words = vector
    assert format_words(compute_otp(algorithm, pass_phrase, seed, sequence)) == words


@pytest.mark.parametrize("vector", RFC_2289_VECTORS, ids=vector_id)
def test_parse_answer_vector_forms(vector: tuple[str, str, str, int, str, str]) -> None:
    _, _, _, _, hex_form, words = vector
    expected = bytes.fromhex(rfc_hex(hex_form))
    assert parse_answer(words) == Answer(expected)
    assert parse_answer(words.lower()) == Answer(expected)
    assert parse_answer(hex_form) == Answer(expected)


@pytest.mark.parametrize("vector", RFC_2289_VECTORS, ids=vector_id)
def test_answer_challenge_vector(vector: tuple[str, str, str, int, str, str]) -> None:
    algorithm, pass_phrase, seed, sequence, hex_form, _ = vector
    challenge = parse_challenge(f"otp-{algorithm} {sequence} {seed}")
    assert answer_challenge(challenge, pass_phrase).hex() == rfc_hex(hex_form)


# Dictionary ---------------------------------------------------------------


def test_dictionary_size_and_order() -> None:
    assert len(WORDS) == 2048
    assert len(set(WORDS)) == 2048
    assert WORDS[:3] == ("A", "ABE", "ACE")
    assert WORDS[570:572] == ("YOU", "ABED")
    assert WORDS[-1] == "YOKE"
    short, long = WORDS[:571], WORDS[571:]
    assert all(1 <= len(word) <= 3 for word in short)
    assert all(len(word) == 4 for word in long)
    assert list(short) == sorted(short)
    assert list(long) == sorted(long)


def test_dictionary_matches_pycryptodome_rfc1751() -> None:
    # RFC 1751 uses the same S/KEY dictionary, and pycryptodome ships an independent copy.
    assert list(WORDS) == RFC1751.wordlist


def test_word_index_any_case() -> None:
    assert word_index("abed") == 571
    assert word_index("Yoke") == 2047
    assert word_index("A") == 0
    assert word_index("XYZZ") is None


# Encodings ----------------------------------------------------------------


def test_format_words_round_trip() -> None:
    password = bytes.fromhex("0123456789abcdef")
    assert parse_words(format_words(password)) == password


def test_parse_hex_spaces_case_and_prefix() -> None:
    expected = bytes.fromhex("3503785b369cda8b")
    assert parse_hex("0x3503785b369cda8b") == expected
    assert parse_hex("0X3503785B369CDA8B") == expected
    assert parse_hex("  3503 785B\t369c DA8b ") == expected
    assert parse_hex("0x3503 785b 369c da8b") == expected


@pytest.mark.parametrize("text", ["3503785b369cda8", "3503785b369cda8b0", "3503785b369cda8g", "0x", ""])
def test_parse_hex_rejects_bad_digits(text: str) -> None:
    with pytest.raises(InvalidAnswer, match="expected 16 hex digits"):
        parse_hex(text)


def test_parse_words_rejects_bad_checksum() -> None:
    # LACY is two entries after LACE, so only the two checksum bits differ.
    with pytest.raises(InvalidAnswer, match="fail their checksum"):
        parse_words("ROME MUG FRED SCAN LIVE LACY")


def test_parse_words_rejects_unknown_word() -> None:
    with pytest.raises(InvalidAnswer, match="word 3 of 6 is not in the RFC 2289 dictionary"):
        parse_words("ROME MUG FREDDY SCAN LIVE LACE")


def test_parse_words_rejects_non_ascii_lookalike() -> None:
    # 'ı'.upper() is 'I', a dictionary word, so only ASCII letters may count.
    with pytest.raises(InvalidAnswer, match="word 1 of 6"):
        parse_words("ı MUG FRED SCAN LIVE LACE")


def test_parse_words_rejects_wrong_count() -> None:
    with pytest.raises(InvalidAnswer, match="expected six dictionary words, got 5"):
        parse_words("ROME MUG FRED SCAN LIVE")


def test_format_rejects_wrong_length() -> None:
    with pytest.raises(OtpError, match="8 bytes, got 7"):
        format_hex(b"1234567")


# Challenges ---------------------------------------------------------------


def test_parse_challenge_fields() -> None:
    challenge = parse_challenge("otp-md5 99 TeSt")
    assert challenge == Challenge("md5", 99, "test", None)
    assert str(challenge) == "otp-md5 99 test"


def test_parse_challenge_extension_and_case() -> None:
    challenge = parse_challenge("  OTP-SHA1   499\tKe1234 ext,hex,word \r\n")
    assert challenge == Challenge("sha1", 499, "ke1234", "ext,hex,word")
    assert str(challenge) == "otp-sha1 499 ke1234 ext,hex,word"


def test_parse_challenge_sequence_zero() -> None:
    assert parse_challenge("otp-md4 0 alpha1").sequence == 0


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("otp-md5 99", "it has 2 fields"),
        ("otp-md5 99 test ext extra", "it has 5 fields"),
        ("md5 99 test", "'md5' is not one of otp-md4, otp-md5, otp-sha1"),
        ("otp-sha256 99 test", "'otp-sha256' is not one of"),
        ("otp-md5 -1 test", "sequence number must be an integer from 0 to 9999"),
        ("otp-md5 10000 test", "sequence number must be an integer from 0 to 9999"),
        ("otp-md5 9x test", "sequence number"),
        ("otp-md5 99 seed_with_underscore", "seed must have 1 to 16 ASCII letters and digits"),
        ("otp-md5 99 abcdefghijklmnopq", "seed must have 1 to 16"),
        ("otp-md5 99 test foo", "must be 'ext', not 'foo'"),
    ],
)
def test_parse_challenge_rejects_malformed(text: str, reason: str) -> None:
    with pytest.raises(InvalidChallenge) as caught:
        parse_challenge(text)
    assert reason in str(caught.value)
    assert "expected 'otp-<md4|md5|sha1> <sequence> <seed>'" in str(caught.value)


# Responses ----------------------------------------------------------------


def test_parse_answer_extended_types() -> None:
    expected = Answer(bytes.fromhex("5bf075d9959d036f"))
    assert parse_answer("hex:5Bf0 75d9 959d 036f") == expected
    assert parse_answer("HEX: 5bf075d9959d036f ") == expected
    assert parse_answer("word:BOND FOGY DRAB NE RISE MART") == expected
    assert parse_answer(" Word : bond fogy drab ne rise mart") == expected


def test_parse_answer_hex_letter_words() -> None:
    # Valid dictionary words that are also hex digits: words win when the checksum holds.
    assert parse_answer("FACE FEED AD BE A ACE").password.hex() == "7cafd40203300000"
    # With a failing checksum, the same shape is read as hex.
    assert parse_answer("CAFE FEED AD BE A ACE").password.hex() == "cafefeedadbeaace"


def test_parse_answer_rfc_2243_init_hex() -> None:
    answer = parse_answer(RFC_2243_INIT_HEX)
    assert answer.password == RFC_2243_CURRENT
    assert answer.reinitialization == Reinitialization("md5", 499, "ke1235", RFC_2243_NEW)


def test_parse_answer_rfc_2243_init_word() -> None:
    answer = parse_answer(RFC_2243_INIT_WORD)
    assert answer.password == RFC_2243_CURRENT
    assert answer.reinitialization == Reinitialization("md5", 499, "ke1235", RFC_2243_NEW)


def test_rfc_2243_example_values() -> None:
    assert compute_otp("md5", RFC_2243_PASS_PHRASE, "ke1234", 499) == RFC_2243_CURRENT
    assert compute_otp("md5", RFC_2243_PASS_PHRASE, "ke1235", 499) == RFC_2243_NEW
    assert format_words(RFC_2243_CURRENT) == "BOND FOGY DRAB NE RISE MART"
    assert format_words(RFC_2243_NEW) == "RED HERD NOW BEAN PA BURG"


@pytest.mark.parametrize(
    ("text", "error", "message"),
    [
        ("ROME MUG FRED SCAN LIVE", InvalidAnswer, "expected six words from the RFC 2289 dictionary or 16 hex digits"),
        ("ROME MUG FRED SCAN LIVE LACY", InvalidAnswer, "fail their checksum"),
        ("foo:1234", InvalidAnswer, "unsupported extended response type 'foo'"),
        ("hex:", InvalidAnswer, "expected 16 hex digits, got 0"),
        ("hex:5bf075d9959d036f:extra", InvalidAnswer, "needs 1 colon-separated field(s) after the type, got 2"),
        ("init-hex:5bf075d9959d036f:md5 499 ke1235", InvalidAnswer, "needs 3 colon-separated"),
        ("init-hex:5bf075d9959d036f:md5 499:3712dcb4aa5316c1", InvalidReinitialization, "expected '<algorithm>"),
        ("init-hex:5bf075d9959d036f:sha256 499 ke1235:3712dcb4aa5316c1", InvalidReinitialization, "'sha256'"),
        ("init-hex:5bf075d9959d036f:md5 0 ke1235:3712dcb4aa5316c1", InvalidReinitialization, "from 1 to 9999"),
        ("init-hex:5bf075d9959d036f:md5 499 ke-1235:3712dcb4aa5316c1", InvalidReinitialization, "'ke-1235'"),
        ("hex:" + "0" * 600, InvalidAnswer, "more than 512"),
    ],
)
def test_parse_answer_rejects_malformed(text: str, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        parse_answer(text)
    assert message in str(caught.value)


def test_answer_repr_hides_passwords() -> None:
    answer = parse_answer(RFC_2243_INIT_HEX)
    assert "5bf0" not in repr(answer)
    assert "3712" not in repr(answer)


# Pass phrases and seeds ---------------------------------------------------


@pytest.mark.parametrize("length", [10, 63])
def test_pass_phrase_length_limits_accepted(length: int) -> None:
    assert len(compute_otp("md5", "x" * length, "seed", 1)) == 8


@pytest.mark.parametrize("length", [0, 9, 64])
def test_pass_phrase_length_limits_rejected(length: int) -> None:
    with pytest.raises(InvalidPassPhrase) as caught:
        compute_otp("md5", "x" * length, "seed", 1)
    assert f"it has {length} characters, but RFC 2289 requires 10 to 63" in str(caught.value)


def test_pass_phrase_error_omits_secret() -> None:
    with pytest.raises(InvalidPassPhrase) as caught:
        compute_otp("md5", "hunter2!", "seed", 1)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("seed", ["", "a" * 17, "with space", "dash-ed", "ümlaut"])
def test_compute_otp_rejects_bad_seed(seed: str) -> None:
    with pytest.raises(InvalidSeed):
        compute_otp("md5", "This is a test.", seed, 1)


def test_compute_otp_seed_case_insensitive() -> None:
    assert compute_otp("md5", "This is a test.", "TEST", 5) == compute_otp("md5", "This is a test.", "test", 5)


def test_compute_otp_rejects_unknown_algorithm() -> None:
    with pytest.raises(OtpError, match="unsupported OTP algorithm 'sha256'; use one of md4, md5, sha1"):
        compute_otp("sha256", "This is a test.", "test", 1)


def test_generate_seed_shape() -> None:
    seeds = {generate_seed() for _ in range(20)}
    assert len(seeds) == 20
    for seed in seeds:
        assert re.fullmatch(r"[a-z0-9]{10}", seed)


# OTPKEY -------------------------------------------------------------------


@pytest.mark.parametrize(("algorithm", "digits"), [("md4", 32), ("md5", 32), ("sha1", 40)])
def test_generate_otpkey_shape(algorithm: str, digits: int) -> None:
    key = generate_otpkey(algorithm)
    assert re.fullmatch(rf"{algorithm}-[0-9a-f]{{{digits}}}", key)
    assert parse_otpkey(key).algorithm == algorithm


def test_generate_otpkey_default_md5_random() -> None:
    keys = {generate_otpkey() for _ in range(10)}
    assert len(keys) == 10
    assert all(key.startswith("md5-") for key in keys)


def test_parse_otpkey_lower_cases() -> None:
    key = parse_otpkey("MD5-0F1E2D3C4B5A69788796A5B4C3D2E1F0")
    assert key.algorithm == "md5"
    assert key.pass_phrase == "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
    assert str(key) == OTPKEY


def test_otpkey_repr_hides_pass_phrase() -> None:
    assert "0f1e2d" not in repr(parse_otpkey(OTPKEY))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("md5-0f1e2d3c4b5a69788796a5b4c3d2e1f", "a md5 key has 32 hex digits, this one has 31"),
        ("sha1-0f1e2d3c4b5a69788796a5b4c3d2e1f0", "a sha1 key has 40 hex digits, this one has 32"),
        ("sha256-0f1e2d3c4b5a69788796a5b4c3d2e1f0", "expected '<algorithm>-<hex digits>'"),
        ("md5:0f1e2d3c4b5a69788796a5b4c3d2e1f0", "expected '<algorithm>-<hex digits>'"),
        ("md5-0f1e2d3c4b5a69788796a5b4c3d2e1fz", "expected '<algorithm>-<hex digits>'"),
    ],
)
def test_parse_otpkey_rejects_malformed(text: str, message: str) -> None:
    with pytest.raises(InvalidOtpKey) as caught:
        parse_otpkey(text)
    assert message in str(caught.value)
    assert "0f1e2d3c" not in str(caught.value)


def test_looks_like_otpkey() -> None:
    assert looks_like_otpkey(OTPKEY)
    assert looks_like_otpkey("SHA1-ABC")
    assert not looks_like_otpkey("This is a test.")
    assert not looks_like_otpkey("md5 0f1e2d3c4b5a69788796a5b4c3d2e1f0")


def test_answer_challenge_with_otpkey() -> None:
    challenge = parse_challenge("otp-md5 498 gwk3x9")
    expected = compute_otp("md5", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "gwk3x9", 498)
    assert answer_challenge(challenge, OTPKEY) == expected
    assert answer_challenge(challenge, OTPKEY.upper()) == expected


def test_answer_challenge_algorithm_mismatch() -> None:
    challenge = parse_challenge("otp-sha1 498 gwk3x9")
    with pytest.raises(AlgorithmMismatch) as caught:
        answer_challenge(challenge, OTPKEY)
    assert str(caught.value) == (
        "the OTPKEY is for md5 but the challenge asks for sha1; "
        "answer it with the OTPKEY that came with this challenge"
    )
    assert caught.value.key_algorithm == "md5"
    assert caught.value.challenge_algorithm == "sha1"


def test_initial_state_from_otpkey() -> None:
    state = initial_state(OTPKEY, "GWK3X9", 499)
    expected = compute_otp("md5", "0f1e2d3c4b5a69788796a5b4c3d2e1f0", "gwk3x9", 499)
    assert state == VerifierState("md5", "gwk3x9", 499, expected)
    assert initial_state(OTPKEY.upper(), "gwk3x9", 499) == state


def test_initial_state_keeps_no_key() -> None:
    state = initial_state(OTPKEY, "gwk3x9", 499)
    assert "0f1e2d3c4b5a69788796a5b4c3d2e1f0" not in repr(state)
    assert "0f1e2d3c4b5a69788796a5b4c3d2e1f0" not in str(vars(state))


def test_initial_state_rejects_sequence_zero() -> None:
    with pytest.raises(OtpError, match="must be at least 1"):
        initial_state(OTPKEY, "gwk3x9", 0)


# Verifier -----------------------------------------------------------------


def test_current_challenge_one_below_state() -> None:
    state = initial_state(OTPKEY, "gwk3x9", 499)
    assert str(current_challenge(state)) == "otp-md5 498 gwk3x9"


def test_verify_accepts_and_moves_down() -> None:
    state = initial_state(OTPKEY, "gwk3x9", 499)
    answer = answer_challenge(current_challenge(state), OTPKEY)
    after = verify(state, format_words(answer))
    assert after == VerifierState("md5", "gwk3x9", 498, answer)
    assert str(current_challenge(after)) == "otp-md5 497 gwk3x9"


def test_verify_accepts_each_answer_form() -> None:
    state = initial_state(OTPKEY, "gwk3x9", 499)
    answer = answer_challenge(current_challenge(state), OTPKEY)
    forms = [
        format_words(answer),
        format_words(answer).lower(),
        format_hex(answer),
        "0x" + format_hex(answer).upper(),
        "hex:" + format_hex(answer),
        "word:" + format_words(answer),
    ]
    for form in forms:
        assert verify(state, form).sequence == 498


def test_verify_sequence_of_answers() -> None:
    state = initial_state(OTPKEY, "gwk3x9", 20)
    for expected_sequence in range(19, 9, -1):
        answer = answer_challenge(current_challenge(state), OTPKEY)
        state = verify(state, format_hex(answer))
        assert state.sequence == expected_sequence


def test_verify_rejects_replay() -> None:
    state = initial_state(OTPKEY, "gwk3x9", 499)
    answer = format_hex(answer_challenge(current_challenge(state), OTPKEY))
    after = verify(state, answer)
    with pytest.raises(ReplayedAnswer) as caught:
        verify(after, answer)
    assert str(caught.value) == (
        "one-time password rejected: it was already used; answer the current challenge 'otp-md5 497 gwk3x9'"
    )


def test_verify_rejects_older_answer() -> None:
    state = initial_state(OTPKEY, "gwk3x9", 499)
    older = answer_challenge(Challenge("md5", 499, "gwk3x9"), OTPKEY)
    with pytest.raises(ReplayedAnswer, match="already used"):
        verify(state, format_hex(older))
    much_older = answer_challenge(Challenge("md5", 520, "gwk3x9"), OTPKEY)
    with pytest.raises(ReplayedAnswer):
        verify(state, format_hex(much_older))


def test_verify_rejects_wrong_answer() -> None:
    state = initial_state(OTPKEY, "gwk3x9", 499)
    wrong = compute_otp("md5", "another pass phrase", "gwk3x9", 498)
    with pytest.raises(OtpRejected) as caught:
        verify(state, format_words(wrong))
    assert not isinstance(caught.value, ReplayedAnswer)
    assert str(caught.value) == (
        "one-time password rejected: it does not answer the challenge 'otp-md5 498 gwk3x9'; "
        "compute the answer for that challenge and send it again"
    )


def test_verify_rejects_future_answer() -> None:
    state = initial_state(OTPKEY, "gwk3x9", 499)
    skipped = answer_challenge(Challenge("md5", 497, "gwk3x9"), OTPKEY)
    with pytest.raises(OtpRejected, match="does not answer the challenge 'otp-md5 498 gwk3x9'"):
        verify(state, format_hex(skipped))


def test_verify_rejects_unparsable_answer() -> None:
    state = initial_state(OTPKEY, "gwk3x9", 499)
    with pytest.raises(InvalidAnswer):
        verify(state, "not an answer")


def test_verify_last_sequence_then_exhausted() -> None:
    state = initial_state(OTPKEY, "gwk3x9", 1)
    answer = answer_challenge(current_challenge(state), OTPKEY)
    after = verify(state, format_hex(answer))
    assert after.sequence == 0
    with pytest.raises(SequenceExhausted, match="issue a new OTPKEY"):
        current_challenge(after)
    with pytest.raises(SequenceExhausted):
        verify(after, format_hex(answer))


def test_verifier_state_validates_fields() -> None:
    password = bytes(8)
    with pytest.raises(InvalidSeed, match="store seeds in lower case"):
        VerifierState("md5", "GWK3X9", 499, password)
    with pytest.raises(OtpError, match="unsupported OTP algorithm"):
        VerifierState("sha256", "gwk3x9", 499, password)
    with pytest.raises(OtpError, match="between 0 and 9999"):
        VerifierState("md5", "gwk3x9", -1, password)
    with pytest.raises(OtpError, match="8 bytes, got 16"):
        VerifierState("md5", "gwk3x9", 499, bytes(16))


# RFC 2243 re-initialisation through the verifier ---------------------------


@pytest.mark.parametrize("response", [RFC_2243_INIT_HEX, RFC_2243_INIT_WORD], ids=["init-hex", "init-word"])
def test_verify_rfc_2243_reinitialisation(response: str) -> None:
    state = rfc_2243_state()
    assert str(current_challenge(state)) == "otp-md5 499 ke1234"
    after = verify(state, response)
    assert after == VerifierState("md5", "ke1235", 499, RFC_2243_NEW)
    assert str(current_challenge(after)) == "otp-md5 498 ke1235"


def test_verify_reinitialisation_then_next_answer() -> None:
    after = verify(rfc_2243_state(), RFC_2243_INIT_HEX)
    answer = compute_otp("md5", RFC_2243_PASS_PHRASE, "ke1235", 498)
    assert verify(after, format_words(answer)).sequence == 498


def test_verify_reinitialisation_new_algorithm() -> None:
    new_password = compute_otp("sha1", "a new pass phrase", "fresh1", 99)
    response = f"init-hex:{RFC_2243_CURRENT.hex()}:sha1 99 Fresh1:{new_password.hex()}"
    after = verify(rfc_2243_state(), response)
    assert after == VerifierState("sha1", "fresh1", 99, new_password)


def test_verify_reinitialisation_rejects_same_seed() -> None:
    response = f"init-hex:{RFC_2243_CURRENT.hex()}:md5 499 KE1234:{RFC_2243_NEW.hex()}"
    with pytest.raises(InvalidReinitialization) as caught:
        verify(rfc_2243_state(), response)
    assert str(caught.value) == (
        "invalid re-initialisation: the new seed 'ke1234' equals the current seed; choose a different seed"
    )


def test_verify_reinitialisation_rejects_wrong_current() -> None:
    wrong = compute_otp("md5", "another pass phrase", "ke1234", 499)
    response = f"init-hex:{wrong.hex()}:md5 499 ke1235:{RFC_2243_NEW.hex()}"
    with pytest.raises(OtpRejected, match="does not answer the challenge 'otp-md5 499 ke1234'"):
        verify(rfc_2243_state(), response)

"""Prometheus metrics for the pipeline, delivery and HTTP side.

Counters live in one registry per process; ``/metrics`` serves it.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

REGISTRY = CollectorRegistry(auto_describe=True)

MESSAGES_RECEIVED = Counter(
    "imip_gateway_messages_received", "Messages accepted by the SMTP listener or the IMAP poller",
    ["source"], registry=REGISTRY,
)
MESSAGES_RELAYED = Counter(
    "imip_gateway_messages_relayed", "Mails queued for the smarthost by the pipeline", ["kind"], registry=REGISTRY,
)
MESSAGES_QUARANTINED = Counter(
    "imip_gateway_messages_quarantined", "Messages put in quarantine", registry=REGISTRY,
)
INVITATIONS = Counter(
    "imip_gateway_invitations", "Invitations by outcome (sent, held, refreshed)", ["outcome"], registry=REGISTRY,
)
ACTIVATIONS = Counter(
    "imip_gateway_activations", "Dynamic UPNs activated, by method", ["method"], registry=REGISTRY,
)
DELIVERY_RETRIES = Counter(
    "imip_gateway_delivery_retries", "Delivery attempts deferred for a later retry", registry=REGISTRY,
)
DELIVERY_FAILURES = Counter(
    "imip_gateway_delivery_failures", "Recipients given up on (a DSN was sent when possible)", registry=REGISTRY,
)
QUEUE_DEPTH = Gauge("imip_gateway_queue_depth", "Mails waiting in the outbox", registry=REGISTRY)
QUEUE_OLDEST_AGE = Gauge(
    "imip_gateway_queue_oldest_age_seconds", "Age of the oldest mail in the outbox", registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "imip_gateway_auth_failures", "Failed authentication attempts at the HTTP side", ["endpoint"], registry=REGISTRY,
)
AUTH_LOCKOUTS = Counter(
    "imip_gateway_auth_lockouts", "Lock-outs started by repeated failed logins, by scope (upn, client)", ["scope"],
    registry=REGISTRY,
)

"""Prometheus metrics of the bridge (one registry per process, exposed on /metrics).

Labels never carry identities: worlds, kinds, outcomes and states only.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

EVENTS = Counter(
    "spico_bridge_events", "SPICO events journaled, by type", ["type"], registry=REGISTRY
)
DELIVERIES = Counter(
    "spico_bridge_deliveries",
    "Delivery attempts by world, kind and outcome (done, retry, failed)",
    ["world", "kind", "outcome"],
    registry=REGISTRY,
)
OUTBOX = Gauge(
    "spico_bridge_outbox_deliveries",
    "Deliveries in the outbox still to do (pending, sending) or given up (failed); done ones "
    "are counted by spico_bridge_deliveries_total{outcome}",
    ["state"],
    registry=REGISTRY,
)
RELAY_LATENCY = Histogram(
    "spico_bridge_relay_latency_seconds",
    "From the SPICO event to its delivery, by world",
    ["world"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
INBOUND = Counter(
    "spico_bridge_inbound_posts",
    "Messages from the worlds posted to SPICO, by world and outcome",
    ["world", "outcome"],
    registry=REGISTRY,
)
CONNECTED = Gauge(
    "spico_bridge_connected",
    "1 when the connection to a world (spico, matrix, mail_imap, mail_smtp) is up",
    ["world"],
    registry=REGISTRY,
)
#: Also read by the bench (``bench.matrix``): one name for both.
APPSERVICE_TRANSACTIONS_NAME = "spico_bridge_appservice_transactions"
APPSERVICE_TRANSACTIONS = Counter(
    APPSERVICE_TRANSACTIONS_NAME,
    "Transactions the homeserver pushed (appservice mode), by what they held: events (journaled), "
    "replay (an id seen before), own_echoes (only the bridge's own events, nothing kept), "
    "nothing (no event the bridge keeps)",
    ["held"],
    registry=REGISTRY,
)
READY = Gauge("spico_bridge_ready", "1 when every part of the bridge is ready", registry=REGISTRY)

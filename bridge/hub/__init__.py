"""The hub: SPICO is the source of truth; this package journals its events, fans them out to
the worlds through the outbox, and posts what the worlds send back to SPICO."""

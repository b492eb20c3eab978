"""SPICO world: API contract, client, event consumer and the sandbox server."""

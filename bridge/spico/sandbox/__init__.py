"""The SPICO sandbox: a real HTTP server implementing the contract on its own SQLite file."""

"""Errors every layer shares (no imports: the worlds, the hub and the SPICO client use them)."""

from __future__ import annotations


class ServiceUnavailable(Exception):
    """A server the bridge depends on (SPICO, a homeserver, a mail server) did not answer:
    whatever was being done is tried again later, however long the outage; never given up."""


class TooLarge(Exception):
    """A file over a cap (``limit`` bytes): it stays where it is (SPICO, the homeserver, the
    mail) and is never held in memory whole; the world that refused it says so."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"over {limit} bytes")
        self.limit = limit

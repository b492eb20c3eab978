"""Errors every layer shares (no imports: the worlds, the hub and the SPICO client use them)."""

from __future__ import annotations


class ServiceUnavailable(Exception):
    """A server the bridge depends on (SPICO, a homeserver, a mail server) did not answer:
    whatever was being done is tried again later, however long the outage; never given up."""

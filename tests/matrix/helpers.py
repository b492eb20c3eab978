"""What the Matrix command tests read in the bot's answers (the unit tests with fakes and the
scenarios against Synapse alike)."""

from __future__ import annotations

import re


def numbered(text: str, needle: str) -> int:
    """The number of the list line that contains ``needle``."""
    for line in text.splitlines():
        match = re.match(r"^(\d+)\. ", line)
        if match and needle in line:
            return int(match.group(1))
    raise AssertionError(f"{needle!r} not in the list:\n{text}")

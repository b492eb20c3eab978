"""How the bot speaks in a room: notices, with deterministic transaction ids (a retried batch
or a restart never posts twice)."""

from __future__ import annotations

import hashlib

from bridge.matrix.client import MatrixClient
from bridge.matrix.formatting import notice_content


def txn(kind: str, event_id: str) -> str:
    """A deterministic transaction id for what the bridge says about an event."""
    return f"{kind}-{hashlib.sha256(event_id.encode()).hexdigest()[:40]}"


async def say(client: MatrixClient, room_id: str, txn_id: str, text: str) -> None:
    """A notice that answers no event (welcome, replies sent to the management room)."""
    await client.send("notice", room_id, notice_content(text), txn_id)


async def notice(
    client: MatrixClient, room_id: str, event_id: str, text: str, txn_id: str | None = None
) -> None:
    """A notice in reply to ``event_id`` (Megolm-encrypted in an encrypted room)."""
    content = notice_content(text)
    content["m.relates_to"] = {"m.in_reply_to": {"event_id": event_id}}
    await client.send("notice", room_id, content, txn_id or txn("notice", event_id))

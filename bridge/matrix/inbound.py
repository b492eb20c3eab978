"""Matrix → SPICO decisions (pure): what a room event asks the bridge to do.

The sync loop hands raw events (the dicts the homeserver sent) to ``classify`` and the
sender's mapping to ``verdict``; only then does it do I/O (post to SPICO, notice, kick).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

FILE_MSGTYPES = frozenset({"m.file", "m.image", "m.audio", "m.video"})
TEXT_MSGTYPES = frozenset({"m.text", "m.emote"})


@dataclass(frozen=True, slots=True)
class Ignore:
    """Nothing to do (the bot's own events, other bots' notices, unrelated state)."""


@dataclass(frozen=True, slots=True)
class CheckMember:
    """A user is (being) in the room: kick them unless the conversation has them."""

    user_id: str


@dataclass(frozen=True, slots=True)
class Relay:
    """A message to post to SPICO (text, or a file to download first)."""

    sender: str
    body: str
    file_url: str | None = None
    filename: str | None = None
    content_type: str | None = None
    #: The size the sender's client declared (``info.size``): a first check only, the download
    #: itself is capped.
    file_size: int | None = None
    #: An encrypted room's file (EncryptedFile): its AES key (JWK ``k``), IV and SHA-256.
    file_key: str | None = None
    file_iv: str | None = None
    file_sha256: str | None = None


@dataclass(frozen=True, slots=True)
class Command:
    """A bridge command (``!spico members``…): answered in the room, never relayed."""

    sender: str
    name: str
    args: tuple[str, ...] = ()
    #: The command line as typed after the prefix (quotes, free text after ``--``).
    text: str = field(default="", compare=False)


@dataclass(frozen=True, slots=True)
class Refuse:
    """A notice in the room saying what was not carried (``reason`` names a ``notice_…`` text)."""

    sender: str
    reason: str


Action = Ignore | CheckMember | Relay | Command | Refuse


def classify(event: Mapping[str, Any], bot_user_id: str, command_prefix: str = "!spico") -> Action:
    kind = event.get("type")
    sender = str(event.get("sender") or "")
    content = event.get("content") or {}
    if kind == "m.room.member":
        user = str(event.get("state_key") or "")
        if user and user != bot_user_id and content.get("membership") in ("invite", "join"):
            return CheckMember(user)
        return Ignore()
    if sender == bot_user_id or not sender:
        return Ignore()
    if kind == "m.room.redaction":
        return Refuse(sender, "redaction")
    if kind == "m.room.encrypted":
        # Still encrypted after the sync: the bridge has no key for it (decrypted events
        # arrive as m.room.message).
        return Refuse(sender, "undecryptable")
    if kind != "m.room.message":
        return Ignore()
    relation = content.get("m.relates_to") or {}
    if relation.get("rel_type") == "m.replace":
        return Refuse(sender, "edit")
    msgtype = content.get("msgtype")
    body = str(content.get("body") or "")
    if msgtype in TEXT_MSGTYPES:
        if not body.strip():
            return Ignore()
        words = body.split()
        if msgtype == "m.text" and words[0] == command_prefix:
            line = body.strip()[len(command_prefix) :].strip()
            return Command(sender, (words[1:2] or ["help"])[0].lower(), tuple(words[2:]), line)
        return Relay(sender, body)
    if msgtype in FILE_MSGTYPES and (where := _file_source(content)) is not None:
        info = content.get("info") or {}
        return Relay(
            sender,
            "",
            filename=str(content.get("filename") or body or "fichier"),
            content_type=str(info.get("mimetype") or "application/octet-stream"),
            file_size=_declared_size(info),
            **where,
        )
    if msgtype == "m.notice":
        return Ignore()  # other bots: never relayed, never answered (no notice loops)
    return Refuse(sender, "unsupported")


def _file_source(content: Mapping[str, Any]) -> dict[str, str] | None:
    """Where a file message's bytes are: its ``url``, or an encrypted file's url with the key,
    IV and hash to decrypt and check it (all four, else None: the file cannot be read)."""
    if content.get("url"):
        return {"file_url": str(content["url"])}
    encrypted = content.get("file")
    if not isinstance(encrypted, Mapping):
        return None
    key = (encrypted.get("key") or {}).get("k")
    sha256 = (encrypted.get("hashes") or {}).get("sha256")
    if not (encrypted.get("url") and key and sha256 and encrypted.get("iv")):
        return None
    return {
        "file_url": str(encrypted["url"]),
        "file_key": str(key),
        "file_iv": str(encrypted["iv"]),
        "file_sha256": str(sha256),
    }


def _declared_size(info: Mapping[str, Any]) -> int | None:
    size = info.get("size")
    return size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None


def verdict(
    sender: str,
    members: tuple[str, ...] | list[str],
    spico_id_of: Mapping[str, str],
) -> tuple[str, str | None]:
    """("ok", idNat) for a mapped member of the conversation, else ("unmapped"|"not_member",
    None)."""
    spico_id = spico_id_of.get(sender)
    if spico_id is None:
        return "unmapped", None
    if spico_id not in members:
        return "not_member", None
    return "ok", spico_id

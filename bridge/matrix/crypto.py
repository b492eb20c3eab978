"""End-to-end encryption for the relay bot (``matrix.encryption: true``), on matrix-nio's e2e.

What lives here:

* **The key store**: nio's ``SqliteStore`` (Olm account, Olm and Megolm sessions, known devices)
  in ``matrix.crypto_store`` (default ``<state_dir>/matrix-crypto``, mode 0700), one file per
  bot user and device. Its secrets are pickled encrypted with a passphrase:
  ``matrix.crypto_pickle_key_file`` / ``_env`` when given (keep it off the disk holding the
  store: a systemd credential, another volume), otherwise a random 32-byte key generated once
  into ``<crypto_store>/pickle-key`` (0600). The generated key only guards against a copy of the
  database file alone; it is never derived from the bot's password or token, which may change
  (a changed pickle key makes the store unreadable).
* **One owner per device**: two processes using the same bot device would each ratchet their
  own copy of the Olm/Megolm sessions and break them for good. :class:`CryptoGuard` takes an
  exclusive ``flock`` on the store directory (same machine, any database) and, on PostgreSQL, a
  session advisory lock keyed on the bot and device (processes on other machines sharing the
  database); a process that cannot take both refuses to run the Matrix side.
* **Room state for nio**: nio encrypts only for rooms in ``AsyncClient.rooms`` and shares the
  Megolm session with the members it knows of. The bridge's sync is filtered (lazy-loaded
  members), and the sink sends into rooms it has just created, so before each send the room's
  full state (``/state``: encryption, joined and invited members) is fed to nio
  (:func:`feed_room_state`).

Devices are not verified: the bot trusts the homeserver's device list (``ignore_unverified_
devices``), as mautrix bridges do by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from nio import AsyncClient, Event, MatrixRoom, RoomEncryptionEvent, RoomMemberEvent
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bridge.core.delivery import RetryLater
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

PICKLE_KEY_FILE = "pickle-key"
LOCK_FILE = "lock"


class CryptoStoreBusy(RetryLater):
    """Another process owns the bot's encryption device: this one must not touch it."""


def prepare_store_dir(path: Path) -> Path:
    """Create the key store directory (0700) if needed; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    with contextlib.suppress(OSError):
        path.chmod(0o700)
    return path


def pickle_passphrase(store_dir: Path, configured: str | None) -> str:
    """The passphrase encrypting the store: the configured secret, else a random key kept in
    ``<store_dir>/pickle-key`` (made once, 0600, never overwritten)."""
    if configured:
        return configured
    path = store_dir / PICKLE_KEY_FILE
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(secrets.token_urlsafe(32) + "\n")
        log.info("matrix: generated the key store's pickle key in %s", path)
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise RuntimeError(f"{path} is empty: restore it or remove the whole crypto store")
    return key


def advisory_key(user_id: str, device_id: str) -> int:
    """A PostgreSQL advisory lock key (signed 64 bits) for one bot device."""
    digest = hashlib.sha256(f"spico-bridge:matrix-e2e:{user_id}:{device_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class CryptoGuard:
    """Exclusive use of the bot's encryption device by this process (see the module doc)."""

    def __init__(self, store_dir: Path, store: Store | None, user_id: str, device_id: str) -> None:
        self._dir = store_dir
        self._store = store
        self._key = advisory_key(user_id, device_id)
        self._file: IO[str] | None = None
        self._connection: AsyncConnection | None = None
        self._lock = asyncio.Lock()

    @property
    def held(self) -> bool:
        return self._file is not None

    async def acquire(self) -> None:
        """Take both locks (idempotent); raise :class:`CryptoStoreBusy` when another has them."""
        async with self._lock:
            if self._file is not None:
                return
            prepare_store_dir(self._dir)
            file = (self._dir / LOCK_FILE).open("a+", encoding="ascii")
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                file.close()
                raise CryptoStoreBusy(
                    f"another process uses the Matrix crypto store {self._dir}"
                ) from None
            try:
                await self._database_lock()
            except BaseException:
                file.close()  # also lets the flock go
                raise
            self._file = file

    async def _database_lock(self) -> None:
        store = self._store
        if store is None or store.dialect != "postgresql":
            return
        connection = await store.engine.connect()
        try:
            got = await connection.scalar(select(func.pg_try_advisory_lock(self._key)))
            await connection.commit()
        except BaseException:
            await connection.close()
            raise
        if not got:
            await connection.close()
            raise CryptoStoreBusy(
                "another bridge process on this database runs the Matrix side with encryption "
                "(same bot device)"
            )
        self._connection = connection

    async def release(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            try:
                with contextlib.suppress(Exception):
                    await connection.execute(select(func.pg_advisory_unlock(self._key)))
                    await connection.commit()
            finally:
                await connection.close()
        file, self._file = self._file, None
        if file is not None:
            file.close()


def feed_room_state(nio: AsyncClient, room_id: str, events: Iterable[Mapping[str, Any]]) -> bool:
    """Make nio's view of a room match its full state (``/state``); True when it is encrypted.

    Joined and invited members are both kept (history is visible from the invitation, so an
    invited member gets the keys of what is sent before they join). A change of members drops
    the current outbound Megolm session (nio shares a new one with everyone at the next send);
    the members' devices are queued for a key query."""
    room = nio.rooms.get(room_id)
    if room is None:
        room = MatrixRoom(room_id, nio.user_id, room_id in nio.encrypted_rooms)
        nio.rooms[room_id] = room
    present: set[str] = set()
    changed = False
    for raw in events:
        kind = raw.get("type")
        if kind not in ("m.room.member", "m.room.encryption") or "state_key" not in raw:
            continue
        event = Event.parse_event(dict(raw))
        if isinstance(event, RoomMemberEvent):
            if event.membership in ("join", "invite"):
                present.add(event.state_key)
            changed |= bool(room.handle_membership(event))
        elif isinstance(event, RoomEncryptionEvent):
            room.handle_event(event)
    for user_id in list(room.users):
        if user_id not in present:
            changed |= bool(room.remove_member(user_id))
    room.members_synced = True
    if room.encrypted:
        if room_id not in nio.encrypted_rooms:
            nio.encrypted_rooms.add(room_id)
            if nio.store is not None:
                nio.store.save_encrypted_rooms({room_id})
        if nio.olm is not None:
            if changed:
                nio.invalidate_outbound_session(room_id)
            nio.olm.update_tracked_users(room)
    return bool(room.encrypted)

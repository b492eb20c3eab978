"""The appservice's HTTP side (aiohttp): the homeserver pushes transactions here.

"Durable before acknowledged", as for the SPICO feed: a transaction's events are journaled
(``matrix_as_transactions``) before the 200 goes back, so a bridge killed in between is simply
sent the transaction again; a replayed transaction id is acknowledged without being journaled
twice. Handling happens after, from the journal (``TransactionWorker``). The homeserver proves
itself with ``hs_token`` (``Authorization: Bearer``, or the older ``access_token`` query
parameter); anything else is refused before the body is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from bridge.core.waiting import wait_any
from bridge.metrics import APPSERVICE_TRANSACTIONS
from bridge.store import matrix as matrix_repo
from bridge.store.repositories import Store

log = logging.getLogger(__name__)

#: The largest transaction body accepted (Synapse sends at most 100 events and 100 ephemeral).
MAX_BODY_BYTES = 64 * 1024 * 1024


def _error(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"errcode": code, "error": message}, status=status)


def presented_token(request: web.Request) -> str | None:
    """The token the caller presents: the Authorization header, else ``access_token``."""
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[len("Bearer ") :].strip()
    return request.query.get("access_token")


#: Where a transaction carries its ephemeral events (stable, then MSC2409's unstable name).
EPHEMERAL_KEYS = ("ephemeral", "de.sorunome.msc2409.ephemeral")


def receipts_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The read receipts among a transaction's ephemeral events (typing and presence are not
    kept): journaled with its events, handled in their room (missed-message mails)."""
    for key in EPHEMERAL_KEYS:
        ephemeral = body.get(key)
        if isinstance(ephemeral, list):
            return [
                e
                for e in ephemeral
                if isinstance(e, dict) and e.get("type") == "m.receipt" and e.get("room_id")
            ]
    return []


class TransactionListener:
    """Receives the homeserver's transactions and journals them; ``wake`` tells the worker."""

    def __init__(
        self,
        store: Store,
        hs_token: str,
        host: str,
        port: int,
        wake: asyncio.Event,
        *,
        hold_file: Path | None = None,
        needs_nothing: Callable[[dict[str, Any]], bool] = lambda _event: False,
    ) -> None:
        self._store = store
        #: The bridge's own echoes (its bot's and ghosts' messages): acknowledged, not journaled.
        self._needs_nothing = needs_nothing
        self._hs_token = hs_token
        self._host = host
        self._port = port
        self._wake = wake
        #: Tests only (``testing.appservice_hold_file``): while this file exists, a received
        #: transaction waits before being journaled (to kill the bridge right there).
        self._hold_file = hold_file
        self._runner: web.AppRunner | None = None

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[self._auth])
        for prefix in ("/_matrix/app/v1", ""):  # "" : the legacy paths older servers use
            app.router.add_put(prefix + "/transactions/{txn_id}", self._transaction)
            app.router.add_get(prefix + "/users/{user_id}", self._not_here)
            app.router.add_get(prefix + "/rooms/{alias}", self._not_here)
        app.router.add_post("/_matrix/app/v1/ping", self._ping)
        return app

    @web.middleware
    async def _auth(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        token = presented_token(request)
        if token is None:
            return _error(401, "M_UNAUTHORIZED", "missing hs_token")
        if not hmac.compare_digest(token.encode(), self._hs_token.encode()):
            log.warning("matrix appservice: a request with a wrong hs_token was refused")
            return _error(403, "M_FORBIDDEN", "wrong hs_token")
        return await handler(request)

    async def _ping(self, _request: web.Request) -> web.Response:
        return web.json_response({})

    async def _not_here(self, _request: web.Request) -> web.Response:
        """Ghosts and portals are made by the bridge when it needs them, never on a query."""
        return _error(404, "M_NOT_FOUND", "created by the bridge when needed")

    async def _transaction(self, request: web.Request) -> web.Response:
        txn_id = request.match_info["txn_id"]
        try:
            body = await request.json(loads=json.loads)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(400, "M_NOT_JSON", "the body is not JSON")
        events: Any = body.get("events") if isinstance(body, dict) else None
        if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
            return _error(400, "M_BAD_JSON", "events must be a list of objects")
        kept = [e for e in events if not self._needs_nothing(e)] + receipts_of(body)
        if not kept:  # only our own echoes, or nothing the bridge keeps: nothing to do
            APPSERVICE_TRANSACTIONS.labels("own_echoes" if events else "nothing").inc()
            return web.json_response({})
        await self._hold()
        # One unit of work; a failure: 500, the server sends the transaction again.
        new = await self._store.run(
            functools.partial(matrix_repo.journal_transaction, txn_id=txn_id, events=kept)
        )
        APPSERVICE_TRANSACTIONS.labels("events" if new else "replay").inc()
        if new:
            self._wake.set()
        else:
            log.info("matrix appservice: transaction replayed by the homeserver; handled once")
        return web.json_response({})

    async def _hold(self) -> None:
        if self._hold_file is None:
            return
        while self._hold_file.exists():
            log.info("matrix appservice: holding a transaction before journaling it (testing)")
            await asyncio.sleep(0.1)

    async def start(self) -> None:
        runner = web.AppRunner(self.app(), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._runner = runner
        log.info("matrix appservice: listening on %s:%d", self._host, self._port)

    async def close(self) -> None:
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
            self._runner = None


#: Retry pace of a transaction whose handling met an outage (SPICO, the homeserver).
WORKER_BACKOFF_SECONDS = (1.0, 30.0)


class TransactionWorker:
    """Handles journaled transactions in order; each is marked handled once its events are."""

    def __init__(
        self,
        store: Store,
        handle: Callable[[list[dict[str, Any]]], Awaitable[None]],
        wake: asyncio.Event,
    ) -> None:
        self._store = store
        self._handle = handle
        self._wake = wake
        self.idle = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        delay = WORKER_BACKOFF_SECONDS[0]
        while not stop.is_set():
            self._wake.clear()
            try:
                pending = await self._store.run(matrix_repo.pending_transactions, heavy=True)
                for row in pending:
                    if stop.is_set():
                        return
                    await self._handle(row.events)
                    await self._store.run(
                        functools.partial(matrix_repo.transaction_handled, seq=row.seq)
                    )
                delay = WORKER_BACKOFF_SECONDS[0]
            except asyncio.CancelledError:
                raise
            except Exception as error:  # offered again from the journal
                log.warning(
                    "matrix appservice: a transaction not handled yet (%s); retrying in %.0fs",
                    type(error).__name__,
                    delay,
                )
                await wait_any(stop, within=delay)
                delay = min(delay * 2, WORKER_BACKOFF_SECONDS[1])
                continue
            if pending:
                continue  # more may be waiting
            self.idle.set()
            await wait_any(self._wake, stop)
            self.idle.clear()

"""Operations: health/readiness/metrics endpoint, systemd watchdog, audit purge, log setup.

Logs are structured (``logging.format: json``) and pass through a redaction filter, a second
line of defence after the rule that no code logs bodies, patient identities or reply tokens.
``logging.level: DEBUG`` is the bridge's own debug output: libraries never log below INFO
(their DEBUG is wire traffic: aioimaplib logs every IMAP line, fetched mails included), and
those that put payloads in higher levels too are held at WARNING (:data:`QUIET_LOGGERS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import sdnotify
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import delete

from bridge.core.waiting import wait_any
from bridge.metrics import CONNECTED, OUTBOX, READY, REGISTRY
from bridge.store import repositories as repo
from bridge.store.models import AuditEntry, utcnow
from bridge.store.repositories import Store

log = logging.getLogger("bridge.ops")

#: How often the outbox gauge, SPICO reachability and readiness are refreshed.
PROBE_SECONDS = 5.0
PURGE_EVERY = timedelta(days=1)

# --- logging ------------------------------------------------------------------------------------

#: What must never reach a log line, whatever the code that logs it.
_REDACTIONS = (
    # Reply tokens in sub-addresses (bridge+TOKEN@domain) and bare tokens after "token=".
    (re.compile(r"(\+)[A-Za-z0-9_\-.=]{12,}(@)"), r"\1[token]\2"),
    # Reply tokens in References (<rt.TOKEN@domain>).
    (re.compile(r"(<rt\.)[A-Za-z0-9_\-=]{12,}(@)"), r"\1[token]\2"),
    (re.compile(r"(token[=:]\s*)[A-Za-z0-9_\-.=]{8,}", re.IGNORECASE), r"\1[token]"),
    # INS / NIR: 13 characters (Corsica 2A/2B) followed by a 2-digit key.
    (re.compile(r"\b[12478]\d{4}(?:\d{2}|2[AB])\d{6}\d{2}\b"), "[INS]"),
    # Bearer tokens.
    (re.compile(r"(Bearer\s+)\S+", re.IGNORECASE), r"\1[secret]"),
)


def redact(message: str) -> str:
    for pattern, replacement in _REDACTIONS:
        message = pattern.sub(replacement, message)
    return message


class RedactingFilter(logging.Filter):
    """Rewrites every record's message through :func:`redact` (arguments included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = redact(message), None
        if record.exc_info:
            # Exception texts can quote payloads: keep the type and where, not the values.
            exc_type = record.exc_info[0]
            record.msg += f" [{exc_type.__name__ if exc_type else 'exception'}]"
            record.exc_info, record.exc_text = None, None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
                "level": record.levelname,
                "logger": record.name,
                "message": record.getMessage(),
            },
            ensure_ascii=False,
        )


#: The bridge's own loggers (``bridge``, ``bridge.*``): the only ones allowed below INFO.
OWN_LOGGER = "bridge"
#: Third-party loggers held at WARNING whatever ``logging.level`` says: they log protocol
#: traffic or payloads (aioimaplib even at INFO: "unknown data received <line>"), SQL with its
#: parameters, or one line per request.
QUIET_LOGGERS = (
    "aioimaplib",
    "aiosmtplib",
    "imapclient",
    "nio",
    "peewee",
    "aiohttp.access",
    "aiohttp.client",
    "aiosqlite",
    "sqlalchemy",
    "alembic.runtime.migration",
)


class LibraryDebugFilter(logging.Filter):
    """Drops DEBUG records of every logger but the bridge's: libraries' debug output is wire
    level (requests, responses, fetched mails), whichever library a later change brings in."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.INFO:
            return True
        return record.name == OWN_LOGGER or record.name.startswith(OWN_LOGGER + ".")


def configure_logging(level: str, fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(LibraryDebugFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)
    for noisy in QUIET_LOGGERS:
        if logging.getLogger(noisy).getEffectiveLevel() < logging.WARNING:
            logging.getLogger(noisy).setLevel(logging.WARNING)


# --- audit retention ----------------------------------------------------------------------------


async def purge_audit(store: Store, retention_days: int) -> int:
    """Delete audit rows older than the retention; returns how many."""
    cutoff = utcnow() - timedelta(days=retention_days)
    async with store.transaction() as session:
        result = await session.execute(delete(AuditEntry).where(AuditEntry.at < cutoff))
    removed = int(result.rowcount or 0)
    log.info("audit purge: %d rows older than %d days removed", removed, retention_days)
    return removed


# --- health, readiness, metrics -----------------------------------------------------------------


class Health:
    """What /ready reports: each part's last known state, refreshed every few seconds."""

    def __init__(
        self,
        store: Store,
        spico_ping: Callable[[], Awaitable[bool]],
        worlds_ready: Callable[[], dict[str, bool]],
    ) -> None:
        self._store = store
        self._spico_ping = spico_ping
        self._worlds_ready = worlds_ready
        self.parts: dict[str, bool] = {"store": False, "spico": False}

    async def probe(self) -> dict[str, bool]:
        parts: dict[str, bool] = {}
        try:
            # One Core unit, not an ORM session: a few rows on the state index whatever the
            # outbox's history (done deliveries are never purged; their count is
            # ``spico_bridge_deliveries_total{outcome="done"}``).
            counts = await self._store.run(repo.live_delivery_counts)
            for state, count in counts.items():
                OUTBOX.labels(state).set(count)
            parts["store"] = True
        except Exception as exc:
            log.warning("readiness: store unreachable (%s)", type(exc).__name__)
            parts["store"] = False
        try:
            parts["spico"] = await asyncio.wait_for(self._spico_ping(), PROBE_SECONDS)
        except Exception:
            parts["spico"] = False
        CONNECTED.labels("spico").set(1 if parts["spico"] else 0)
        for world, up in self._worlds_ready().items():
            parts[world] = up
            CONNECTED.labels(world).set(1 if up else 0)
        self.parts = parts
        READY.set(1 if self.ready else 0)
        return parts

    @property
    def ready(self) -> bool:
        return all(self.parts.values())


def health_app(health: Health) -> web.Application:
    async def alive(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def ready(_: web.Request) -> web.Response:
        status = 200 if health.ready else 503
        return web.json_response({"ready": health.ready, "parts": health.parts}, status=status)

    async def metrics(_: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(REGISTRY))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    app = web.Application()
    app.router.add_get("/health", alive)
    app.router.add_get("/ready", ready)
    app.router.add_get("/metrics", metrics)
    return app


async def serve_health(health: Health, host: str, port: int) -> web.AppRunner | None:
    """Start the endpoint; a port already taken is logged, not fatal (relaying goes on)."""
    runner = web.AppRunner(health_app(health), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        log.error("health/metrics endpoint not started on %s:%d: %s", host, port, exc.strerror)
        await runner.cleanup()
        return None
    log.info("health, readiness and metrics on http://%s:%d/", host, port)
    return runner


async def run_probes(
    health: Health, store: Store, retention_days: int, stop: asyncio.Event
) -> None:
    """Refresh readiness, feed the systemd watchdog, purge the audit trail once a day."""
    notifier = sdnotify.SystemdNotifier()
    watchdog_usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
    ping_every = min(PROBE_SECONDS, watchdog_usec / 2e6) if watchdog_usec else PROBE_SECONDS
    next_purge = time.monotonic()
    while not stop.is_set():
        with contextlib.suppress(Exception):
            await health.probe()
        if watchdog_usec and health.parts.get("store"):
            notifier.notify("WATCHDOG=1")
        if time.monotonic() >= next_purge:
            with contextlib.suppress(Exception):
                await purge_audit(store, retention_days)
            next_purge = time.monotonic() + PURGE_EVERY.total_seconds()
        await wait_any(stop, within=ping_every)

"""Wiring and lifecycle: build the hub and the worlds from the config, run until told to stop.

``SIGTERM``/``SIGINT`` stop the daemon cleanly: the event consumer stops polling (a batch being
committed is finished), workers finish the delivery in hand, anything still claimed is released
to pending, and the next start resumes from the stored cursors.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib
import logging
import signal
from collections.abc import Awaitable, Callable, Mapping

import sdnotify

from bridge import ops
from bridge.config import BridgeConfig, ConfigError, load_config
from bridge.core.delivery import InboundPoster, RetryPolicy, Sink, WorldAdapter
from bridge.core.model import Participant, RoutingPolicy, World
from bridge.core.waiting import wait_any
from bridge.hub.fanout import FanOut
from bridge.hub.inbound import NoticePoster, SpicoPoster
from bridge.hub.outbox import OutboxWorkers
from bridge.hub.participants import configured_participants
from bridge.hub.recording import RecordingSink
from bridge.spico.client import DEFAULT_MAX_DOWNLOAD_BYTES, SpicoClient
from bridge.spico.consumer import EventConsumer
from bridge.store.liveness import SourceLock
from bridge.store.repositories import Store
from bridge.tls import client_context

log = logging.getLogger("bridge")

#: How long in-flight deliveries may take to finish on stop before they are cancelled.
SHUTDOWN_GRACE_SECONDS = 10.0


def configure_logging(config: BridgeConfig) -> None:
    ops.configure_logging(config.logging.level, config.logging.format)


#: Where each world's ``build_world(config, store, post, configured) -> WorldAdapter`` lives.
WORLD_FACTORIES = {World.MATRIX: "bridge.matrix.world", World.MAIL: "bridge.mail.world"}


def recording_sinks(config: BridgeConfig) -> dict[World, Sink]:
    """Tests and benchmarks: a recording sink stands in for the worlds' adapters."""
    testing = config.testing
    if testing is None or testing.recording_sink is None:
        return {}
    return {
        World(world): RecordingSink(
            World(world),
            testing.recording_sink,
            failure_rate=testing.failure_rate,
            fail_permanently=testing.fail_permanently,
        )
        for world in testing.worlds
    }


def build_worlds(
    config: BridgeConfig,
    store: Store,
    post: InboundPoster,
    configured: Mapping[str, Participant],
) -> list[WorldAdapter]:
    """The adapters of the worlds enabled in the config."""
    adapters = []
    for world, section in ((World.MATRIX, config.matrix), (World.MAIL, config.mail)):
        if not section.enabled:
            continue
        try:
            module = importlib.import_module(WORLD_FACTORIES[world])
        except ModuleNotFoundError:
            log.warning(
                "the %s world is enabled but this version has no %s adapter: nothing is "
                "delivered there",
                world.value,
                world.value,
            )
            continue
        adapters.append(module.build_world(config, store, post, configured))
    return adapters


class Bridge:
    """The running daemon: one store, one SPICO client, the hub's tasks and the worlds'."""

    def __init__(self, config: BridgeConfig, store: Store, client: SpicoClient) -> None:
        self.config = config
        self.store = store
        self.client = client
        self.reload_requested = asyncio.Event()
        configured = configured_participants(config.participants)
        self.poster = SpicoPoster(store, client)
        sinks = recording_sinks(config)
        self.worlds = [] if sinks else build_worlds(config, store, self.poster, configured)
        sinks.update({adapter.world: adapter.sink for adapter in self.worlds})
        delivery = config.delivery
        self.notices = NoticePoster(store, client)
        self._locks = {a.world.value: SourceLock(store, a.world.value) for a in self.worlds}
        self.workers = OutboxWorkers(
            store,
            sinks,
            configured,
            RetryPolicy(
                delivery.backoff_initial_seconds,
                delivery.backoff_max_seconds,
                delivery.max_attempts,
            ),
            workers=delivery.workers,
            on_notice_queued=self.notices.wake,
        )
        self.fanout = FanOut(
            store,
            client,
            configured,
            RoutingPolicy(frozenset(sinks)),
            on_enqueued=self.workers.wake,
            hand_off=self.workers.hand_off,
        )
        self.consumer = EventConsumer(
            client,
            self.fanout.load_cursor,
            self.fanout.handle_batch,
            wait=config.spico.poll_wait_seconds,
        )

    def _worlds_ready(self) -> dict[str, bool]:
        """A world is ready when connected, or standing by while another process reads it."""
        return {
            a.world.value: self._locks[a.world.value].standing_by or a.ready for a in self.worlds
        }

    async def _reload_on_request(self, stop: asyncio.Event) -> None:
        """SIGHUP: re-read the config; apply what can change live, keep the rest as it was."""
        while True:
            await self.reload_requested.wait()
            self.reload_requested.clear()
            if stop.is_set():
                return
            await self.reload()

    async def reload(self) -> bool:
        """Re-read the config file; the hub and every world apply it at once (a world's own
        trouble is logged by type and does not keep the others from reloading)."""
        source = self.config.source
        if source is None:
            return False
        try:
            fresh = load_config(source)
        except ConfigError as error:
            for problem in error.problems:
                log.error("reload refused, keeping the running config: %s", problem)
            return False
        configure_logging(fresh)
        configured = configured_participants(fresh.participants)
        self.fanout.set_participants(configured)
        self.workers.set_participants(configured)
        for adapter in self.worlds:
            try:
                await adapter.reload(fresh, configured)
            except Exception as error:
                log.error(
                    "%s world: reload failed (%s); it keeps running",
                    adapter.world.value,
                    type(error).__name__,
                )
        self.config = fresh
        log.info("configuration reloaded from %s", source)
        return True

    async def run(self, stop: asyncio.Event) -> None:
        if self.config.spico.bridge_existing == "new":
            await _until_done_or_stopped(self.fanout.start_at_head, stop)
        else:
            await _until_done_or_stopped(self.fanout.start_with_history, stop)
        for adapter in self.worlds:
            await adapter.start(stop)
        if stop.is_set():  # stopped during start-up, or a world refused to run
            for adapter in self.worlds:
                with contextlib.suppress(Exception):
                    await adapter.close()
            return
        workers = asyncio.create_task(self.workers.run(stop), name="outbox")
        # Every process delivers (the outbox is shared); each source is read by one process.
        consumer = asyncio.create_task(
            SourceLock(self.store, "spico").hold(stop, functools.partial(self.consumer.run, stop)),
            name="spico-consumer",
        )
        notices = asyncio.create_task(self.notices.run(stop), name="notices")
        sources = [
            asyncio.create_task(
                self._locks[adapter.world.value].hold(stop, functools.partial(adapter.run, stop)),
                name=f"world-{adapter.world.value}",
            )
            for adapter in self.worlds
        ]
        health = ops.Health(self.store, self.client.health, self._worlds_ready)
        endpoint = await ops.serve_health(
            health, self.config.http.listen_host, self.config.http.listen_port
        )
        # systemd's READY=1 (and our "ready" line) only once every part answers.
        while not stop.is_set() and not all((await health.probe()).values()):
            await wait_any(stop, within=1.0)
        probes = asyncio.create_task(
            ops.run_probes(health, self.store, self.config.audit.retention_days, stop),
            name="probes",
        )
        reloads = asyncio.create_task(self._reload_on_request(stop), name="reload")
        log.info("spico-bridge ready")
        sdnotify.SystemdNotifier().notify("READY=1")
        await stop.wait()
        sdnotify.SystemdNotifier().notify("STOPPING=1")
        log.info("stopping: finishing in-flight work")
        self.reload_requested.set()  # wakes the reload task so that it sees the stop
        await asyncio.gather(consumer, notices, probes, reloads, *sources, return_exceptions=True)
        if endpoint is not None:
            await endpoint.cleanup()
        try:
            await asyncio.wait_for(workers, SHUTDOWN_GRACE_SECONDS)
        except TimeoutError:
            log.warning(
                "deliveries still in flight after %.0fs; released for the next start",
                SHUTDOWN_GRACE_SECONDS,
            )
        for adapter in self.worlds:
            with contextlib.suppress(Exception):
                await adapter.close()


async def _until_done_or_stopped(work: Callable[[], Awaitable[None]], stop: asyncio.Event) -> None:
    """Run start-up work, retrying while SPICO is unreachable, unless asked to stop."""
    delay = 1.0
    while not stop.is_set():
        try:
            await work()
            return
        except Exception as exc:
            log.warning("start-up: SPICO not reachable yet (%s); retrying", type(exc).__name__)
        await wait_any(stop, within=delay)
        delay = min(delay * 2, 30.0)


def dump_tasks() -> None:
    """SIGUSR1: log where every asyncio task is waiting (file and line only, no values)."""
    for task in asyncio.all_tasks():
        frames = task.get_stack(limit=12)
        where = " <- ".join(
            f"{f.f_code.co_filename.rsplit('/', 2)[-1]}:{f.f_lineno} {f.f_code.co_name}"
            for f in reversed(frames)
        )
        log.warning("task %s: %s", task.get_name(), where or "(not started)")


async def serve(
    config: BridgeConfig, stop: asyncio.Event | None = None, *, hangup_stops: bool = False
) -> int:
    """Run the bridge until ``stop`` is set (or SIGTERM/SIGINT when it is not given).

    SIGHUP reloads the config, as a daemon's SIGHUP does; with ``hangup_stops`` (the demo, run
    from a terminal) it stops the bridge instead: closing the terminal must stop the demo.

    Returns the exit status: 1 when a world refused to run (e.g. another process holds the
    Matrix encryption device), so that the service manager sees a failure, else 0."""
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGUSR1, dump_tasks)
    for warning in config.warnings:
        log.warning("config: %s", warning)
    store = await Store.open(config.database_url)
    client = spico_client_from(config)
    try:
        bridge = Bridge(config, store, client)
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(
                signal.SIGHUP, stop.set if hangup_stops else bridge.reload_requested.set
            )
        await bridge.run(stop)
        refusals = [a.refusal for a in bridge.worlds if a.refusal]
    finally:
        await client.close()
        await store.close()
        log.info("stopped")
    return 1 if refusals else 0


def spico_client_from(config: BridgeConfig) -> SpicoClient:
    """The SPICO client of the config: its CA (``spico.ca_file``) verifies SPICO's certificate,
    and no attachment larger than the largest cap of the enabled worlds is ever read."""
    spico = config.spico
    caps = [config.matrix.max_file_bytes] if config.matrix.enabled else []
    caps += [config.mail.max_attachment_bytes] if config.mail.enabled else []
    return SpicoClient(
        str(spico.base_url),
        spico.token.get(),
        timeout=spico.request_timeout_seconds,
        max_attempts=spico.max_attempts,
        ssl_context=client_context(spico.ca_file) if spico.ca_file else None,
        max_download_bytes=max(caps, default=DEFAULT_MAX_DOWNLOAD_BYTES),
    )


def run(config: BridgeConfig) -> int:
    """The ``spico-bridge run`` command."""
    configure_logging(config)
    return asyncio.run(serve(config))

"""The Matrix world as the app runs it: relay bot, portal sink, sync source.

A reload (SIGHUP) applies the new settings and participants at once; a member whose Matrix
account changed or was removed has every portal of their conversations reconciled right away
(the old account kicked, the new one invited), not at the conversation's next message.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from bridge.config import BridgeConfig
from bridge.core.delivery import DeliveryError, DeliveryJob, InboundPoster
from bridge.core.linking import with_links
from bridge.core.model import (
    DeliveryKind,
    Participant,
    World,
    matrix_users_by_spico_id,
)
from bridge.core.waiting import wait_any
from bridge.matrix.appservice.ghosts import Ghosts
from bridge.matrix.appservice.listener import TransactionListener, TransactionWorker
from bridge.matrix.appservice.ping import ping_homeserver
from bridge.matrix.client import DEVICE_ID, CryptoOptions, MatrixClient
from bridge.matrix.commands.executor import CommandSettings
from bridge.matrix.crypto import CryptoGuard, CryptoStoreBusy
from bridge.matrix.intent import RelaySpeakers, Speakers
from bridge.matrix.sink import MatrixSink, PortalSettings
from bridge.matrix.source import MatrixSource
from bridge.store import links as links_repo
from bridge.store import matrix as matrix_repo
from bridge.store import preferences
from bridge.store import repositories as repo
from bridge.store import unread as unread_repo
from bridge.store.notifications import StoreNotificationRequests
from bridge.store.repositories import Store
from bridge.tls import client_context

log = logging.getLogger(__name__)


def settings_from(config: BridgeConfig) -> PortalSettings:
    matrix = config.matrix
    assert matrix.bot_user_id and matrix.server_name  # guaranteed by validation when enabled
    return PortalSettings(
        bot_user_id=matrix.bot_user_id,
        server_name=matrix.server_name,
        federate=matrix.federate,
        encryption=matrix.encryption,
        patient_spaces=matrix.patient_spaces,
        tag_policy=config.policy.room_patient_tag,
        language=matrix.language,
        command_prefix=matrix.command_prefix,
        max_file_bytes=matrix.max_file_bytes,
        track_unread=missed_message_minutes(config) > 0,
    )


def missed_message_minutes(config: BridgeConfig) -> float:
    """``notifications.matrix_unread_minutes`` when missed-message mails can go (mail and
    notifications on; read receipts come with the bot's sync in relay mode, as ephemeral
    events pushed with the transactions in appservice mode), else 0."""
    notifications = config.notifications
    on = config.mail.enabled and notifications.enabled
    return notifications.matrix_unread_minutes if on else 0.0


def command_settings_from(config: BridgeConfig) -> CommandSettings:
    """What the ``!spico`` commands read of the config (language, prefix, mail notifications)."""
    return CommandSettings(
        language=config.matrix.language,
        prefix=config.matrix.command_prefix,
        bot_user_id=config.matrix.bot_user_id or "",
        mail_enabled=config.mail.enabled,
        notifications_enabled=config.notifications.enabled,
        notification_period_minutes=config.notifications.period_minutes,
        self_service=config.matrix.self_service.enabled and config.mail.enabled,
        allowed_servers=tuple(config.matrix.self_service.allowed_servers),
        server_name=config.matrix.server_name or "",
    )


def changed_members(before: Mapping[str, str], after: Mapping[str, str]) -> set[str]:
    """SPICO ids whose Matrix account was added, changed or removed between two
    {Matrix user: SPICO id} mappings (pure)."""
    old = matrix_users_by_spico_id(before)
    new = matrix_users_by_spico_id(after)
    return {spico for spico in old.keys() | new.keys() if old.get(spico) != new.get(spico)}


#: Retry pace of the reconciliation after a reload while the homeserver does not answer.
REMAP_RETRY_SECONDS = (1.0, 30.0)


class MatrixWorld:
    """A ``WorldAdapter``: ``sink`` for the outbox, ``run`` for the sync loop."""

    world = World.MATRIX

    def __init__(
        self,
        config: BridgeConfig,
        store: Store,
        post: InboundPoster,
        configured: Mapping[str, Participant],
    ) -> None:
        matrix = config.matrix
        appservice = matrix.appservice if matrix.mode == "appservice" else None
        credential = appservice.as_token if appservice else matrix.bot_credential
        assert matrix.homeserver and matrix.bot_user_id and credential is not None
        crypto = None
        if matrix.encryption:
            store_dir = matrix.crypto_store_dir(config.state_dir)
            pickle_key = matrix.crypto_pickle_key
            crypto = CryptoOptions(
                store_dir,
                pickle_key.get() if pickle_key is not None else None,
                CryptoGuard(store_dir, store, matrix.bot_user_id, DEVICE_ID),
            )
        self._crypto = crypto
        self.client = MatrixClient(
            matrix.homeserver,
            matrix.bot_user_id,
            credential.get(),
            uses_access_token=appservice is not None or matrix.uses_access_token,
            crypto=crypto,
            ssl_context=client_context(matrix.ca_file) if matrix.ca_file else None,
            appservice=appservice is not None,
        )
        settings = settings_from(config)
        self._configured = configured
        #: Self-service links {SPICO id: Matrix user}, read from the store (``_load_links``).
        self._links: dict[str, str] = {}
        speakers: Speakers = RelaySpeakers(self.client)
        #: Appservice mode: the transactions pushed by the homeserver, and their handling.
        self.listener: TransactionListener | None = None
        self.worker: TransactionWorker | None = None
        if appservice is not None:
            assert matrix.server_name
            speakers = Ghosts(self.client, appservice, matrix.server_name, matrix.language)
        self._mapping = with_links(configured, self._links)
        self._store = store
        self._bridge_existing = matrix.bridge_existing
        self.sink = MatrixSink(
            self.client,
            store,
            settings,
            post,
            lambda: matrix_users_by_spico_id(self._mapping),
            speakers,
        )
        self.source = MatrixSource(
            self.client,
            store,
            settings,
            post,
            lambda: self._mapping,
            command_settings_from(config),
            StoreNotificationRequests(store),
            speakers.is_own,
        )
        self.source.commands.links = _Links(self)
        self._notifications = StoreNotificationRequests(store)
        self._missed_settings(config)
        if appservice is not None:
            wake = asyncio.Event()
            testing = config.testing
            self.listener = TransactionListener(
                store,
                appservice.hs_token.get(),
                appservice.listen_host,
                appservice.listen_port,
                wake,
                hold_file=testing.appservice_hold_file if testing else None,
                needs_nothing=self.source.needs_nothing,
            )
            self.worker = TransactionWorker(store, self.source.handle_events, wake)
        self._listening = False
        #: Why this process refused to run the Matrix side (encryption device in use), if so.
        self.refusal: str | None = None
        #: SPICO ids whose portals still need their membership reconciled after a reload.
        self._remap_pending: set[str] = set()
        self._remap_task: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        """Ready once logged in and the first sync is recorded (appservice mode: listening)."""
        if self.listener is not None:
            return self.client.logged_in and self._listening
        return self.client.logged_in and self.source.synced.is_set()

    async def reload(self, config: BridgeConfig, configured: Mapping[str, Participant]) -> None:
        """SIGHUP: new participant mappings and room policy apply from now on, and the portals
        of every member whose Matrix account changed are reconciled at once (in a task that
        retries while the homeserver does not answer)."""
        self._configured = configured
        mapping = with_links(configured, self._links)
        changed = changed_members(self._mapping, mapping)
        self._mapping = mapping
        self._bridge_existing = config.matrix.bridge_existing
        settings = settings_from(config)
        self.sink.settings = settings
        self.source.settings = settings
        self.source.commands.settings = command_settings_from(config)
        self._missed_settings(config)
        if not changed:
            return
        log.info("matrix: %d mapping change(s); reconciling their portals", len(changed))
        self._reconcile_later(changed)

    def _missed_settings(self, config: BridgeConfig) -> None:
        self._unread_minutes = missed_message_minutes(config)
        self._notification_period = timedelta(minutes=config.notifications.period_minutes)

    def _reconcile_later(self, members: set[str]) -> None:
        self._remap_pending |= members
        if self._remap_task is None or self._remap_task.done():
            self._remap_task = asyncio.create_task(self._remap(), name="matrix-remap")

    async def _load_links(self) -> None:
        """Read the self-service links again; the mapping is the config's plus them."""
        async with self._store.transaction() as session:
            self._links = await links_repo.links(session)
        self._mapping = with_links(self._configured, self._links)

    async def link_changed(self, spico_id: str) -> int:
        """A link of ``spico_id`` was stored or removed: the mapping follows at once and so do
        their portals (threat-model §2); when the homeserver does not answer, the
        reconciliation goes on in the background. How many portals were reconciled now."""
        await self._load_links()
        try:
            return await self.reconcile_member(spico_id)
        except DeliveryError as error:
            log.warning(
                "matrix: portals of a new link not reconciled yet (%s)", type(error).__name__
            )
            self._reconcile_later({spico_id})
            return 0

    async def remapped(self) -> None:
        """Wait until the portals of the last reload are reconciled (tests, shutdown)."""
        task = self._remap_task
        if task is not None:
            await asyncio.wait({task})

    async def _remap(self) -> None:
        """Reconcile the portals of the pending members until none is left."""
        delay = REMAP_RETRY_SECONDS[0]
        while self._remap_pending:
            member = next(iter(self._remap_pending))
            try:
                await self.reconcile_member(member)
            except DeliveryError as error:
                log.warning(
                    "matrix: portals not reconciled yet (%s); retrying in %.0fs",
                    type(error).__name__,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, REMAP_RETRY_SECONDS[1])
                continue
            except Exception as error:  # a bug must not leave the task dead and silent
                log.error("matrix: portal reconciliation failed (%s)", type(error).__name__)
                await asyncio.sleep(REMAP_RETRY_SECONDS[1])
                continue
            self._remap_pending.discard(member)
            delay = REMAP_RETRY_SECONDS[0]

    async def reconcile_member(self, spico_id: str) -> int:
        """Bring every portal of ``spico_id``'s conversations in line with the current
        mapping; returns how many portals were reconciled."""
        await self.client.ensure_logged_in()
        async with self._store.transaction() as session:
            conversations = await repo.in_session(session, repo.conversations_with_member, spico_id)
            snapshots = await repo.in_session(session, repo.get_conversations, conversations)
            portals = {c: await matrix_repo.get_portal(session, c) for c in conversations}
        done = 0
        for conversation_id, portal in portals.items():
            snapshot = snapshots.get(conversation_id)
            if portal is None or snapshot is None:
                continue
            await self.sink.reconcile(self._state_job(snapshot), portal.room_id)
            done += 1
        return done

    async def start(self, stop: asyncio.Event) -> None:
        """Before anything runs, in every process (the sink sends too, not only the source):
        with encryption, take the bot device or refuse to run."""
        await self._load_links()
        if self._crypto is None:
            return
        try:
            await self._crypto.guard.acquire()
        except CryptoStoreBusy as busy:
            # Two processes on one bot device would corrupt its Olm/Megolm sessions.
            log.error("matrix: %s: refusing to run, stopping this bridge process", busy)
            self.refusal = str(busy)
            stop.set()

    async def run(self, stop: asyncio.Event) -> None:
        missed = asyncio.create_task(self._missed_messages(stop), name="matrix-missed")
        try:
            await self._run(stop)
        finally:
            missed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await missed

    async def _missed_messages(self, stop: asyncio.Event) -> None:
        """Members who follow in Matrix and have not read a message there within
        ``notifications.matrix_unread_minutes`` get one notification mail (through the same
        port and rate limit as ``prévenir``: once per conversation and period), unless they
        chose this conversation's mail themselves (stopped it, or follow it by mail)."""
        while not stop.is_set():
            minutes, period = self._unread_minutes, self._notification_period
            if minutes > 0:
                try:
                    await self._notify_missed(minutes, period)
                except Exception as error:  # the store or a bug: logged, tried again later
                    log.error("matrix: missed messages not checked (%s)", type(error).__name__)
            pause = min(30.0, max(1.0, minutes * 60 / 3)) if minutes > 0 else 30.0
            await wait_any(stop, within=pause)

    async def _notify_missed(self, minutes: float, period: timedelta) -> None:
        now = datetime.now(UTC)
        async with self._store.transaction() as session:
            due = await unread_repo.due(session, now - timedelta(minutes=minutes))
            choices = await repo.in_session(
                session, preferences.conversation_choices, {c for c, _, _ in due}
            )
        for conversation_id, member, first_seq in due:
            if (conversation_id, member) not in choices:
                await self._notifications.request_notification(
                    conversation_id,
                    member,
                    requested_by=member,
                    world=World.MATRIX.value,
                    period=period,
                    now=now,
                    since_seq=first_seq,
                )
            await self._store.run(
                functools.partial(
                    unread_repo.read, conversation_id=conversation_id, members=[member]
                )
            )

    async def _run(self, stop: asyncio.Event) -> None:
        if self.listener is not None and self.worker is not None:
            await self._run_appservice(stop)
            return
        if self._bridge_existing == "all":
            await self._portals_for_existing(stop)
        await self.source.run(stop)

    async def _run_appservice(self, stop: asyncio.Event) -> None:
        """Appservice mode: listen for the homeserver's transactions (the journal keeps what
        came while the bridge was down: the homeserver sends it again), handle them in order."""
        assert self.listener is not None and self.worker is not None
        while not stop.is_set():
            try:
                await self.client.ensure_logged_in()
                break
            except DeliveryError as error:
                log.warning("matrix: homeserver not reached yet (%s)", type(error).__name__)
                await wait_any(stop, within=5.0)
        await self.listener.start()
        self._listening = True
        # After a restart the homeserver may hold transactions on a long backoff: ask now.
        await ping_homeserver(self.client.nio)
        try:
            if self._bridge_existing == "all":
                await self._portals_for_existing(stop)
            await self.worker.run(stop)
        finally:
            self._listening = False
            await self.listener.close()

    async def _portals_for_existing(self, stop: asyncio.Event) -> None:
        """``matrix.bridge_existing: all``: conversations the bridge knew before Matrix was
        enabled get their portal too (the outbox only serves events from then on)."""
        while not stop.is_set():
            try:
                await self.client.ensure_logged_in()
                async with self._store.transaction() as session:
                    missing = await matrix_repo.conversations_without_portal(session)
                    snapshots = await repo.in_session(session, repo.get_conversations, missing)
                for conversation_id in missing:
                    snapshot = snapshots[conversation_id]
                    if stop.is_set():
                        return
                    await self.sink.deliver(self._state_job(snapshot))
                return
            except DeliveryError as error:
                log.warning(
                    "matrix: portals of existing conversations not made yet (%s); retrying",
                    type(error).__name__,
                )
                await wait_any(stop, within=5.0)

    def _state_job(self, snapshot: repo.ConversationSnapshot) -> DeliveryJob:
        by_member = matrix_users_by_spico_id(self._mapping)
        return DeliveryJob(
            delivery_id=0,
            world=World.MATRIX,
            destination=snapshot.id,
            kind=DeliveryKind.STATE,
            attempt=0,
            event_seq=snapshot.last_seq,
            event_type="conversation.updated",
            conversation_id=snapshot.id,
            conversation=snapshot.view(),
            participants={
                m: Participant(m, matrix_user=by_member.get(m)) for m in snapshot.members
            },
        )

    async def close(self) -> None:
        if self._remap_task is not None:
            self._remap_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._remap_task
        await self.client.close()


class _Links:
    """The executor's ``LinkPort`` over the Matrix world."""

    def __init__(self, world: MatrixWorld) -> None:
        self._world = world

    def configured(self) -> Mapping[str, Participant]:
        return self._world._configured

    async def changed(self, spico_id: str) -> int:
        return await self._world.link_changed(spico_id)


def build_world(
    config: BridgeConfig,
    store: Store,
    post: InboundPoster,
    configured: Mapping[str, Participant],
) -> MatrixWorld:
    return MatrixWorld(config, store, post, configured)

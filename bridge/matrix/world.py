"""The Matrix world as the app runs it: relay bot, portal sink, sync source."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping

from bridge.config import BridgeConfig
from bridge.core.delivery import DeliveryError, DeliveryJob, InboundPoster
from bridge.core.model import (
    DeliveryKind,
    Participant,
    World,
    matrix_users_by_spico_id,
    spico_ids_by_matrix_user,
)
from bridge.matrix.client import DEVICE_ID, CryptoOptions, MatrixClient
from bridge.matrix.commands.executor import CommandSettings
from bridge.matrix.crypto import CryptoGuard, CryptoStoreBusy
from bridge.matrix.sink import MatrixSink, PortalSettings
from bridge.matrix.source import MatrixSource
from bridge.store import matrix as matrix_repo
from bridge.store import repositories as repo
from bridge.store.repositories import Store

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
    )


def command_settings_from(config: BridgeConfig) -> CommandSettings:
    """What the ``!spico`` commands read of the config (language, prefix, mail notifications)."""
    return CommandSettings(
        language=config.matrix.language,
        prefix=config.matrix.command_prefix,
        bot_user_id=config.matrix.bot_user_id or "",
        mail_enabled=config.mail.enabled,
        notifications_enabled=config.notifications.enabled,
        notification_period_minutes=config.notifications.period_minutes,
    )


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
        credential = matrix.bot_credential
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
            uses_access_token=matrix.uses_access_token,
            crypto=crypto,
        )
        settings = settings_from(config)
        self._mapping = spico_ids_by_matrix_user(configured.values())
        self._store = store
        self._bridge_existing = matrix.bridge_existing
        self.sink = MatrixSink(
            self.client,
            store,
            settings,
            post,
            lambda: matrix_users_by_spico_id(self._mapping),
        )
        self.source = MatrixSource(
            self.client,
            store,
            settings,
            post,
            lambda: self._mapping,
            command_settings_from(config),
        )
        #: Why this process refused to run the Matrix side (encryption device in use), if so.
        self.refused: str | None = None

    @property
    def ready(self) -> bool:
        """Ready once logged in and the first sync is recorded."""
        return self.client.logged_in and self.source.synced.is_set()

    def reload(self, config: BridgeConfig) -> None:
        """SIGHUP: new participant mappings and room policy apply from now on."""
        self._mapping = spico_ids_by_matrix_user(config.participants)
        self._bridge_existing = config.matrix.bridge_existing
        settings = settings_from(config)
        self.sink.settings = settings
        self.source.settings = settings
        self.source.commands.settings = command_settings_from(config)

    async def start(self, stop: asyncio.Event) -> None:
        """Before anything runs, in every process (the sink sends too, not only the source):
        with encryption, take the bot device or refuse to run."""
        if self._crypto is None:
            return
        try:
            await self._crypto.guard.acquire()
        except CryptoStoreBusy as busy:
            # Two processes on one bot device would corrupt its Olm/Megolm sessions.
            log.error("matrix: %s: refusing to run, stopping this bridge process", busy)
            self.refused = str(busy)
            stop.set()

    async def run(self, stop: asyncio.Event) -> None:
        if self._bridge_existing == "all":
            await self._portals_for_existing(stop)
        await self.source.run(stop)

    async def _portals_for_existing(self, stop: asyncio.Event) -> None:
        """``matrix.bridge_existing: all``: conversations the bridge knew before Matrix was
        enabled get their portal too (the outbox only serves events from then on)."""
        while not stop.is_set():
            try:
                await self.client.ensure_logged_in()
                async with self._store.transaction() as session:
                    missing = await matrix_repo.conversations_without_portal(session)
                    snapshots = await repo.get_conversations(session, missing)
                for conversation_id in missing:
                    snapshot = snapshots[conversation_id]
                    if stop.is_set():
                        return
                    await self.sink.deliver(self._state_job(snapshot))
                return
            except DeliveryError as error:
                log.warning("matrix: portals of existing conversations: %s; retrying", error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5.0)

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
            payload={},
            conversation={
                "id": snapshot.id,
                "subject": snapshot.subject,
                "created_by": snapshot.created_by,
                "members": list(snapshot.members),
                "patient": snapshot.patient,
            },
            participants={
                m: Participant(m, matrix_user=by_member.get(m)) for m in snapshot.members
            },
        )

    async def close(self) -> None:
        await self.client.close()


def build_world(
    config: BridgeConfig,
    store: Store,
    post: InboundPoster,
    configured: Mapping[str, Participant],
) -> MatrixWorld:
    return MatrixWorld(config, store, post, configured)

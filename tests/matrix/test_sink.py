"""The sink against a real Synapse: a delivery repeated after a restart posts nothing twice,
even when the bridge died between sending and recording (Synapse keeps the device's
transaction ids, and the bot always logs in with the same device)."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import delete

from bridge.core.delivery import Attachment, DeliveryJob, InboundMessage, PostResult
from bridge.core.model import DeliveryKind, Participant, World
from bridge.matrix.client import MatrixClient
from bridge.matrix.localserver import Synapse
from bridge.matrix.sink import MatrixSink, PortalSettings
from bridge.store import matrix as mrepo
from bridge.store.models import MatrixEventLink
from bridge.store.repositories import Store
from tests.fixtures.synapse import MatrixUsers
from tests.matrix.test_portals import timeline


class NoPoster:
    async def __call__(self, message: InboundMessage) -> PostResult:
        raise AssertionError("not used")

    async def fetch_attachment(
        self, attachment_id: str, filename: str, content_type: str
    ) -> Attachment:
        raise AssertionError("not used")


def _job(kind: DeliveryKind, seq: int, conversation: dict, member: str, user: str) -> DeliveryJob:
    message = {"id": f"msg-{seq}", "author_id": member, "body": "une fois", "kind": "message"}
    return DeliveryJob(
        delivery_id=seq,
        world=World.MATRIX,
        destination=conversation["id"],
        kind=kind,
        attempt=1,
        event_seq=seq,
        event_type="message.posted",
        conversation_id=conversation["id"],
        payload={"data": {"message": message}},
        conversation=conversation,
        participants={member: Participant(member, matrix_user=user)},
    )


async def test_repeated_delivery_after_restart_is_not_duplicated(
    synapse: Synapse, matrix_users: MatrixUsers, tmp_path: Path
) -> None:
    bot, alice = matrix_users.new("bot"), matrix_users.new("alice")
    store = await Store.open(f"sqlite:///{tmp_path / 'sink.db'}")
    settings = PortalSettings(
        bot_user_id=bot.user_id,
        server_name=synapse.server_name,
        federate=False,
        encryption=False,
        patient_spaces=False,
        tag_policy="initials",
        language="fr",
    )
    conversation = {"id": f"conv-sink-{alice.localpart}", "subject": "S", "members": ["81"]}
    job = _job(DeliveryKind.MESSAGE, 7, conversation, "81", alice.user_id)
    try:
        for _restart in range(2):
            client = MatrixClient(synapse.url, bot.user_id, bot.password, uses_access_token=False)
            try:
                await MatrixSink(client, store, settings, NoPoster()).deliver(job)
            finally:
                await client.close()
            # The bridge "died" before recording what it sent: only Synapse remembers.
            async with store.transaction() as session:
                await session.execute(delete(MatrixEventLink))
        async with store.transaction() as session:
            portal = await mrepo.get_portal(session, conversation["id"])
        assert portal is not None
        observer = await matrix_users.login(bot, device_id="OBSERVER")
        bodies = [e["content"]["body"] for e in await timeline(observer, portal.room_id)]
        assert sum("une fois" in b for b in bodies) == 1
    finally:
        await store.close()

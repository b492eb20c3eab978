"""A Synapse with its default rate limits: a 429 comes back as RetryLater with the server's
``retry_after_ms``, for the outbox to honour (nio's own sleeping retry is off)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from nio import RoomCreateResponse

from bridge.core.delivery import RetryLater
from bridge.matrix.client import MatrixClient
from bridge.matrix.localserver import Synapse
from tests.fixtures.synapse import running, synapse_state


@pytest.fixture(scope="module")
def limited_synapse() -> Iterator[Synapse]:
    with running(Synapse(synapse_state("spico-synapse-limited-"), rate_limited=True)) as server:
        yield server


async def test_429_becomes_retry_later_with_the_servers_delay(limited_synapse: Synapse) -> None:
    user = limited_synapse.register("sender", "secret-password")
    client = MatrixClient(limited_synapse.url, user, "secret-password", uses_access_token=False)
    try:
        await client.ensure_logged_in()
        room = await client.call("create", client.nio.room_create(name="limits"))
        assert isinstance(room, RoomCreateResponse)
        with pytest.raises(RetryLater) as limited:
            for index in range(200):
                await client.call(
                    "send",
                    client.nio.room_send(
                        room.room_id,
                        "m.room.message",
                        {"msgtype": "m.text", "body": f"n{index}"},
                        tx_id=f"t{index}",
                    ),
                )
        assert limited.value.retry_after is not None and limited.value.retry_after > 0
    finally:
        await client.close()

"""SpicoClient behaviour over real HTTP: retries, unavailability, errors, long-poll timeout."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest

from bridge.spico.client import (
    SpicoBadRequest,
    SpicoClient,
    SpicoForbidden,
    SpicoNotFound,
    SpicoUnauthorized,
    SpicoUnavailable,
)
from tests.fixtures.ports import free_port
from tests.fixtures.sandbox import Personas, SandboxProcess
from tests.spico.helpers import start_conversation


async def test_retries_5xx_then_succeeds(
    spico_client: SpicoClient, personas: Personas, caplog: pytest.LogCaptureFixture
) -> None:
    await spico_client.inject_failures(2, status=503)
    with caplog.at_level(logging.WARNING, logger="bridge.spico.client"):
        professional = await spico_client.get_professional(personas.doctor)
    assert professional.id == personas.doctor
    retries = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retries) == 2 and "HTTP 503" in retries[0].getMessage()


async def test_post_retried_after_5xx_is_not_duplicated(
    spico_client: SpicoClient, personas: Personas
) -> None:
    created = await start_conversation(spico_client, personas)
    await spico_client.inject_failures(1, status=502)
    message = await spico_client.post_message(
        created.conversation.id,
        on_behalf_of=personas.doctor,
        acting_as=personas.doctor,
        body="après une panne",
        idempotency_key=str(uuid.uuid4()),
    )
    messages = await spico_client.list_messages(created.conversation.id)
    assert [m.id for m in messages] == [created.message.id, message.id]


async def test_persistent_5xx_raises_unavailable(
    spico_sandbox: SandboxProcess, spico_client: SpicoClient, personas: Personas
) -> None:
    async with SpicoClient(spico_sandbox.base_url, spico_sandbox.token, max_attempts=3) as client:
        await client.inject_failures(3, status=500)
        with pytest.raises(SpicoUnavailable):
            await client.get_professional(personas.doctor)
    assert (await spico_client.get_professional(personas.doctor)).id == personas.doctor


async def test_connection_refused_raises_unavailable() -> None:
    async with SpicoClient(f"http://127.0.0.1:{free_port()}/api/v1", "t", max_attempts=3) as client:
        with pytest.raises(SpicoUnavailable) as caught:
            await client.list_resource_teams()
    assert "ClientConnectorError" in str(caught.value)


async def test_retries_until_the_sandbox_is_back(
    spico_sandbox: SandboxProcess, personas: Personas
) -> None:
    async with SpicoClient(spico_sandbox.base_url, spico_sandbox.token, max_attempts=40) as client:
        spico_sandbox.stop()
        try:
            call = asyncio.create_task(client.get_professional(personas.doctor))
            await asyncio.sleep(0.5)
            assert not call.done()
        finally:
            await asyncio.to_thread(spico_sandbox.start)
        assert (await asyncio.wait_for(call, 60)).id == personas.doctor


async def test_refusals_map_to_exception_classes(
    spico_sandbox: SandboxProcess, spico_client: SpicoClient, personas: Personas
) -> None:
    async with SpicoClient(spico_sandbox.base_url, "bad") as client:
        with pytest.raises(SpicoUnauthorized):
            await client.list_resource_teams()
    with pytest.raises(SpicoNotFound) as not_found:
        await spico_client.get_conversation("conv_missing")
    assert (not_found.value.status, not_found.value.code) == (404, "not_found")
    assert "conv_missing" in not_found.value.message
    with pytest.raises(SpicoForbidden):
        await spico_client.get_patient(personas.foreign_patient_id, on_behalf_of=personas.doctor)
    with pytest.raises(SpicoBadRequest) as bad:
        await spico_client.search_directory("x", kind="nothing")
    assert bad.value.status == 400 and "kind" in bad.value.message


async def test_generated_keys_make_distinct_conversations(
    spico_client: SpicoClient, personas: Personas
) -> None:
    first = await start_conversation(spico_client, personas, subject="Même sujet")
    second = await start_conversation(spico_client, personas, subject="Même sujet")
    assert first.conversation.id != second.conversation.id


async def test_post_message_needs_a_key(spico_client: SpicoClient, personas: Personas) -> None:
    with pytest.raises(ValueError, match="idempotency key"):
        await spico_client.post_message(
            "conv_x",
            on_behalf_of=personas.doctor,
            acting_as=personas.doctor,
            body="x",
            idempotency_key="",
        )


async def test_long_poll_outlives_the_client_timeout(
    spico_sandbox: SandboxProcess, personas: Personas
) -> None:
    async with SpicoClient(spico_sandbox.base_url, spico_sandbox.token, timeout=0.5) as client:
        head = (await client.get_events(0, limit=1)).head_seq
        page = await client.long_poll_events(head + 10_000, wait=1.5, limit=10)
    assert page.events == []


async def test_post_whose_answer_was_lost_is_replayed_not_duplicated(
    spico_client: SpicoClient, personas: Personas
) -> None:
    """SPICO commits the post but the answer is lost (a timeout): the retry gets the original."""
    created = await start_conversation(spico_client, personas)
    await spico_client.inject_failures(1, status=504, after_processing=True)
    message = await spico_client.post_message(
        created.conversation.id,
        on_behalf_of=personas.doctor,
        acting_as=personas.doctor,
        body="réponse perdue",
        idempotency_key=str(uuid.uuid4()),
    )
    messages = await spico_client.list_messages(created.conversation.id)
    assert [m.id for m in messages] == [created.message.id, message.id]

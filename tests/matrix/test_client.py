"""How Matrix errors weigh for the outbox (429 → retry after, 5xx → retry, 4xx → give up) and
what their texts hold (pure); the bot's TLS with the configured CA (Synapse behind TLS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.app import spico_client_from
from bridge.config import load_config
from bridge.core.delivery import PermanentFailure, RetryLater
from bridge.hub.inbound import SpicoPoster
from bridge.matrix.client import MatrixError, delivery_error
from bridge.matrix.localserver import Synapse
from bridge.matrix.world import build_world
from bridge.store.repositories import Store
from tests.fixtures.bridge import bridge_config
from tests.fixtures.sandbox import SandboxProcess
from tests.fixtures.synapse import MatrixUsers
from tests.fixtures.tls import Certificate, tls_proxy
from tests.fixtures.worlds import matrix_section


def test_rate_limit_honours_retry_after() -> None:
    error = delivery_error(MatrixError("send", "M_LIMIT_EXCEEDED", 429, "slow", 1.5))
    assert isinstance(error, RetryLater) and error.retry_after == 1.5


def test_server_errors_and_unreachable_are_retried() -> None:
    assert isinstance(delivery_error(MatrixError("send", None, 502, "bad gateway")), RetryLater)
    assert isinstance(delivery_error(MatrixError("send", None, None, "down")), RetryLater)
    expired = delivery_error(MatrixError("send", "M_UNKNOWN_TOKEN", 401, "expired"))
    assert isinstance(expired, RetryLater)


def test_forbidden_or_gone_rooms_fail_for_good() -> None:
    forbidden = delivery_error(MatrixError("send", "M_FORBIDDEN", 403, "not in room"))
    assert isinstance(forbidden, PermanentFailure)
    assert isinstance(delivery_error(MatrixError("x", "M_NOT_FOUND", 404, "")), PermanentFailure)


def test_the_homeservers_sentence_stays_out_of_the_error_text() -> None:
    """What a log may show is the errcode and status, never the server's words (they can
    quote ids or content)."""
    error = MatrixError("send", "M_FORBIDDEN", 403, "User @eve:hs said 'Jean DUPONT'")
    assert "DUPONT" not in str(error) and "M_FORBIDDEN" in str(error)
    assert "DUPONT" not in str(delivery_error(error))
    assert error.message.endswith("'Jean DUPONT'")


async def test_the_configured_ca_verifies_the_homeserver(
    synapse: Synapse,
    matrix_users: MatrixUsers,
    spico_sandbox: SandboxProcess,
    tls_certificate: Certificate,
    tmp_path: Path,
) -> None:
    """``matrix.ca_file`` is the trust anchor of the bot's connection: Synapse behind TLS
    with a private CA is reached with it, and refused without it."""
    bot = matrix_users.new("tlsbot")
    async with tls_proxy(synapse.port, tls_certificate) as port:
        for ca_file, works in ((tls_certificate.cert_file, True), (None, False)):
            folder = tmp_path / ("with" if works else "without")
            section = matrix_section(
                synapse, bot, folder / "secrets", homeserver=f"https://localhost:{port}"
            )
            if ca_file is not None:
                section["ca_file"] = str(ca_file)
            folder.mkdir(exist_ok=True)
            config = load_config(
                bridge_config(
                    folder,
                    spico_sandbox,
                    database_url=f"sqlite:///{folder / 'bridge.db'}",
                    matrix=section,
                )
            )
            store = await Store.open(config.database_url)
            spico = spico_client_from(config)
            world = build_world(config, store, SpicoPoster(store, spico), {})
            try:
                if works:
                    await world.client.ensure_logged_in()
                    assert world.client.logged_in
                else:
                    with pytest.raises(RetryLater):
                        await world.client.ensure_logged_in()
            finally:
                await world.close()
                await spico.close()
                await store.close()

"""The mail world's parts as the unit tests build them: one place for their constructors.

``mail_config`` writes a config whose mail servers are never reached (the tests give the sink a
:class:`tests.fakes.FakeSmtp` and call the inbox's ``handle`` directly); ``mail_sink`` and
``mail_inbox`` are the only calls of ``MailSink(…)`` and ``MailInbox(…)`` in the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bridge.config import BridgeConfig, load_config
from bridge.core.delivery import DeliveryJob, InboundPoster
from bridge.core.model import ConversationView, DeliveryKind, Name, Participant, World
from bridge.core.views import message_view
from bridge.mail.inbound import MailInbox
from bridge.mail.outbound import FetchAttachment, MailSink
from bridge.mail.receiver import Receiver
from bridge.mail.settings import settings_from
from bridge.store.repositories import Store
from tests.fakes import FakeSmtp
from tests.fixtures.bridge import bridge_config

#: The bridge's own address in the unit tests' configs.
BRIDGE = "bridge@sandbox.mssante.fr"
#: The doctor who writes in ``conv_1``, and Anne who follows it by mail.
DOCTOR, ANNE = "810000000009", "810000000017"
ANNE_ADDRESS = "anne.martin@sandbox.mssante.fr"


#: The doctor as the hub reads them from the directory with each job (the sink reads none).
DOCTOR_PARTICIPANT = Participant(DOCTOR, name=Name("Dr", "Jean", "Dupont", "Médecin"))


def anne_job(seq: int, body: str, *, address: str = ANNE_ADDRESS, **message: Any) -> DeliveryJob:
    """The doctor's message ``seq`` in ``conv_1`` ("Plaie"), to deliver to Anne by mail, with
    the doctor's name as the hub gives it; ``message`` adds or replaces fields of the SPICO
    message."""
    return DeliveryJob(
        delivery_id=seq,
        world=World.MAIL,
        destination=ANNE,
        kind=DeliveryKind.MESSAGE,
        attempt=1,
        event_seq=seq,
        event_type="message.posted",
        conversation_id="conv_1",
        message=message_view({"id": f"msg-{seq}", "author_id": DOCTOR, "body": body, **message}),
        conversation=ConversationView("conv_1", (DOCTOR, ANNE), "Plaie"),
        participants={DOCTOR: DOCTOR_PARTICIPANT, ANNE: Participant(ANNE, mail=address)},
        authors={DOCTOR: DOCTOR_PARTICIPANT},
    )


def mail_config(
    tmp_path: Path,
    *,
    participants: list[dict[str, Any]] | None = None,
    sections: dict[str, Any] | None = None,
    **mail: Any,
) -> BridgeConfig:
    """A config with the mail world on (servers on loopback, never contacted) and its secrets in
    ``tmp_path``; ``mail`` adds or replaces keys of the ``mail:`` section."""
    key = tmp_path / "token-key"
    key.write_text("k" * 48, encoding="utf-8")
    transport = {"host": "127.0.0.1", "security": "none"}
    sandbox = SimpleNamespace(token="t", base_url="http://127.0.0.1:9/api/v1")
    path = bridge_config(
        tmp_path,
        sandbox,  # type: ignore[arg-type]
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        participants=participants or [],
        mail={
            "address": BRIDGE,
            "smtp": {**transport, "port": 2525},
            "imap": {**transport, "port": 1143},
            "token_key_file": str(key),
            "authentication": {"require": "none"},
            **mail,
        },
        sections=sections,
    )
    return load_config(path)


def mail_sink(
    config: BridgeConfig,
    store: Store,
    smtp: FakeSmtp | None = None,
    fetch_attachment: FetchAttachment | None = None,
) -> MailSink:
    """The sink, sending through ``smtp`` (or the configured server when None)."""
    return MailSink(settings_from(config), store, smtp, fetch_attachment)  # type: ignore[arg-type]


def mail_inbox(
    config: BridgeConfig,
    store: Store,
    poster: InboundPoster,
    sink: MailSink,
    configured: Mapping[str, Participant] | None = None,
) -> MailInbox:
    settings = settings_from(config)
    return MailInbox(settings, store, Receiver(settings, store, poster, configured or {}, sink))

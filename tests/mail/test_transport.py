"""TLS transports against the session's Dovecot and Postfix: IMAP STARTTLS (which aioimaplib
lacks), implicit TLS, SMTP submission outcomes (4xx → retry later, 5xx → permanent)."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from bridge.config import ImapConfig, SmtpConfig
from bridge.core.delivery import PermanentFailure, RetryLater
from bridge.mail.inbound import ImapUnavailable, open_imap
from bridge.mail.localserver import LocalMailServer
from bridge.mail.outbound import SmtpSender
from tests.fixtures.mailserver import BRIDGE_ADDRESS, BRIDGE_PASSWORD


def _password(tmp_path: Path) -> str:
    path = tmp_path / "password"
    path.write_text(BRIDGE_PASSWORD)
    return str(path)


@pytest.mark.parametrize("security", ["starttls", "tls"])
async def test_imap_login_over_starttls_and_implicit_tls(
    mail_server: LocalMailServer, tmp_path: Path, security: str
) -> None:
    port = mail_server.ports.imap if security == "starttls" else mail_server.ports.imaps
    config = ImapConfig(
        host="127.0.0.1",
        port=port,
        security=security,
        username=BRIDGE_ADDRESS,
        password_file=_password(tmp_path),
        ca_file=mail_server.ca_file,
    )
    client = await open_imap(config)
    try:
        assert client.get_state() == "AUTH"
        assert (await client.select("INBOX")).result == "OK"
        if security == "starttls":
            assert "STARTTLS" not in client.protocol.capabilities  # re-read after the upgrade
            assert client.protocol.transport.get_extra_info("ssl_object") is not None
    finally:
        await client.logout()


async def test_imap_starttls_refuses_an_untrusted_certificate(
    mail_server: LocalMailServer, tmp_path: Path
) -> None:
    config = ImapConfig(
        host="127.0.0.1",
        port=mail_server.ports.imap,
        security="starttls",
        username=BRIDGE_ADDRESS,
        password_file=_password(tmp_path),
    )  # no ca_file: the system CAs do not know the self-signed certificate
    with pytest.raises((OSError, ImapUnavailable)):
        await open_imap(config)


def _mail(to: str) -> bytes:
    mail = EmailMessage()
    mail["From"] = BRIDGE_ADDRESS
    mail["To"] = to
    mail["Subject"] = "transport test"
    mail.set_content("test")
    return mail.as_bytes()


async def test_smtp_outcomes(mail_server: LocalMailServer, tmp_path: Path) -> None:
    reader = "transport.test@sandbox.mssante.fr"
    mail_server.add_mailboxes({reader: "x"})
    sender = SmtpSender(
        SmtpConfig(
            host="127.0.0.1",
            port=mail_server.ports.submission,
            security="starttls",
            username=BRIDGE_ADDRESS,
            password_file=_password(tmp_path),
            ca_file=mail_server.ca_file,
        )
    )
    try:
        await sender.send(_mail(reader), BRIDGE_ADDRESS, [reader])
        await sender.send(_mail(reader), BRIDGE_ADDRESS, [reader])  # the connection is reused
        with pytest.raises(PermanentFailure):  # unknown mailbox in our domain: 550 at RCPT
            await sender.send(
                _mail("nobody@sandbox.mssante.fr"), BRIDGE_ADDRESS, ["nobody@sandbox.mssante.fr"]
            )
        mail_server.set_fault(reader, "451 4.3.0 Try later")
        await sender.close()  # a running smtpd keeps the maps it had; a new session reads them
        try:
            with pytest.raises(RetryLater):
                await sender.send(_mail(reader), BRIDGE_ADDRESS, [reader])
        finally:
            mail_server.set_fault(reader, None)
    finally:
        await sender.close()
    mail_server.stop_postfix()
    try:
        with pytest.raises(RetryLater):  # the server is down: later, not never
            await sender.send(_mail(reader), BRIDGE_ADDRESS, [reader])
    finally:
        mail_server.start_postfix()

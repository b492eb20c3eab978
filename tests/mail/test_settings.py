"""The mail world's settings: built from the config, frozen, the token key never shown."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import pytest

from bridge.config import load_config
from bridge.mail.authentication import Requirement
from bridge.mail.limits import MailLimits
from bridge.mail.settings import MailSettings, settings_from
from bridge.mail.trust import TrustSpace

TOKEN_KEY = "t" * 48

CONFIG = """\
spico:
  base_url: https://spico.example.fr/api/v1
  token_file: spico-token
  bridge_existing: all
mail:
  address: bridge@ght.mssante.fr
  display_name: SPICO GHT
  mss_nil: NIL-1
  smtp:
    host: 127.0.0.1
    security: none
  imap:
    host: 127.0.0.1
    security: none
    mailbox: Boite
  token_key_file: token-key
  token_ttl_days: 30
  max_attachment_bytes: 1000
  trusted_domains: ["ght.mssante.fr"]
  authentication:
    require: aligned
    authserv_id: mx.ght.mssante.fr
  max_attachments: 15
  limits:
    parse_budget_seconds: 1.5
  answers:
    per_address: 2
    total_window_minutes: 30
notifications:
  period_minutes: 15
  digest: false
  language: en
policy:
  mail_patient_tag: none
"""


@pytest.fixture
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MailSettings:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spico-token").write_text("token\n")
    (tmp_path / "token-key").write_text(TOKEN_KEY + "\n")
    (tmp_path / "bridge.yaml").write_text(CONFIG)
    return settings_from(load_config(tmp_path / "bridge.yaml", environ={}))


def test_values_come_from_their_sections(settings: MailSettings) -> None:
    assert (settings.address, settings.display_name, settings.mss_nil) == (
        "bridge@ght.mssante.fr",
        "SPICO GHT",
        "NIL-1",
    )
    assert settings.spico_web_url == "https://spico.example.fr"  # derived from spico.base_url
    assert (settings.smtp.port, settings.imap.port, settings.imap.mailbox) == (25, 143, "Boite")
    assert settings.token_key == TOKEN_KEY.encode()
    assert (settings.token_ttl_days, settings.max_attachment_bytes) == (30, 1000)
    assert (settings.patient_tag, settings.language) == ("none", "en")
    assert settings.notifications_enabled is True
    assert (settings.notification_period_minutes, settings.notification_digests) == (15, False)
    assert settings.bridge_existing == "all"
    assert settings.trust.trusted_domains == ("ght.mssante.fr",)
    assert settings.trust.explicit_domains is True
    assert settings.trust.allow_patient_mailboxes is False


def test_the_inbox_gets_its_policy_caps_and_answer_limits(settings: MailSettings) -> None:
    inbound = settings.inbound
    assert inbound.own_address == "bridge@ght.mssante.fr"
    assert (inbound.require, inbound.authserv_id) == (Requirement.ALIGNED, "mx.ght.mssante.fr")
    assert inbound.limits.max_attachments == 30 and inbound.limits.budget_seconds == 1.5
    assert inbound.limits.max_attachment_bytes == 1000  # mail.max_attachment_bytes, both ways
    assert inbound.limits.max_parts == MailLimits().max_parts  # a default
    assert inbound.answers.per_address == 2
    assert inbound.answers.per_address_window == timedelta(hours=24)
    assert inbound.answers.total_window == timedelta(minutes=30)


def test_settings_are_frozen_and_never_show_the_key(settings: MailSettings) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.address = "other@ght.mssante.fr"  # type: ignore[misc]
    assert TOKEN_KEY not in repr(settings) and TOKEN_KEY not in str(settings)


def test_the_trust_space_follows_the_settings(settings: MailSettings) -> None:
    trust = TrustSpace(settings.trust)
    assert trust.is_trusted("dr.x@ght.mssante.fr")
    assert not trust.is_trusted("dr.x@autre.mssante.fr"), "only the configured domain"

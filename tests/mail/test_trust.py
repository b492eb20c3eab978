"""The trust space: patterns by default, the MSSanté whitelist when configured."""

from __future__ import annotations

from pathlib import Path

from bridge.config import MailConfig
from bridge.mail.settings import trust_settings_from
from bridge.mail.trust import TrustSpace, load_whitelist

WHITELIST = """<?xml version="1.0" encoding="UTF-8"?>
<ListeBlanche xmlns="https://listeblanche.mssante.fr/schema">
  <Domaine><Nom>chu-test.mssante.fr</Nom></Domaine>
  <Domaine><Nom>hôpital-exemple.mssante.fr</Nom></Domaine>
  <Domaine><Nom>patient.mssante.fr</Nom></Domaine>
</ListeBlanche>
"""


def test_default_patterns_and_patient_mailboxes() -> None:
    trust = TrustSpace(trust_settings_from(MailConfig(enabled=False)))
    assert trust.is_trusted("a.b@sandbox.mssante.fr")
    assert not trust.is_trusted("a.b@gmail.com")
    assert not trust.is_trusted("1234567890123@patient.mssante.fr")
    allowed = TrustSpace(
        trust_settings_from(MailConfig(enabled=False, allow_patient_mailboxes=True))
    )
    assert allowed.is_trusted("1234567890123@patient.mssante.fr")


def test_the_whitelist_is_the_authority(tmp_path: Path) -> None:
    path = tmp_path / "liste-blanche.xml"
    path.write_text(WHITELIST, encoding="utf-8")
    assert "xn--hpital-exemple-0ob.mssante.fr" in load_whitelist(path)
    trust = TrustSpace(trust_settings_from(MailConfig(enabled=False, whitelist_file=path)))
    assert trust.is_trusted("x@chu-test.mssante.fr")
    assert trust.is_trusted("x@hôpital-exemple.mssante.fr")
    assert not trust.is_trusted("x@unlisted.mssante.fr"), "the list, not the suffix"
    assert not trust.is_trusted("1234567890123@patient.mssante.fr")
    explicit = TrustSpace(
        trust_settings_from(
            MailConfig(enabled=False, whitelist_file=path, trusted_domains=("local.mssante.fr",))
        )
    )
    assert explicit.is_trusted("x@local.mssante.fr")


def test_domains_are_compared_after_uts46_mapping() -> None:
    """``ß`` is a letter of its own (UTS-46 nontransitional, as mail software and browsers
    read it): ``mßante.fr`` is ``xn--mante-lqa.fr``, not ``mssante.fr`` as IDNA 2003 says.
    Full-width dots and letters fold to ASCII."""
    trust = TrustSpace(trust_settings_from(MailConfig(enabled=False)))
    assert not trust.is_trusted("x@evil.mßante.fr")
    assert not trust.is_trusted("x@EVIL.MßANTE.FR")
    assert not trust.is_trusted("x@evil.xn--mante-lqa.fr")
    assert trust.is_trusted("x@chu．sandbox．mssante．fr")
    assert trust.is_trusted("x@ＣＨＵ.sandbox.mssante.fr")
    assert not trust.is_trusted("x@not a domain.mssante.fr")


def test_whitelist_names_are_read_with_uts46(tmp_path: Path) -> None:
    path = tmp_path / "liste-blanche.xml"
    path.write_text(WHITELIST.replace("chu-test.mssante.fr", "straße.mssante.fr"), encoding="utf-8")
    names = load_whitelist(path)
    assert "xn--strae-oqa.mssante.fr" in names and "strasse.mssante.fr" not in names
    trust = TrustSpace(trust_settings_from(MailConfig(enabled=False, whitelist_file=path)))
    assert trust.is_trusted("x@straße.mssante.fr")
    assert not trust.is_trusted("x@strasse.mssante.fr")

"""The MSSanté trust space: which domains mail may be sent to and accepted from.

``mail.trusted_domains`` (patterns, default ``*.mssante.fr``) decides, unless a local copy of
the operators' published whitelist is configured (``mail.whitelist_file``): the list, not the
suffix, is then the authority (domains at ``//Domaine/Nom``, some in Unicode, compared in
A-label form after UTS-46 mapping), plus any ``trusted_domains`` the admin wrote explicitly.
Patients' own mailboxes (``patient.mssante.fr``) are refused unless ``allow_patient_mailboxes``
is set.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from bridge.config import ascii_domain, matches_trusted_domains
from bridge.mail.settings import TrustSettings

log = logging.getLogger(__name__)

PATIENT_DOMAIN = "patient.mssante.fr"
#: Domains whose verdict is kept (then forgotten all at once: a bound, not a policy).
VERDICTS_KEPT = 4096


def _idna(domain: str) -> str:
    """A domain in A-label form (UTS-46, as ``bridge.config.ascii_domain``); one that is no
    domain name at all stays as it is, lower-cased (it then matches nothing)."""
    return ascii_domain(domain) or domain.strip().lower()


def load_whitelist(path: Path) -> frozenset[str]:
    """The domain names of an MSSanté whitelist XML (any namespace), in IDNA form."""
    tree = ElementTree.parse(path)  # a local file the admin installed, not remote input
    names = set()
    for element in tree.iter():
        if element.tag.rpartition("}")[2] != "Domaine":
            continue
        for child in element:
            if child.tag.rpartition("}")[2] == "Nom" and child.text and child.text.strip():
                names.add(_idna(child.text))
    return frozenset(names)


class TrustSpace:
    def __init__(self, settings: TrustSettings) -> None:
        self._settings = settings
        self._whitelist: frozenset[str] | None = None
        if settings.whitelist_file is not None:
            self._whitelist = load_whitelist(settings.whitelist_file)
            log.info("trust space: %d domains from the MSSanté whitelist", len(self._whitelist))
        self._explicit_patterns = settings.explicit_domains
        self._verdicts: dict[str, bool] = {}

    def is_trusted(self, address: str) -> bool:
        """Whether ``address``'s domain is in the trust space; the verdict is kept per domain
        (the UTS-46 mapping costs ~80 µs, and the sink asks for every mail)."""
        written = address.rpartition("@")[2]
        verdict = self._verdicts.get(written)
        if verdict is None:
            verdict = self._domain_trusted(written)
            if len(self._verdicts) >= VERDICTS_KEPT:
                self._verdicts.clear()
            self._verdicts[written] = verdict
        return verdict

    def _domain_trusted(self, written: str) -> bool:
        address = "x@" + written
        domain = _idna(written)
        patient = domain == PATIENT_DOMAIN or domain.endswith("." + PATIENT_DOMAIN)
        if patient and not self._settings.allow_patient_mailboxes:
            return False
        patterns = self._settings.trusted_domains
        if self._whitelist is None:
            return matches_trusted_domains(address, patterns)
        if domain in self._whitelist:
            return True
        return self._explicit_patterns and matches_trusted_domains(address, patterns)

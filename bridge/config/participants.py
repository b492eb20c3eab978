"""``participants:``: static mappings from SPICO professionals to Matrix accounts and mailboxes.

Checks across entries (duplicates, patients' mailboxes) are in :mod:`bridge.config.cross_checks`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import model_validator

from bridge.config.base import Checks, Section
from bridge.config.values import EmailAddress, IdNat, MatrixUserId


class ParticipantConfig(Section):
    """A static mapping from a SPICO professional to their Matrix account and/or mailbox."""

    spico_id: IdNat
    matrix_user: MatrixUserId | None = None
    mail: EmailAddress | None = None
    delivery: Literal["auto", "matrix", "mail", "both"] = "auto"

    @model_validator(mode="after")
    def _check(self) -> ParticipantConfig:
        checks = Checks("participant")
        if self.matrix_user is None and self.mail is None:
            checks.add(None, "give matrix_user, mail or both for this professional")
        if self.delivery in ("matrix", "both") and self.matrix_user is None:
            checks.add("delivery", f"delivery {self.delivery} needs matrix_user")
        if self.delivery in ("mail", "both") and self.mail is None:
            checks.add("delivery", f"delivery {self.delivery} needs mail")
        checks.done()
        return self

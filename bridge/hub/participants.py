"""Who a SPICO member is in the other worlds: the config's mapping merged with the directory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from bridge.core.model import DeliveryPreference, MailChoice, Participant, Status
from bridge.store import preferences
from bridge.store import repositories as repo


def configured_participants(entries: Iterable[object]) -> dict[str, Participant]:
    """The ``participants`` section of the config, keyed by SPICO id."""
    return {
        entry.spico_id: Participant(  # type: ignore[attr-defined]
            spico_id=entry.spico_id,  # type: ignore[attr-defined]
            matrix_user=entry.matrix_user,  # type: ignore[attr-defined]
            mail=entry.mail,  # type: ignore[attr-defined]
            delivery=DeliveryPreference(entry.delivery),  # type: ignore[attr-defined]
        )
        for entry in entries
    }


def merge(
    configured: Participant | None,
    known: repo.ProfessionalRow | None,
    spico_id: str,
    choice: MailChoice | None = None,
) -> Participant:
    """Config decides the Matrix user, preference and mail override (a self-service link gives
    the Matrix user of a professional it does not name, and the member's own "every
    conversation by mail" applies where the config says ``auto``); the directory gives the
    status, whether they have an account, and their MSSanté address; ``choice`` is the
    member's own choice for the conversation at hand."""
    base = replace(configured or Participant(spico_id), mail_choice=choice)
    if known is None:
        return base
    status = Status(known.status) if known.status in Status.__members__.values() else None
    # A self-service link counts only for a professional the config does not name.
    linked = known.linked_matrix_user if configured is None else None
    matrix_user = base.matrix_user or linked
    delivery = base.delivery
    if delivery is DeliveryPreference.AUTO and known.mail_preference == preferences.ALL:
        delivery = DeliveryPreference.BOTH if matrix_user else DeliveryPreference.MAIL
    return replace(
        base,
        matrix_user=matrix_user,
        mail=base.mail or known.mssante_address,
        delivery=delivery,
        status=status,
        has_account=known.has_account,
        name=known.name,
    )

"""How the ``!spico`` commands' answers are laid out (pure): listings, summaries, help.

The words, in French and English, are messages of ``bridge.matrix.texts``; this module puts
them together. Every reply to a mapped user starts with the account they act as ("Agir en tant
que : …"). Refusals from SPICO become sentences a professional understands (``refusal_text``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bridge.core.composer import (
    CareCircleView,
    DirectoryEntry,
    PatientEntry,
    RecentSearchEntry,
    TeamEntry,
)
from bridge.matrix.commands import registry
from bridge.matrix.formatting import status_label
from bridge.matrix.texts import find, text

ID_KINDS = {"rpps": "RPPS", "adeli": "ADELI", "finess": "FINESS"}

#: Refusal codes SPICO answers with → message keys.
REFUSALS = {
    "no_delegation": "no_delegation",
    "no_patient_access": "no_patient_access",
    "not_a_member": "not_a_member",
    "unknown_member": "unknown_member",
    "last_member": "last_member",
    "no_account": "refused_no_account",
    "not_found": "not_found",
    "bad_request": "bad_request",
}


def refusal_text(code: str, message: str, language: str = "fr") -> str:
    """A SPICO refusal as a sentence (SPICO's own sentence when the code is not known)."""
    key = REFUSALS.get(code)
    if key is None:
        return text(language, "refused", message=message)
    return text(language, key, message=message)


def with_acting(acting_name: str | None, body: str, language: str = "fr") -> str:
    """Every reply to a mapped user starts with the account they act as."""
    if not acting_name:
        return body
    return f"{text(language, 'acting', name=acting_name)}\n{body}"


def list_name(kind: str, language: str = "fr") -> str:
    """A numbered list's name ("de patients"), for "number out of range" sentences."""
    return find(language, f"list_{kind}") or kind


def list_command(kind: str, language: str = "fr") -> str:
    """The command that fills a numbered list, for "type … first" sentences."""
    return find(language, f"list_command_{kind}") or kind


# --- listings --------------------------------------------------------------------------------


def entry_line(number: int | None, entry: DirectoryEntry, language: str = "fr") -> str:
    """ "1. Dr Jeanne MARTIN — médecin généraliste, Toulouse — RPPS 810001234567 — en ligne"."""
    parts = [entry.name]
    where = ", ".join(p for p in (entry.description, entry.city) if p)
    if where:
        parts.append(where)
    parts.append(f"{ID_KINDS.get(entry.id_kind, entry.id_kind.upper())} {entry.id}")
    if entry.kind == "professional":
        status = status_label(entry.status, language)
        if not entry.has_account:
            status = f"{status}, {text(language, 'no_account')}"
        parts.append(status)
    line = " — ".join(parts)
    return f"{number}. {line}" if number is not None else line


def directory_text(
    title: str, entries: Sequence[DirectoryEntry], language: str = "fr", *, more: int = 0
) -> str:
    lines = [title]
    lines += [entry_line(i, e, language) for i, e in enumerate(entries, 1)]
    if more:
        lines.append(text(language, "search_more", count=more))
    lines.append(text(language, "numbers_hint"))
    return "\n".join(lines)


def search_text(
    q: str,
    entries: Sequence[DirectoryEntry],
    language: str = "fr",
    *,
    structures: bool = False,
    limit: int = 10,
) -> str:
    if not entries:
        return text(language, "search_none", q=q)
    title = text(language, "search_structures_title" if structures else "search_title", q=q)
    return directory_text(
        title, entries, language, more=len(entries) if len(entries) >= limit else 0
    )


def _numbered(language: str, key: str, lines: Sequence[str], **values: str) -> str:
    """A numbered list (the numbers ``!spico`` commands take) between the texts
    ``<key>_title`` (given ``values``) and ``<key>_hint``."""
    title, hint = text(language, f"{key}_title", **values), text(language, f"{key}_hint")
    return "\n".join([title, *(f"{i}. {line}" for i, line in enumerate(lines, 1)), hint])


def accounts_text(accounts: Sequence[DirectoryEntry], current: str, language: str = "fr") -> str:
    lines = [
        f"{account.name} — {account.description} — {account.id}"
        + (" ✓" if account.id == current else "")
        for account in accounts
    ]
    return _numbered(language, "accounts", lines)


def recent_text(searches: Sequence[RecentSearchEntry], language: str = "fr") -> str:
    if not searches:
        return text(language, "recent_none")
    lines = [
        text(
            language,
            "recent_line_structures" if search.kind == "structure" else "recent_line",
            q=search.q,
            at=search.at,
        )
        for search in searches
    ]
    return _numbered(language, "recent", lines)


def favorites_text(entries: Sequence[DirectoryEntry], language: str = "fr") -> str:
    if not entries:
        return text(language, "fav_none")
    return directory_text(text(language, "fav_title"), entries, language)


def _date(iso: str, language: str) -> str:
    """An ISO date as the language writes dates; anything else as SPICO gave it."""
    if len(iso) == 10 and iso[4] == "-":
        return text(language, "birth_date", year=iso[0:4], month=iso[5:7], day=iso[8:10])
    return iso


def patient_label(patient: PatientEntry, language: str = "fr") -> str:
    """ "Jeanne DUPONT, née le 02/03/1950 (pat-00012)"."""
    born = text(language, "born", date=_date(patient.birth_date, language))
    return f"{patient.first_name} {patient.last_name.upper()}, {born} ({patient.id})"


def patients_text(owner: str, patients: Sequence[PatientEntry], language: str = "fr") -> str:
    if not patients:
        return text(language, "patients_none", name=owner)
    lines = [patient_label(p, language) for p in patients]
    return _numbered(language, "patients", lines, name=owner)


def circle_text(circle: CareCircleView, language: str = "fr") -> str:
    patient = patient_label(circle.patient, language)
    if not circle.members:
        return text(language, "circle_none", patient=patient)
    lines = []
    for member in circle.members:
        entry = member.professional
        status = status_label(entry.status, language)
        if not entry.has_account:
            status = f"{status}, {text(language, 'no_account')}"
        lines.append(f"{entry.name} — {member.role} — {entry.id} — {status}")
    return _numbered(language, "circle", lines, patient=patient)


def teams_text(teams: Sequence[TeamEntry], language: str = "fr") -> str:
    if not teams:
        return text(language, "teams_none")
    lines = [f"{team.name} ({team.id}) — {team.description}" for team in teams]
    return _numbered(language, "teams", lines)


def period_text(minutes: int, language: str = "fr") -> str:
    """A notification period in words: "24 heures", "3 jours", "2 heures", "45 minutes"."""
    if minutes % 1440 == 0:
        days = minutes // 1440
        if days == 1:
            return text(language, "period_24_hours")
        return text(language, "period_days", days=days)
    if minutes % 60 == 0:
        hours = minutes // 60
        return text(language, "period_hours" if hours > 1 else "period_hour", hours=hours)
    return text(language, "period_minutes", minutes=minutes)


@dataclass(frozen=True, slots=True)
class DraftView:
    """What the summary of a conversation being started shows."""

    members: tuple[str, ...]
    patient: str | None
    subject: str | None
    message: str | None


def summary_text(view: DraftView, language: str = "fr") -> str:
    lines = [text(language, "summary_title")]
    lines.append(text(language, "new_members", names=", ".join(view.members) or "—"))
    if view.patient:
        lines.append(text(language, "new_patient", patient=view.patient))
    else:
        lines.append(text(language, "new_no_patient"))
    lines.append(text(language, "new_subject", subject=view.subject or "—"))
    message = view.message or "—"
    if len(message) > 300:
        message = message[:300] + "…"
    lines.append(text(language, "new_message", message=message))
    return "\n".join(lines)


# --- help ------------------------------------------------------------------------------------


def help_text(language: str = "fr", prefix: str = "!spico", command: str | None = None) -> str:
    """Every command (in the order the registry gives), or one command's syntax. Each has
    ``help_<key>_usage`` and ``help_<key>_what`` in ``bridge.matrix.texts``."""

    def entry(key: str) -> str:
        usage = text(language, f"help_{key}_usage")
        return f"{usage} — {text(language, f'help_{key}_what')}"

    specs = registry.all_commands()
    chosen = next((spec for spec in specs if spec.name == command), None)
    if chosen is not None:
        return f"{entry(chosen.help)}\n{text(language, 'help_members')}"
    lines = [text(language, "help_intro", prefix=prefix)]
    lines += [f"• {entry(spec.help)}" for spec in specs]
    lines.append(text(language, "help_members"))
    return "\n".join(lines)


def id_kind(kind: str, language: str = "fr") -> str:
    """The words for a kind of id ("de patient"), for "not a valid id" sentences."""
    return find(language, f"id_kind_{kind}") or kind

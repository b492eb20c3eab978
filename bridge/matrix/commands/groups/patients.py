"""Patients: the active file list, care circles, and a conversation's patient.

Patient identities (name, birth date, INS) go to the user's management room only
(``CommandExecutor.private``); in a shared room the answers give a patient's id, never more.
A care circle looked at is remembered, with when, for ``new`` (``CIRCLE_CONTEXT_TTL``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.matrix.commands import texts
from bridge.matrix.commands.parse import NONE_WORDS, Request
from bridge.matrix.commands.registry import command
from bridge.matrix.commands.resolve import Problem, not_found_as
from bridge.matrix.commands.turn import Turn, item
from bridge.matrix.formatting import status_label
from bridge.matrix.texts import text

if TYPE_CHECKING:
    from bridge.matrix.commands.executor import CommandExecutor


@command("patients", fr=("patients",), en=("patients",), rank=50)
async def patients(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    """The acting account's active files. SPICO is told who asks (``on_behalf_of``): it
    refuses an account the user holds no delegation on, whatever the bridge remembered."""
    files = await executor.composer.patients(turn.acting, on_behalf_of=turn.spico_id)
    turn.remember("patients", [{"id": p.id} for p in files])
    owner = await executor.acting_name(turn)
    executor.private(turn, texts.patients_text(owner, files, turn.language))


@command("circle", fr=("cercle",), en=("circle",), rank=60)
async def circle(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    if not request.args:
        raise Problem("circle_usage")
    patient_id = executor.patient_id(turn, request.args[0])
    with not_found_as("unknown_patient", patient_id):
        found = await executor.composer.care_circle(patient_id, on_behalf_of=turn.spico_id)
    items = [
        item(
            m.professional,
            f"{m.professional.name} — {m.role} — {m.professional.id} — "
            f"{status_label(m.professional.status, turn.language)}",
        )
        for m in found.members
    ]
    turn.remember(
        "directory",
        items,
        source="circle",
        patient_id=found.patient.id,
        patient_label=texts.patient_label(found.patient, turn.language),
        at=turn.now.isoformat(),
    )
    executor.private(turn, texts.circle_text(found, turn.language))


@command("patient", fr=("patient",), en=("patient",), where="portal", rank=130, help="patient")
async def link_patient(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    """Link or unlink the conversation's patient; the answer gives the id only (shared room)."""
    if not request.args:
        raise Problem("patient_usage")
    conversation_id = turn.where.conversation_id
    assert conversation_id is not None
    word = request.args[0]
    if word.lower() in NONE_WORDS:
        await executor.composer.unlink_patient(
            conversation_id, on_behalf_of=turn.spico_id, acting_as=turn.acting
        )
        await executor.audit(turn, "command.patient", conversation_id)
        turn.say(text(turn.language, "patient_unlinked"))
        return
    patient_id = executor.patient_id(turn, word)
    with not_found_as("unknown_patient", patient_id):
        await executor.composer.link_patient(
            conversation_id, patient_id, on_behalf_of=turn.spico_id, acting_as=turn.acting
        )
    await executor.audit(turn, "command.patient", conversation_id)
    turn.say(text(turn.language, "patient_linked", patient=patient_id))

"""Resource teams: the list, and a request that opens the team's conversation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.core.composer import TeamRequest
from bridge.matrix.commands import texts
from bridge.matrix.commands.parse import Request
from bridge.matrix.commands.registry import command
from bridge.matrix.commands.resolve import Problem, find_team
from bridge.matrix.commands.turn import Turn
from bridge.matrix.texts import text

if TYPE_CHECKING:
    from bridge.matrix.commands.executor import CommandExecutor


@command(
    "team",
    fr=("équipe", "equipe", "équipes", "equipes"),
    en=("team", "teams"),
    rank=90,
    options={
        "--patient": ("patient", True),
        "--subject": ("subject", True),
        "--sujet": ("subject", True),
    },
)
async def team(executor: CommandExecutor, turn: Turn, request: Request) -> None:
    teams = await executor.composer.teams()
    turn.remember("teams", [{"id": t.id, "label": t.name} for t in teams])
    if not request.args:
        turn.say(texts.teams_text(teams, turn.language))
        return
    chosen = find_team(teams, request.args[0], turn.language)
    message = request.rest if request.rest is not None else request.tail
    if not message or not message.strip():
        raise Problem("team_usage")
    patient_id = None
    patient_word = request.options.get("patient")
    if isinstance(patient_word, str) and patient_word:
        patient_id, _ = await executor.patient(turn, patient_word)
    subject = request.options.get("subject")
    created = await executor.composer.request_team(
        TeamRequest(
            chosen.id,
            on_behalf_of=turn.spico_id,
            acting_as=turn.acting,
            message=message.strip("\n"),
            subject=subject if isinstance(subject, str) and subject.strip() else None,
            patient_id=patient_id,
            idempotency_key=f"matrix:{turn.where.event_id}",
        )
    )
    await executor.audit(turn, "command.team", created.id)
    lines = [
        text(turn.language, "team_requested", team=chosen.name, subject=created.subject),
        executor.room_note(created.members),
    ]
    turn.say("\n".join(lines))

"""What the demo tells the user: where everything runs, and once the bridge is ready, a sample
conversation to try in every world."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.core.model import matrix_users_by_spico_id
from bridge.demo.state import INFO_NAME, Demo
from bridge.demo.worlds import SandboxView

#: The line the demo prints once the bridge answers ready (tests wait for it).
READY_LINE = "The demo is ready"
PORTAL_ALIAS_PREFIX = "spico_"  # bridge.matrix.sink.PORTAL_ALIAS_PREFIX
WORLD_NAMES = {"matrix": "Matrix", "mail": "mail"}


def sample_of(
    view: SandboxView, data: dict[str, Any], users: dict[str, str], mailboxes: dict[str, str]
) -> dict[str, Any] | None:
    """A demo conversation and one of its members (not its author: the author gets no mail of
    their own messages) reachable in every world the demo runs."""
    by_member = matrix_users_by_spico_id(users)
    for conversation in view.conversations:
        for member in sorted(m["id"] for m in conversation["members"]):
            if member == conversation["created_by"]:
                continue
            if users and member not in by_member:
                continue
            if mailboxes and member not in mailboxes:
                continue
            sample: dict[str, Any] = {
                "conversation_id": conversation["id"],
                "subject": conversation["subject"],
                "member": member,
                "author": conversation["created_by"],
            }
            if member in by_member:
                from bridge.matrix.portal_state import alias_localpart

                server_name = data["matrix"]["server_name"]
                local = alias_localpart(PORTAL_ALIAS_PREFIX, conversation["id"])
                sample["room_alias"] = f"#{local}:{server_name}"
                sample["matrix_user"] = by_member[member]
            if member in mailboxes:
                sample["mailbox"] = mailboxes[member]
            return sample
    return None


def link_sample_of(
    view: SandboxView, users: dict[str, str], mailboxes: dict[str, str]
) -> dict[str, Any] | None:
    """A demo member with a Matrix account and a mailbox, left unmapped so that they can try
    self-service (``lier``): the last such member of the demo conversations (``sample_of``
    takes the first)."""
    by_member = matrix_users_by_spico_id(users)
    authors = {c["created_by"] for c in view.conversations}
    candidates = [m for m in view.members if m in by_member and m in mailboxes and m not in authors]
    if len(candidates) < 2:  # the sample's member keeps their mapping
        return None
    member = candidates[-1]
    return {"member": member, "matrix_user": by_member[member], "mailbox": mailboxes[member]}


def banner(demo: Demo, view: SandboxView, secret_folder: Path) -> str:
    token_file = secret_folder / "spico-token"
    lines = [
        "",
        f"SPICO sandbox: {view.url} (bearer token in {token_file}; "
        f"{len(view.conversations)} demo conversations seeded)",
        f'  try: curl -H "Authorization: Bearer $(cat {token_file})" '
        f"'{view.url}/directory/search?q=martin'",
    ]
    matrix = demo.info.get("matrix")
    if matrix:
        sample = ", ".join(sorted(matrix["users"])[:3])
        lines += [
            f"Matrix: Synapse at {matrix['homeserver']} (server name {matrix['server_name']}); "
            f"{len(matrix['users'])} demo users, one per member of the demo conversations "
            f"(e.g. {sample}), password in {matrix['password_file']}.",
            "  Open the rooms with any Matrix client (Element: homeserver "
            f"{matrix['homeserver']}).",
        ]
    mail = demo.info.get("mail")
    if mail:
        lines += [
            f"Mail: IMAPS 127.0.0.1:{mail['imaps']['port']}, submission "
            f"127.0.0.1:{mail['submission']['port']} (STARTTLS), CA {mail['ca_file']}; one "
            f"mailbox per demo member (their MSSanté address), password in "
            f"{mail['password_file']}.",
            f"  Their state (queue, mailboxes) is in {mail['state']}, removed on stop; their "
            f"logs in {mail['logs']}.",
        ]
    for section, why in demo.left_out.items():
        lines.append(f"Left out: {WORLD_NAMES.get(section, section)}, because {why}.")
    lines += [
        f"Bridge database: {demo.info['database']}; config {demo.info['config']}",
        f"Everything about this run: {demo.state_dir / INFO_NAME}",
        "Starting the bridge… Ctrl-C stops everything the demo started.",
    ]
    return "\n".join(lines)


def try_it(demo: Demo) -> str:
    lines = [f"\n{READY_LINE} ({demo.state_dir / INFO_NAME})."]
    sample = demo.info.get("sample")
    if sample:
        lines.append(
            f"Try it with the conversation \u201c{sample['subject']}\u201d "
            f"(SPICO id {sample['conversation_id']}):"
        )
        if "matrix_user" in sample:
            matrix = demo.info["matrix"]
            lines.append(
                f"  Matrix: log in to {matrix['homeserver']} as {sample['matrix_user']} "
                f"(password in {matrix['password_file']}), accept the invitation to "
                f"{sample['room_alias']} and write in it: the message goes to SPICO"
                + (" and by mail to its other members." if "mailbox" in sample else ".")
            )
        if "mailbox" in sample:
            mail = demo.info["mail"]
            lines.append(
                f"  Mail: open {sample['mailbox']} (IMAPS 127.0.0.1:{mail['imaps']['port']}, "
                f"password in {mail['password_file']}) and reply to the mail "
                f"\u201c[SPICO] {sample['subject']}\u201d (submission "
                f"127.0.0.1:{mail['submission']['port']}, STARTTLS): the reply shows up in "
                "SPICO and in the Matrix room."
            )
    link = demo.info.get("link_sample")
    if link:
        matrix, mail = demo.info["matrix"], demo.info["mail"]
        lines.append(
            f"Link an account yourself: log in as {link['matrix_user']} (not linked yet), open "
            f"a direct room with {matrix['bot_user_id']} and type "
            f"\u201clier {link['member']}\u201d; "
            f"the code arrives in {link['mailbox']} (IMAPS 127.0.0.1:{mail['imaps']['port']}); "
            "type \u201ccode <the code>\u201d: the rooms of their conversations invite you."
        )
    lines.append("Ctrl-C stops everything the demo started.")
    return "\n".join(lines)

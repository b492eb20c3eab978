"""The sandbox's own SQLite file: schema, seeding and every query the server needs.

The methods return plain JSON-ready dicts in the contract's shapes (see ../openapi.yaml) and
raise :class:`SandboxError` for refusals the API reports. Writers do not commit: the server wraps
each request in ``with db.transaction():`` so that a change, its events and its idempotency record
are committed together or not at all. One connection, used from the event loop thread only.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import unicodedata
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bridge.spico.sandbox.seed import Directory

JSON = dict[str, Any]

RECENT_SEARCHES_KEPT = 20
_SEARCH_INDEX = {"professionals": "professional_search", "structures": "structure_search"}
PROFESSIONAL_STATUSES = ("online", "active", "absent", "inactive")

SCHEMA = """
-- 'seed' is written in the seeding transaction: its absence means the directory is missing.
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS structures (
    num INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    finess TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    city TEXT NOT NULL,
    mssante_address TEXT NOT NULL UNIQUE,
    search_text TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS professionals (
    num INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    id_kind TEXT NOT NULL CHECK (id_kind IN ('rpps', 'adeli')),
    rpps TEXT UNIQUE,
    adeli TEXT UNIQUE,
    civility TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    profession TEXT NOT NULL,
    city TEXT NOT NULL,
    structure_id TEXT REFERENCES structures(id),
    mssante_address TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    has_account INTEGER NOT NULL,
    search_text TEXT NOT NULL
);
-- Accent- and case-folded token index over names, profession and city (prefix queries).
CREATE VIRTUAL TABLE IF NOT EXISTS professional_search USING fts5(
    search_text, content='professionals', content_rowid='num',
    tokenize='unicode61 remove_diacritics 2', prefix='1 2 3'
);
CREATE VIRTUAL TABLE IF NOT EXISTS structure_search USING fts5(
    search_text, content='structures', content_rowid='num',
    tokenize='unicode61 remove_diacritics 2', prefix='1 2 3'
);
CREATE TABLE IF NOT EXISTS delegations (
    holder_id TEXT NOT NULL REFERENCES professionals(id),
    account_id TEXT NOT NULL REFERENCES professionals(id),
    PRIMARY KEY (holder_id, account_id)
);
CREATE TABLE IF NOT EXISTS favorites (
    account_id TEXT NOT NULL REFERENCES professionals(id),
    target_id TEXT NOT NULL,
    added_at TEXT NOT NULL,
    PRIMARY KEY (account_id, target_id)
);
CREATE TABLE IF NOT EXISTS recent_searches (
    account_id TEXT NOT NULL REFERENCES professionals(id),
    q TEXT NOT NULL,
    kind TEXT NOT NULL,  -- '' when the search covered every kind
    at TEXT NOT NULL,
    PRIMARY KEY (account_id, q, kind)
);
CREATE TABLE IF NOT EXISTS patients (
    id TEXT PRIMARY KEY,
    ins TEXT NOT NULL UNIQUE,
    ins_oid TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    birth_date TEXT NOT NULL,
    sex TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS care_circle (
    patient_id TEXT NOT NULL REFERENCES patients(id),
    professional_id TEXT NOT NULL REFERENCES professionals(id),
    role TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (patient_id, professional_id)
);
CREATE INDEX IF NOT EXISTS care_circle_by_professional ON care_circle (professional_id);
CREATE TABLE IF NOT EXISTS active_files (
    account_id TEXT NOT NULL REFERENCES professionals(id),
    patient_id TEXT NOT NULL REFERENCES patients(id),
    PRIMARY KEY (account_id, patient_id)
);
CREATE TABLE IF NOT EXISTS resource_teams (
    num INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    mssante_address TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS resource_team_members (
    team_id TEXT NOT NULL REFERENCES resource_teams(id),
    professional_id TEXT NOT NULL REFERENCES professionals(id),
    position INTEGER NOT NULL,
    PRIMARY KEY (team_id, professional_id)
);
CREATE TABLE IF NOT EXISTS conversations (
    num INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    subject TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL REFERENCES professionals(id),
    patient_id TEXT REFERENCES patients(id),
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS conversation_members (
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    member_id TEXT NOT NULL REFERENCES professionals(id),
    added_at TEXT NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, member_id)
);
CREATE INDEX IF NOT EXISTS conversation_members_by_member ON conversation_members (member_id);
CREATE TABLE IF NOT EXISTS messages (
    num INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id),
    author_id TEXT REFERENCES professionals(id),
    sent_by TEXT REFERENCES professionals(id),
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    idempotency_key TEXT,
    kind TEXT NOT NULL DEFAULT 'message',
    about TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_conversation ON messages (conversation_id, num);
CREATE TABLE IF NOT EXISTS attachments (
    num INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    message_id TEXT NOT NULL REFERENCES messages(id),
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    content BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS attachments_by_message ON attachments (message_id, num);
-- Stored responses of POSTs that carried an Idempotency-Key, replayed on a retry.
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
-- The event feed: an INTEGER PRIMARY KEY without AUTOINCREMENT is max+1, hence gap-free
-- (rows are never deleted and a rolled-back insert leaves no trace).
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    conversation_id TEXT,
    actor_id TEXT,
    data TEXT NOT NULL
);
"""


class SandboxError(Exception):
    """A refusal the API reports as ``{"error": code, "message": message}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class NewAttachment:
    filename: str
    content_type: str
    content: bytes


def now_iso() -> str:
    """UTC timestamp with milliseconds, ``Z`` suffix (the contract's date-time format)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fold(text: str) -> str:
    """Lower-case, accent-free form of ``text`` (how queries and exact keys are compared)."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def fts_prefix_query(text: str) -> str | None:
    """An FTS5 query requiring every word of ``text`` as a token prefix (None if no word)."""
    words = re.findall(r"[^\W_]+", fold(text))
    if not words:
        return None
    return " AND ".join(f'"{word}"*' for word in words)


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


class SandboxDB:
    """Queries and changes on the sandbox database."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self._in_transaction = False
        self.conn.executescript("BEGIN;" + SCHEMA + "COMMIT;")

    @property
    def is_seeded(self) -> bool:
        return self._one("SELECT 1 FROM meta WHERE key = 'seed'") is not None

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """One write transaction (BEGIN IMMEDIATE … COMMIT, ROLLBACK on any exception)."""
        if self._in_transaction:
            yield
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._in_transaction = False

    def _one(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, tuple(params)).fetchone()

    def _all(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, tuple(params)).fetchall()

    # ------------------------------------------------------------------ seeding

    def load_directory(self, directory: Directory, seed: int) -> None:
        """Write a generated directory (only into a database that has none yet)."""
        with self.transaction():
            self.conn.execute("INSERT INTO meta VALUES ('seed', ?)", (str(seed),))
            self.conn.executemany(
                "INSERT INTO structures (id, finess, name, kind, city, mssante_address,"
                " search_text) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        s.id,
                        s.finess,
                        s.name,
                        s.kind,
                        s.city,
                        s.mssante_address,
                        f"{s.name} {s.kind} {s.city}",
                    )
                    for s in directory.structures
                ],
            )
            self.conn.executemany(
                "INSERT INTO professionals (id, id_kind, rpps, adeli, civility, first_name,"
                " last_name, profession, city, structure_id, mssante_address, status,"
                " has_account, search_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        p.id,
                        p.id_kind,
                        p.rpps,
                        p.adeli,
                        p.civility,
                        p.first_name,
                        p.last_name,
                        p.profession,
                        p.city,
                        p.structure_id,
                        p.mssante_address,
                        p.status,
                        int(p.has_account),
                        f"{p.first_name} {p.last_name} {p.profession} {p.city}",
                    )
                    for p in directory.professionals
                ],
            )
            self.conn.execute(
                "INSERT INTO professional_search (professional_search) VALUES ('rebuild')"
            )
            self.conn.execute("INSERT INTO structure_search (structure_search) VALUES ('rebuild')")
            self.conn.executemany(
                "INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (p.id, p.ins, p.ins_oid, p.first_name, p.last_name, p.birth_date, p.sex)
                    for p in directory.patients
                ],
            )
            self.conn.executemany(
                "INSERT INTO care_circle VALUES (?, ?, ?, ?)",
                [
                    (m.patient_id, m.professional_id, m.role, position)
                    for position, m in enumerate(directory.care_circles)
                ],
            )
            self.conn.executemany(
                "INSERT OR IGNORE INTO active_files VALUES (?, ?)", directory.active_files
            )
            self.conn.executemany(
                "INSERT INTO delegations VALUES (?, ?)",
                [(d.holder_id, d.account_id) for d in directory.delegations],
            )
            for team in directory.resource_teams:
                self.conn.execute(
                    "INSERT INTO resource_teams (id, name, description, mssante_address)"
                    " VALUES (?, ?, ?, ?)",
                    (team.id, team.name, team.description, team.mssante_address),
                )
                self.conn.executemany(
                    "INSERT INTO resource_team_members VALUES (?, ?, ?)",
                    [(team.id, member, position) for position, member in enumerate(team.members)],
                )

    def create_demo_conversations(self, count: int, seed: int) -> None:
        """Create ``count`` conversations with a few messages (first seed only)."""
        rng = random.Random(seed)
        accounts = [
            r["id"]
            for r in self._all("SELECT id FROM professionals WHERE has_account ORDER BY num")
        ]
        lines = (
            "Bonjour, pouvez-vous me rappeler au sujet de la sortie prévue ?",
            "Le passage infirmier est confirmé pour demain matin.",
            "Je vous transmets le compte rendu dès réception.",
            "Merci, c'est noté de mon côté.",
            "Une réunion de concertation est proposée jeudi à 14 h.",
        )
        for index in range(count):
            author, *others = rng.sample(accounts, rng.randint(2, 4))
            with self.transaction():
                conversation, _ = self.create_conversation(
                    created_by=author,
                    sent_by=author,
                    members=others,
                    subject=f"Coordination de démonstration n° {index + 1}",
                    body=rng.choice(lines),
                    patient_id=None,
                    attachments=[],
                    idempotency_key=None,
                )
                for _ in range(rng.randint(0, 3)):
                    writer = rng.choice([author, *others])
                    self.post_message(
                        conversation["id"],
                        author_id=writer,
                        sent_by=writer,
                        body=rng.choice(lines),
                        attachments=[],
                        idempotency_key=None,
                    )

    # ------------------------------------------------------------------ directory

    @staticmethod
    def _professional_json(row: sqlite3.Row) -> JSON:
        return {
            "type": "professional",
            "id": row["id"],
            "id_kind": row["id_kind"],
            "rpps": row["rpps"],
            "adeli": row["adeli"],
            "civility": row["civility"],
            "first_name": row["first_name"],
            "last_name": row["last_name"],
            "profession": row["profession"],
            "city": row["city"],
            "structure_id": row["structure_id"],
            "mssante_address": row["mssante_address"],
            "status": row["status"],
            "has_account": bool(row["has_account"]),
        }

    @staticmethod
    def _structure_json(row: sqlite3.Row) -> JSON:
        return {
            "type": "structure",
            "id": row["id"],
            "finess": row["finess"],
            "name": row["name"],
            "kind": row["kind"],
            "city": row["city"],
            "mssante_address": row["mssante_address"],
        }

    @staticmethod
    def _patient_json(row: sqlite3.Row) -> JSON:
        return {
            key: row[key]
            for key in ("id", "ins", "ins_oid", "first_name", "last_name", "birth_date", "sex")
        }

    def professional(self, professional_id: str) -> JSON | None:
        row = self._one("SELECT * FROM professionals WHERE id = ?", (professional_id,))
        return self._professional_json(row) if row else None

    def require_professional(self, professional_id: str) -> JSON:
        found = self.professional(professional_id)
        if found is None:
            raise SandboxError(
                404, "not_found", f"No professional with id {professional_id} in the directory."
            )
        return found

    def require_account(self, account_id: str) -> JSON:
        """A professional who holds a SPICO account (404 otherwise)."""
        found = self.require_professional(account_id)
        if not found["has_account"]:
            raise SandboxError(
                404, "no_account", f"Professional {account_id} has no SPICO account."
            )
        return found

    def structure(self, structure_id: str) -> JSON | None:
        row = self._one("SELECT * FROM structures WHERE id = ?", (structure_id,))
        return self._structure_json(row) if row else None

    def lookup_address(self, address: str) -> JSON | None:
        """The professional or structure whose MSSanté address this is (case-insensitive)."""
        folded = address.strip().lower()
        row = self._one("SELECT * FROM professionals WHERE mssante_address = ?", (folded,))
        if row:
            return self._professional_json(row)
        row = self._one("SELECT * FROM structures WHERE mssante_address = ?", (folded,))
        return self._structure_json(row) if row else None

    def _search_filter(self, table: str, q: str) -> tuple[str, list[Any]]:
        """WHERE clause: every word as a token prefix, or the exact identifier/address."""
        text = q.strip()
        if not text:
            return "1", []
        clauses: list[str] = []
        params: list[Any] = []
        fts_query = fts_prefix_query(text)
        if fts_query:
            index = _SEARCH_INDEX[table]
            clauses.append(f"num IN (SELECT rowid FROM {index} WHERE {index} MATCH ?)")
            params.append(fts_query)
        exact_columns = ("id", "rpps", "adeli") if table == "professionals" else ("id", "finess")
        compact = re.sub(r"\s", "", text)
        for column in exact_columns:
            clauses.append(f"{column} = ?")
            params.append(compact)
        clauses.append("mssante_address = ?")
        params.append(text.lower())
        return "(" + " OR ".join(clauses) + ")", params

    def search(self, q: str, kind: str | None, limit: int, offset: int) -> tuple[list[JSON], int]:
        """Directory search; professionals come before structures when both kinds are asked."""
        results: list[JSON] = []
        total = 0
        plan = [
            ("professionals", "last_name, first_name, num", self._professional_json),
            ("structures", "name, num", self._structure_json),
        ]
        for table, order, to_json in plan:
            if kind is not None and table != kind + "s":
                continue
            where, params = self._search_filter(table, q)
            count = self._one(f"SELECT count(*) FROM {table} WHERE {where}", params)[0]
            skip = max(0, offset - total)
            room = limit - len(results)
            if room > 0 and skip < count:
                rows = self._all(
                    f"SELECT * FROM {table} WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                    [*params, room, skip],
                )
                results.extend(to_json(row) for row in rows)
            total += count
        return results, total

    def record_search(self, account_id: str, q: str, kind: str | None) -> None:
        text = q.strip()
        if not text:
            return
        # Delete then insert (not an upsert): a repeated search takes a new rowid, so it is
        # the newest even when two searches share a millisecond timestamp.
        self.conn.execute(
            "DELETE FROM recent_searches WHERE account_id = ? AND q = ? AND kind = ?",
            (account_id, text, kind or ""),
        )
        self.conn.execute(
            "INSERT INTO recent_searches VALUES (?, ?, ?, ?)",
            (account_id, text, kind or "", now_iso()),
        )
        self.conn.execute(
            "DELETE FROM recent_searches WHERE account_id = ? AND rowid NOT IN ("
            " SELECT rowid FROM recent_searches WHERE account_id = ?"
            " ORDER BY at DESC, rowid DESC LIMIT ?)",
            (account_id, account_id, RECENT_SEARCHES_KEPT),
        )

    def recent_searches(self, account_id: str) -> list[JSON]:
        rows = self._all(
            "SELECT q, kind, at FROM recent_searches WHERE account_id = ?"
            " ORDER BY at DESC, rowid DESC",
            (account_id,),
        )
        return [{"q": r["q"], "kind": r["kind"] or None, "at": r["at"]} for r in rows]

    def set_status(self, professional_id: str, status: str) -> JSON:
        current = self.require_professional(professional_id)
        if current["status"] != status:
            self.conn.execute(
                "UPDATE professionals SET status = ? WHERE id = ?", (status, professional_id)
            )
            self._emit(
                "status.changed",
                None,
                professional_id,
                {"professional_id": professional_id, "status": status},
            )
            current["status"] = status
        return current

    # ------------------------------------------------------------------ accounts

    def acting_accounts(self, holder_id: str) -> list[JSON]:
        """Accounts ``holder_id`` may act as: their own first, then delegations."""
        own = self.require_account(holder_id)
        rows = self._all(
            "SELECT p.* FROM delegations d JOIN professionals p ON p.id = d.account_id"
            " WHERE d.holder_id = ? ORDER BY p.last_name, p.first_name, p.num",
            (holder_id,),
        )
        return [own, *(self._professional_json(row) for row in rows)]

    def check_acting_as(self, user_id: str, acting_as: str) -> None:
        """403 unless ``user_id`` is ``acting_as`` or holds a delegation on it."""
        if user_id == acting_as:
            return
        if (
            self._one(
                "SELECT 1 FROM delegations WHERE holder_id = ? AND account_id = ?",
                (user_id, acting_as),
            )
            is None
        ):
            raise SandboxError(
                403, "no_delegation", f"You hold no delegation to act as {acting_as}."
            )

    def set_delegation(self, holder_id: str, account_id: str, granted: bool) -> None:
        """Grant or withdraw ``holder_id``'s delegation on ``account_id`` (sandbox only)."""
        self.require_account(holder_id)
        self.require_account(account_id)
        self.conn.execute(
            "DELETE FROM delegations WHERE holder_id = ? AND account_id = ?",
            (holder_id, account_id),
        )
        if granted:
            self.conn.execute("INSERT INTO delegations VALUES (?, ?)", (holder_id, account_id))

    def favorites(self, account_id: str) -> list[JSON]:
        self.require_account(account_id)
        favorites: list[JSON] = []
        for row in self._all(
            "SELECT target_id FROM favorites WHERE account_id = ? ORDER BY added_at, rowid",
            (account_id,),
        ):
            target = self.professional(row["target_id"]) or self.structure(row["target_id"])
            if target is not None:
                favorites.append(target)
        return favorites

    def add_favorite(self, account_id: str, target_id: str) -> None:
        self.require_account(account_id)
        if self.professional(target_id) is None and self.structure(target_id) is None:
            raise SandboxError(
                404, "not_found", f"No professional or structure with id {target_id}."
            )
        self.conn.execute(
            "INSERT OR IGNORE INTO favorites VALUES (?, ?, ?)", (account_id, target_id, now_iso())
        )

    def remove_favorite(self, account_id: str, target_id: str) -> None:
        self.require_account(account_id)
        self.conn.execute(
            "DELETE FROM favorites WHERE account_id = ? AND target_id = ?", (account_id, target_id)
        )

    def active_patients(self, account_id: str) -> list[JSON]:
        self.require_account(account_id)
        rows = self._all(
            "SELECT p.* FROM active_files a JOIN patients p ON p.id = a.patient_id"
            " WHERE a.account_id = ? ORDER BY p.last_name, p.first_name, p.id",
            (account_id,),
        )
        return [self._patient_json(row) for row in rows]

    # ------------------------------------------------------------------ patients

    def patient(self, patient_id: str) -> JSON | None:
        row = self._one("SELECT * FROM patients WHERE id = ?", (patient_id,))
        return self._patient_json(row) if row else None

    def require_patient(self, patient_id: str) -> JSON:
        found = self.patient(patient_id)
        if found is None:
            raise SandboxError(404, "not_found", f"No patient file with id {patient_id}.")
        return found

    def care_circle(self, patient_id: str) -> list[JSON]:
        rows = self._all(
            "SELECT p.*, c.role FROM care_circle c JOIN professionals p"
            " ON p.id = c.professional_id WHERE c.patient_id = ? ORDER BY c.position",
            (patient_id,),
        )
        return [{"professional": self._professional_json(r), "role": r["role"]} for r in rows]

    def check_patient_access(self, accounts: list[str], patient_id: str) -> None:
        """403 unless one of ``accounts`` is in the care circle or has the patient's file."""
        marks = ",".join("?" * len(accounts))
        found = self._one(
            f"SELECT 1 FROM care_circle WHERE patient_id = ? AND professional_id IN ({marks})"
            f" UNION ALL SELECT 1 FROM active_files WHERE patient_id = ?"
            f" AND account_id IN ({marks})",
            [patient_id, *accounts, patient_id, *accounts],
        )
        if found is None:
            raise SandboxError(
                403, "no_patient_access", "You are not part of this patient's care circle."
            )

    def user_accounts(self, user_id: str) -> list[str]:
        """The user's own id and every account they hold a delegation on."""
        rows = self._all("SELECT account_id FROM delegations WHERE holder_id = ?", (user_id,))
        return [user_id, *(r["account_id"] for r in rows)]

    # ------------------------------------------------------------------ resource teams

    def _team_json(self, row: sqlite3.Row) -> JSON:
        members = self._all(
            "SELECT professional_id FROM resource_team_members WHERE team_id = ? ORDER BY position",
            (row["id"],),
        )
        return {
            "id": row["id"],
            "name": row["name"],
            "description": row["description"],
            "members": [m["professional_id"] for m in members],
            "mssante_address": row["mssante_address"],
        }

    def resource_teams(self) -> list[JSON]:
        return [self._team_json(r) for r in self._all("SELECT * FROM resource_teams ORDER BY num")]

    def require_resource_team(self, team_id: str) -> JSON:
        row = self._one("SELECT * FROM resource_teams WHERE id = ?", (team_id,))
        if row is None:
            raise SandboxError(404, "not_found", f"No resource team with id {team_id}.")
        return self._team_json(row)

    # ------------------------------------------------------------------ conversations

    def conversation(self, conversation_id: str) -> JSON | None:
        row = self._one("SELECT * FROM conversations WHERE id = ?", (conversation_id,))
        if row is None:
            return None
        members = self._all(
            "SELECT member_id, added_at FROM conversation_members WHERE conversation_id = ?"
            " ORDER BY position",
            (conversation_id,),
        )
        return {
            "id": row["id"],
            "subject": row["subject"],
            "created_at": row["created_at"],
            "created_by": row["created_by"],
            "patient": self.patient(row["patient_id"]) if row["patient_id"] else None,
            "members": [{"id": m["member_id"], "added_at": m["added_at"]} for m in members],
            "updated_at": row["updated_at"],
        }

    def require_conversation(self, conversation_id: str) -> JSON:
        found = self.conversation(conversation_id)
        if found is None:
            raise SandboxError(404, "not_found", f"No conversation with id {conversation_id}.")
        return found

    @staticmethod
    def check_member(conversation: JSON, account_id: str) -> None:
        if all(member["id"] != account_id for member in conversation["members"]):
            raise SandboxError(
                403, "not_a_member", f"{account_id} is not a member of this conversation."
            )

    def check_reader(self, conversation: JSON, user_id: str) -> None:
        """403 unless the user, or an account they act for, is a member."""
        member_ids = {member["id"] for member in conversation["members"]}
        if member_ids.isdisjoint(self.user_accounts(user_id)):
            raise SandboxError(403, "not_a_member", "You are not a member of this conversation.")

    def list_conversations(
        self, member: str | None, limit: int, offset: int
    ) -> tuple[list[JSON], int]:
        if member is None:
            where, params = "1", []
        else:
            where = "id IN (SELECT conversation_id FROM conversation_members WHERE member_id = ?)"
            params = [member]
        total = self._one(f"SELECT count(*) FROM conversations WHERE {where}", params)[0]
        rows = self._all(
            f"SELECT id FROM conversations WHERE {where}"
            " ORDER BY updated_at DESC, num DESC LIMIT ? OFFSET ?",
            [*params, limit, offset],
        )
        return [self.require_conversation(r["id"]) for r in rows], total

    def _touch(self, conversation_id: str, at: str) -> None:
        self.conn.execute(
            "UPDATE conversations SET updated_at = ? WHERE id = ?", (at, conversation_id)
        )

    def _add_member_row(self, conversation_id: str, member_id: str, at: str) -> None:
        position = self._one(
            "SELECT coalesce(max(position), -1) + 1 FROM conversation_members"
            " WHERE conversation_id = ?",
            (conversation_id,),
        )[0]
        self.conn.execute(
            "INSERT INTO conversation_members VALUES (?, ?, ?, ?)",
            (conversation_id, member_id, at, position),
        )

    def create_conversation(
        self,
        *,
        created_by: str,
        sent_by: str,
        members: list[str],
        subject: str,
        body: str,
        patient_id: str | None,
        attachments: list[NewAttachment],
        idempotency_key: str | None,
    ) -> tuple[JSON, JSON]:
        """Create a conversation and its first message; emits conversation.created then
        message.posted. Members must exist (400 unknown_member)."""
        for member_id in members:
            if self.professional(member_id) is None:
                raise SandboxError(
                    400, "unknown_member", f"members: no professional with id {member_id}."
                )
        if patient_id is not None:
            self.require_patient(patient_id)
            self.check_patient_access([created_by], patient_id)
        at = now_iso()
        conversation_id = _new_id("conv")
        self.conn.execute(
            "INSERT INTO conversations (id, subject, created_at, created_by, patient_id,"
            " updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (conversation_id, subject, at, created_by, patient_id, at),
        )
        for member_id in dict.fromkeys([created_by, *members]):
            self._add_member_row(conversation_id, member_id, at)
        conversation = self.require_conversation(conversation_id)
        self._emit(
            "conversation.created", conversation_id, created_by, {"conversation": conversation}
        )
        message = self.post_message(
            conversation_id,
            author_id=created_by,
            sent_by=sent_by,
            body=body,
            attachments=attachments,
            idempotency_key=idempotency_key,
        )
        return self.require_conversation(conversation_id), message

    def _message_json(self, row: sqlite3.Row) -> JSON:
        attachments = self._all(
            "SELECT id, filename, content_type, size FROM attachments WHERE message_id = ?"
            " ORDER BY num",
            (row["id"],),
        )
        return {
            "id": row["id"],
            "conversation_id": row["conversation_id"],
            "author_id": row["author_id"],
            "sent_by": row["sent_by"],
            "body": row["body"],
            "attachments": [dict(a) for a in attachments],
            "created_at": row["created_at"],
            "idempotency_key": row["idempotency_key"],
            "kind": row["kind"],
            "about": row["about"],
        }

    def post_message(
        self,
        conversation_id: str,
        *,
        author_id: str,
        sent_by: str,
        body: str,
        attachments: list[NewAttachment],
        idempotency_key: str | None,
    ) -> JSON:
        conversation = self.require_conversation(conversation_id)
        self.check_member(conversation, author_id)
        at = now_iso()
        message_id = _new_id("msg")
        self.conn.execute(
            "INSERT INTO messages (id, conversation_id, author_id, sent_by, body, created_at,"
            " idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (message_id, conversation_id, author_id, sent_by, body, at, idempotency_key),
        )
        for attachment in attachments:
            self.conn.execute(
                "INSERT INTO attachments (id, message_id, filename, content_type, size, content)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (
                    _new_id("att"),
                    message_id,
                    attachment.filename,
                    attachment.content_type,
                    len(attachment.content),
                    attachment.content,
                ),
            )
        self._touch(conversation_id, at)
        row = self._one("SELECT * FROM messages WHERE id = ?", (message_id,))
        message = self._message_json(row)
        self._emit("message.posted", conversation_id, author_id, {"message": message})
        return message

    def post_notice(
        self, conversation_id: str, *, body: str, about: str | None, idempotency_key: str
    ) -> JSON:
        """A platform notice (no author), e.g. the bridge telling members a delivery failed;
        emits message.posted like any message, with ``kind: notice``."""
        self.require_conversation(conversation_id)
        at = now_iso()
        message_id = _new_id("msg")
        self.conn.execute(
            "INSERT INTO messages (id, conversation_id, author_id, sent_by, body, created_at,"
            " idempotency_key, kind, about) VALUES (?, ?, NULL, NULL, ?, ?, ?, 'notice', ?)",
            (message_id, conversation_id, body, at, idempotency_key, about),
        )
        self._touch(conversation_id, at)
        message = self._message_json(
            self._one("SELECT * FROM messages WHERE id = ?", (message_id,))
        )
        self._emit("message.posted", conversation_id, None, {"message": message})
        return message

    def messages(self, conversation_id: str, after: str | None, limit: int) -> list[JSON]:
        after_num = 0
        if after:
            row = self._one(
                "SELECT num FROM messages WHERE id = ? AND conversation_id = ?",
                (after, conversation_id),
            )
            if row is None:
                raise SandboxError(
                    400, "bad_request", f"after: no message {after} in this conversation."
                )
            after_num = row["num"]
        rows = self._all(
            "SELECT * FROM messages WHERE conversation_id = ? AND num > ? ORDER BY num LIMIT ?",
            (conversation_id, after_num, limit),
        )
        return [self._message_json(row) for row in rows]

    def attachment(self, attachment_id: str) -> sqlite3.Row | None:
        return self._one(
            "SELECT filename, content_type, content FROM attachments WHERE id = ?", (attachment_id,)
        )

    def rename(self, conversation_id: str, actor: str, subject: str) -> JSON:
        conversation = self.require_conversation(conversation_id)
        self.check_member(conversation, actor)
        if conversation["subject"] != subject:
            at = now_iso()
            self.conn.execute(
                "UPDATE conversations SET subject = ?, updated_at = ? WHERE id = ?",
                (subject, at, conversation_id),
            )
            self._emit("conversation.updated", conversation_id, actor, {"subject": subject})
        return self.require_conversation(conversation_id)

    def add_member(self, conversation_id: str, actor: str, member_id: str) -> JSON:
        conversation = self.require_conversation(conversation_id)
        self.check_member(conversation, actor)
        if self.professional(member_id) is None:
            raise SandboxError(
                400, "unknown_member", f"member_id: no professional with id {member_id}."
            )
        if all(member["id"] != member_id for member in conversation["members"]):
            at = now_iso()
            self._add_member_row(conversation_id, member_id, at)
            self._touch(conversation_id, at)
            self._emit("member.added", conversation_id, actor, {"member_id": member_id})
        return self.require_conversation(conversation_id)

    def remove_member(self, conversation_id: str, actor: str, member_id: str) -> JSON:
        conversation = self.require_conversation(conversation_id)
        self.check_member(conversation, actor)
        member_ids = [member["id"] for member in conversation["members"]]
        if member_id in member_ids:
            if len(member_ids) == 1:
                raise SandboxError(
                    409, "last_member", "The last member cannot leave the conversation."
                )
            self.conn.execute(
                "DELETE FROM conversation_members WHERE conversation_id = ? AND member_id = ?",
                (conversation_id, member_id),
            )
            self._touch(conversation_id, now_iso())
            self._emit("member.removed", conversation_id, actor, {"member_id": member_id})
        return self.require_conversation(conversation_id)

    def link_patient(self, conversation_id: str, actor: str, patient_id: str) -> JSON:
        conversation = self.require_conversation(conversation_id)
        self.check_member(conversation, actor)
        patient = self.require_patient(patient_id)
        self.check_patient_access([actor], patient_id)
        if (conversation["patient"] or {}).get("id") != patient_id:
            self.conn.execute(
                "UPDATE conversations SET patient_id = ?, updated_at = ? WHERE id = ?",
                (patient_id, now_iso(), conversation_id),
            )
            self._emit("patient.linked", conversation_id, actor, {"patient": patient})
        return self.require_conversation(conversation_id)

    def unlink_patient(self, conversation_id: str, actor: str) -> JSON:
        conversation = self.require_conversation(conversation_id)
        self.check_member(conversation, actor)
        if conversation["patient"] is not None:
            self.conn.execute(
                "UPDATE conversations SET patient_id = NULL, updated_at = ? WHERE id = ?",
                (now_iso(), conversation_id),
            )
            self._emit(
                "patient.unlinked",
                conversation_id,
                actor,
                {"patient_id": conversation["patient"]["id"]},
            )
        return self.require_conversation(conversation_id)

    # ------------------------------------------------------------------ idempotency

    def idempotent_response(self, scope: str, key: str) -> tuple[str, str] | None:
        """(request hash, stored JSON response) of an earlier request with this key."""
        row = self._one(
            "SELECT request_hash, response FROM idempotency WHERE scope = ? AND key = ?",
            (scope, key),
        )
        return (row["request_hash"], row["response"]) if row else None

    def store_idempotent_response(
        self, scope: str, key: str, request_hash: str, response: str
    ) -> None:
        self.conn.execute(
            "INSERT INTO idempotency VALUES (?, ?, ?, ?, ?)",
            (scope, key, request_hash, response, now_iso()),
        )

    # ------------------------------------------------------------------ events

    def _emit(
        self, event_type: str, conversation_id: str | None, actor_id: str | None, data: JSON
    ) -> None:
        self.conn.execute(
            "INSERT INTO events (type, occurred_at, conversation_id, actor_id, data)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                event_type,
                now_iso(),
                conversation_id,
                actor_id,
                json.dumps(data, ensure_ascii=False),
            ),
        )

    def head_seq(self) -> int:
        return self._one("SELECT coalesce(max(seq), 0) FROM events")[0]

    def events(self, after: int, limit: int) -> list[JSON]:
        rows = self._all("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit))
        return [
            {
                "seq": r["seq"],
                "type": r["type"],
                "occurred_at": r["occurred_at"],
                "conversation_id": r["conversation_id"],
                "actor_id": r["actor_id"],
                "data": json.loads(r["data"]),
            }
            for r in rows
        ]

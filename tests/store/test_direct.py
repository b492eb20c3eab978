"""Hot statements straight to the SQLite driver (``bridge.store.direct``): the same rows, the
same stored text and the same errors as ``Connection.execute``, and SQLAlchemy's own path
whenever the direct one cannot do what it would."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, bindparam, event, insert, select, text
from sqlalchemy.exc import IntegrityError

from bridge.store import commands, direct, preferences, unread
from bridge.store import mail as mail_store
from bridge.store import matrix as matrix_store
from bridge.store import repositories as repo
from bridge.store.db import make_sync_engine, upgrade
from bridge.store.models import AuditEntry, Cursor, Delivery, ProfessionalRecord
from tests.store.test_claim_fresh import counting

NOW = datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture
def new_engine(tmp_path: Path) -> Iterator[Callable[[str], Engine]]:
    """Engines on fresh, migrated SQLite databases in ``tmp_path``."""
    engines: list[Engine] = []

    def make(name: str) -> Engine:
        url = f"sqlite:///{tmp_path / name}.db"
        upgrade(url)
        engines.append(make_sync_engine(url))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


def _event(seq: int, conversation: str = "c1") -> repo.JournalRow:
    payload = {"seq": seq, "data": {"message": {"id": f"m{seq}", "body": "é ✓ \x00 end"}}}
    return repo.JournalRow(seq, "message.posted", conversation, "p1", NOW.isoformat(), payload)


def _audit(outcome: str) -> repo.AuditRecord:
    return repo.AuditRecord("matrix", "relay.message", outcome, "p1", "c1", "!room", None)


def _scenario(connection: Connection) -> list[Any]:
    """The store's hot functions, in the order a relay uses them, and what each returned."""
    out: list[Any] = []
    repo.set_cursor(connection, "spico:events", "7")
    out.append(repo.get_cursor(connection, "spico:events"))
    out.append(repo.record_events(connection, [_event(1), _event(2, "c2")]))
    out.append(repo.record_events(connection, [_event(2, "c2"), _event(3), _event(4)]))
    out.append(repo.get_events(connection, [1, 2, 3, 99]))
    repo.save_conversation(
        connection, repo.ConversationSnapshot("c1", "Sujet", "p1", ("p1", "p2"), {"id": "x"}, 3)
    )
    out.append(repo.get_conversations(connection, ["c1", "c9"]))
    repo.save_professional(
        connection,
        repo.ProfessionalRow("p2", "Dr", "Anne", "Lévy", "MG", "a@ms.fr", "active", False),
    )
    out.append(repo.get_professionals(connection, ["p1", "p2"]))
    new = [
        repo.NewDelivery(1, "c1", "matrix", "!room", "message"),
        repo.NewDelivery(2, "c2", "mail", "a@ms.fr", "message"),
        repo.NewDelivery(3, "c1", "matrix", "!room", "message"),
        repo.NewDelivery(4, "c1", "matrix", "!room", "message"),
    ]
    fresh = repo.enqueue_fresh(connection, new)
    out.append(fresh)
    out.append(repo.enqueue_fresh(connection, new[:1]))  # already there: nothing inserted
    worlds = ["matrix", "mail"]
    out.append(repo.claim_fresh(connection, "w1", fresh[1:2], now=NOW, worlds=worlds, run=16))
    claimed = repo.claim_due(connection, "w2", now=NOW + timedelta(seconds=1), run=2)
    out.append(claimed)
    out.append(repo.mark_one_done(connection, fresh[1].id, "w1", _audit("done")))
    out.append(repo.mark_one_done(connection, fresh[1].id, "w1", _audit("done")))  # settled
    out.append(repo.mark_done_many(connection, [claimed[0].id, 999], "w2"))
    out.append(repo.release_unattempted(connection, [d.id for d in claimed[1:]], "w2"))
    out.append(repo.live_delivery_counts(connection))
    out.append(repo.claim_due(connection, "w3", now=NOW, worlds=["matrix"], limit=5, run=16))
    repo.record_inbound(
        connection,
        idempotency_key="k1",
        world="mail",
        origin="<a@x>",
        conversation_id="c1",
        author_id="p2",
    )
    out.append(repo.find_inbounds(connection, ["k1", "k2"]))
    repo.add_audits(connection, [_audit("done"), _audit("failed")])
    matrix_store.save_event_link(
        connection,
        event_id="$e1",
        room_id="!room",
        conversation_id="c1",
        spico_message_id="m1",
        direction="out",
    )
    out.append(matrix_store.event_linked(connection, "$e1"))
    out.append(matrix_store.find_out_link(connection, "m1", "!room"))
    out.append(matrix_store.delivered_already(connection, [("m1", "!room"), ("m2", "!room")]))
    out.append(matrix_store.portals_by_room(connection, ["!room"]))
    out.append(matrix_store.journal_transaction(connection, "t1", [{"type": "m.room.message"}]))
    out.append(matrix_store.journal_transaction(connection, "t1", []))
    thread = mail_store.ThreadRow("c1", "p2", "a@ms.fr", "<r@b>", "<l@b>")
    mail_store.record_sent(connection, "<l@b>", thread, handle="h1", spico_message_id="m1")
    out.append(mail_store.sent_and_thread(connection, "<l@b>", "c1", "p2"))
    out.append(mail_store.sent_and_thread(connection, "<new@b>", "c1", "p2"))
    out.append(mail_store.get_thread(connection, "c1", "p2"))
    out.append(mail_store.resolve_handles(connection, ["h1", "h2"]))
    mail_store.save_notification(connection, mail_store.NotificationRow("c1", "p2", NOW, (1, 3)))
    out.append(mail_store.get_notification(connection, "c1", "p2"))
    unread.unread(connection, "c1", ["@a:x", "@b:x"], NOW, 3)
    unread.read(connection, "c1", ["@a:x"])
    out.append(preferences.conversation_choices(connection, ["c1"]))
    out.append(commands.management_rooms(connection, ["!m"]))
    return out


def _run(engine: Engine, work: Callable[[Connection], Any]) -> Any:
    with engine.begin() as connection:
        return work(connection)


def _dump(engine: Engine) -> list[str]:
    """Every table's rows as SQLite stores them (text, not Python values)."""
    raw = engine.raw_connection()
    try:
        return list(raw.driver_connection.iterdump())  # type: ignore[union-attr]
    finally:
        raw.close()


def test_the_hot_functions_store_and_return_the_same_as_sqlalchemy(
    new_engine: Callable[[str], Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    for module in (repo, mail_store, matrix_store):
        monkeypatch.setattr(module, "utcnow", lambda: NOW)
    monkeypatch.setattr(direct, "_CACHE", {})
    through_driver, through_sqlalchemy = new_engine("direct"), new_engine("sqlalchemy")

    got = _run(through_driver, _scenario)
    with counting(through_sqlalchemy) as seen:  # a listener: SQLAlchemy's path
        expected = _run(through_sqlalchemy, _scenario)

    assert seen, "the reference run went through Connection.execute"
    assert len(got) == len(expected)
    for step, (mine, theirs) in enumerate(zip(got, expected, strict=True)):
        assert mine == theirs, f"step {step}"
    assert _dump(through_driver) == _dump(through_sqlalchemy)
    driven = {id(e.statement) for e in direct._CACHE.values() if e.compiled is not None}
    for hot in (repo._CLAIM, repo._HEADS_OF_QUEUES, repo._MARK_ONE_DONE, repo._ADD_AUDITS):
        assert id(hot) in driven


def test_rows_read_by_name_index_and_slice_with_their_types(
    new_engine: Callable[[str], Engine],
) -> None:
    engine = new_engine("rows")
    statement = select(
        ProfessionalRecord.id,
        ProfessionalRecord.has_account,
        ProfessionalRecord.updated_at,
        ProfessionalRecord.first_name.label("given"),
    ).where(ProfessionalRecord.id.in_(bindparam("ids", expanding=True)))
    with engine.begin() as connection:
        for index, account in enumerate((True, False)):
            connection.execute(
                insert(ProfessionalRecord).values(
                    id=f"p{index}", first_name="Zoé", last_name="N", has_account=account
                )
            )
        mine = direct.execute(connection, statement, {"ids": ["p0", "p1", "p9"]}).all()
        theirs = connection.execute(statement, {"ids": ["p0", "p1", "p9"]}).all()
    assert sorted(mine) == sorted(tuple(row) for row in theirs)
    row = min(mine)
    assert (row.id, row.has_account, row.given, row[:2]) == ("p0", True, "Zoé", ("p0", True))
    assert row.updated_at.tzinfo is UTC and row._fields == theirs[0]._fields
    assert min(mine, key=lambda r: r.id)[1] is True and max(mine)[1] is False


def test_scalars_first_one_and_row_counts(new_engine: Callable[[str], Engine]) -> None:
    engine = new_engine("reads")
    put = insert(Cursor)
    values = select(Cursor.value).where(Cursor.source.in_(bindparam("s", expanding=True)))
    change = Cursor.__table__.update().values(value=bindparam("v"))
    with engine.begin() as connection:
        rows = [{"source": s, "value": s.upper(), "updated_at": NOW} for s in "abc"]
        assert direct.execute(connection, put, rows).rowcount == 3
        assert sorted(direct.execute(connection, values, {"s": ["a", "c"]}).scalars().all()) == [
            "A",
            "C",
        ]
        assert direct.execute(connection, values, {"s": ["b"]}).one() == ("B",)
        assert direct.execute(connection, values, {"s": ["b"]}).scalar() == "B"
        assert direct.execute(connection, values, {"s": ["z"]}).first() is None
        assert direct.execute(connection, change, {"v": "x"}).rowcount == 3


def test_returning_from_several_parameter_sets_gives_every_row_in_order(
    new_engine: Callable[[str], Engine],
) -> None:
    engine = new_engine("returning")
    with engine.begin() as connection:
        repo.record_events(connection, [_event(1)])
        new = [
            repo.NewDelivery(1, "c1", "matrix", destination, "message")
            for destination in ("!b", "!a", "!c")
        ]
        fresh = repo.enqueue_fresh(connection, new)
    assert [d.destination for d in fresh] == ["!b", "!a", "!c"]
    assert [d.id for d in fresh] == sorted(d.id for d in fresh)


def test_a_constraint_error_is_sqlalchemys_without_the_values(
    new_engine: Callable[[str], Engine],
) -> None:
    engine = new_engine("errors")
    put = insert(Cursor)
    secret = {"source": "a", "value": "patient Dupont", "updated_at": NOW}
    with engine.begin() as connection:
        direct.execute(connection, put, secret)
        with pytest.raises(IntegrityError) as raised:
            direct.execute(connection, put, secret)
    assert isinstance(raised.value.orig, sqlite3.IntegrityError)
    assert "Dupont" not in str(raised.value)


_VALUES_OF = select(Cursor.value).where(Cursor.source.in_(bindparam("s", expanding=True)))


@pytest.mark.parametrize(
    ("statement", "params"),
    [
        (text("SELECT value FROM cursors WHERE source = :s"), {"s": "a"}),  # rows unknown ahead
        (select(Cursor.value).where(Cursor.source.in_(bindparam("s", expanding=True))), {"s": []}),
        (
            select(Cursor.value).where(Cursor.source.in_(bindparam("s", expanding=True))),
            {"s": {"a"}},
        ),
        (insert(Cursor), {"source": "b", "value": "2"}),  # updated_at: a Python default
    ],
    ids=["text", "empty IN", "a set as IN list", "a Python column default"],
)
def test_what_the_direct_path_does_not_do_goes_to_sqlalchemy(
    new_engine: Callable[[str], Engine], statement: Any, params: dict[str, Any]
) -> None:
    engine = new_engine("fallback")
    with engine.begin() as connection:
        connection.execute(insert(Cursor).values(source="a", value="1", updated_at=NOW))
        result = direct.execute(connection, statement, params)
        if statement.is_select or isinstance(statement, type(text(""))):
            assert [tuple(row) for row in result] == [
                tuple(row) for row in connection.execute(statement, params)
            ]
        stored = connection.execute(select(Cursor.source, Cursor.updated_at)).all()
    inserted = {params["source"]} if statement.is_dml else set()
    assert {source for source, _ in stored} == {"a"} | inserted
    assert all(at is not None for _, at in stored)  # the Python default filled in


@pytest.mark.parametrize("name", ["before_cursor_execute", "after_cursor_execute"])
def test_a_cursor_listener_sees_every_statement(
    new_engine: Callable[[str], Engine], name: str
) -> None:
    engine = new_engine("listened")
    seen: list[str] = []

    def listen(_c: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(engine, name, listen)
    with engine.begin() as connection:
        repo.add_audits(connection, [_audit("done")])
        assert connection.execute(select(AuditEntry.outcome)).scalars().all() == ["done"]
    assert any(statement.startswith("INSERT INTO audit") for statement in seen)


def test_outside_a_transaction_sqlalchemy_begins_one(new_engine: Callable[[str], Engine]) -> None:
    engine = new_engine("autobegin")
    with engine.connect() as connection:
        assert not connection.in_transaction()
        direct.execute(connection, insert(Cursor), {"source": "a", "value": "1", "updated_at": NOW})
        assert connection.in_transaction()  # SQLAlchemy's path: it began one
        connection.commit()
    with engine.connect() as connection:
        assert connection.scalar(select(Cursor.value)) == "1"


def test_statements_beyond_the_bound_are_not_remembered(
    new_engine: Callable[[str], Engine],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    engine = new_engine("bounded")
    monkeypatch.setattr(direct, "_CACHE", {})
    monkeypatch.setattr(direct, "_full_reported", False)
    monkeypatch.setattr(direct, "MAX_STATEMENTS", 2)
    with engine.begin() as connection:
        for source in "abcd":  # a statement built per call: the cache must not grow with them
            statement = select(Delivery.id).where(Delivery.queue == source)
            assert direct.execute(connection, statement).all() == []
    assert len(direct._CACHE) == 2
    warnings = [r for r in caplog.records if "direct SQLite path" in r.getMessage()]
    assert len(warnings) == 1, "said once, not once per statement"

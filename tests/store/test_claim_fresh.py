"""The claim of the deliveries a transaction just enqueued (``enqueue_fresh``, then
``claim_fresh``: the outbox's hand-off), on SQLite and PostgreSQL: a fresh delivery alone at
the head of its queue is claimed in two statements; anything else takes the general claim's
path, and a queue's order holds either way."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select

from bridge.store import repositories as repo
from bridge.store.db import make_sync_engine
from bridge.store.models import LIVE_QUEUE_STATES, Delivery
from bridge.store.repositories import ClaimedDelivery, FreshDelivery, JournalRow, NewDelivery

#: The outbox's claim options (``OutboxWorkers._claim_batch``).
OPTIONS: dict[str, Any] = {
    "limit": 16,
    "lease": timedelta(minutes=5),
    "worlds": ["matrix", "mail"],
    "run": 16,
}


@contextmanager
def own_engine(url: str) -> Iterator[Engine]:
    """A synchronous engine of its own on the test database (statements counted on it only)."""
    engine = make_sync_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements ``engine`` executes inside the block. The listener also sends them
    through ``Connection.execute`` (``bridge.store.direct`` steps aside for listened engines),
    which runs the same statements as the direct path, except that an INSERT ... RETURNING given
    several rows is one statement here and one execution per row on the direct path."""
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    with own_engine(database_url) as engine:
        yield engine


def _journal(engine: Engine, *seqs: int) -> None:
    with engine.begin() as connection:
        repo.record_events(
            connection,
            [JournalRow(s, "message.posted", "c1", "81", "2026-11-28T00:00:00Z", {}) for s in seqs],
        )


def _to(seq: int, conversation: str = "c1", world: str = "matrix") -> NewDelivery:
    return NewDelivery(seq, conversation, world, "room" if world == "matrix" else "a@x", "message")


def _enqueue(engine: Engine, *deliveries: NewDelivery) -> None:
    with engine.begin() as connection:
        repo.enqueue(connection, deliveries)


def _states(engine: Engine) -> list[tuple[int, str, str | None, int, bool]]:
    """(event seq, state, claimed by, attempts, leased) of every delivery, by id."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                Delivery.event_seq,
                Delivery.state,
                Delivery.claimed_by,
                Delivery.attempts,
                Delivery.lease_until.is_not(None),
            ).order_by(Delivery.id)
        )
        return [
            (seq, state, by, attempts, bool(leased)) for seq, state, by, attempts, leased in rows
        ]


def _claim_fresh(
    engine: Engine, *deliveries: NewDelivery, **options: Any
) -> tuple[list[FreshDelivery], list[ClaimedDelivery], list[str]]:
    """``deliveries`` enqueued and claimed by "w1" in one transaction: (fresh, claimed, the
    statements of the claim)."""
    with engine.begin() as connection:
        fresh = repo.enqueue_fresh(connection, deliveries)
        with counting(engine) as statements:
            claimed = repo.claim_fresh(connection, "w1", fresh, **(OPTIONS | options))
    return fresh, claimed, statements


def test_enqueue_fresh_returns_the_deliveries_it_inserted(engine: Engine) -> None:
    _journal(engine, 1, 2)
    with engine.begin() as connection:
        fresh = repo.enqueue_fresh(connection, [_to(1), _to(1, world="mail")])
        again = repo.enqueue_fresh(connection, [_to(1), _to(2)])
        assert repo.enqueue(connection, [_to(1), _to(2)]) == 0
        assert repo.enqueue_fresh(connection, []) == []
    first, mail = sorted(fresh, key=lambda d: d.id)
    assert first == FreshDelivery(first.id, 1, "c1", "matrix", "room", "message", 0, _to(1).queue)
    assert (mail.world, mail.destination, mail.queue) == ("mail", "a@x", "c1|mail:a@x")
    assert [(d.event_seq, d.world) for d in again] == [(2, "matrix")], "not those already there"
    assert again[0].id > mail.id
    assert [s[:2] for s in _states(engine)] == [(1, "pending"), (1, "pending"), (2, "pending")]


def test_a_lone_fresh_head_is_claimed_in_two_statements(engine: Engine) -> None:
    _journal(engine, 1, 2)
    fresh, claimed, statements = _claim_fresh(engine, _to(1), _to(2, "c2"))
    assert len(statements) == 2, statements
    assert statements[0].lstrip().upper().startswith("SELECT")
    assert statements[1].lstrip().upper().startswith("UPDATE")
    assert claimed == [
        ClaimedDelivery(
            d.id, d.event_seq, d.conversation_id, "matrix", "room", "message", 1, d.queue
        )
        for d in sorted(fresh, key=lambda d: d.id)
    ]
    # As the general claim leaves them: sending, held by w1 under a lease, one attempt.
    assert _states(engine) == [(1, "sending", "w1", 1, True), (2, "sending", "w1", 1, True)]
    with engine.begin() as connection:
        assert repo.claim_due(connection, "w2", **OPTIONS) == []
        assert repo.mark_done_many(connection, [c.id for c in claimed], "w1") == {
            c.id for c in claimed
        }


def test_the_general_path_costs_more_statements_for_the_same_claim(engine: Engine) -> None:
    _journal(engine, 1)
    with engine.begin() as connection:
        repo.enqueue_fresh(connection, [_to(1)])
        with counting(engine) as statements:
            (claimed,) = repo.claim_due(connection, "w1", **OPTIONS)
    assert claimed.event_seq == 1 and claimed.attempts == 1
    # heads, due heads, followers, claim: where the fast path issues two
    assert len(statements) == 4, statements


def test_two_fresh_deliveries_of_one_queue_take_the_general_path_in_order(
    engine: Engine,
) -> None:
    _journal(engine, 1, 2, 3)
    _, claimed, statements = _claim_fresh(engine, _to(1), _to(2), _to(3, "c2"))
    assert len(statements) == 4, "heads, due heads, followers, claim"
    by_queue: dict[str, list[tuple[int, int]]] = {}
    for c in claimed:
        by_queue.setdefault(c.conversation_id, []).append((c.event_seq, c.attempts))
    assert by_queue == {"c1": [(1, 1), (2, 1)], "c2": [(3, 1)]}
    assert [s[:3] for s in _states(engine)] == [(s, "sending", "w1") for s in (1, 2, 3)]


def test_without_runs_only_the_first_fresh_delivery_of_a_queue_is_claimed(
    engine: Engine,
) -> None:
    _journal(engine, 1, 2)
    _, claimed, _ = _claim_fresh(engine, _to(1), _to(2), run=1)
    assert [c.event_seq for c in claimed] == [1]
    assert [s[:2] for s in _states(engine)] == [(1, "sending"), (2, "pending")]


def test_a_fresh_delivery_behind_a_pending_one_is_claimed_after_it(engine: Engine) -> None:
    _journal(engine, 1, 2, 3)
    _enqueue(engine, _to(1))
    # c1: an older head, so the general path; c2: a lone fresh head, claimed by it as well.
    _, claimed, statements = _claim_fresh(engine, _to(2), _to(3, "c2"))
    assert len(statements) == 4
    assert [c.event_seq for c in claimed if c.conversation_id == "c1"] == [1, 2]
    assert sorted(c.event_seq for c in claimed) == [1, 2, 3]
    assert [s[:3] for s in _states(engine)] == [(s, "sending", "w1") for s in (1, 2, 3)]


def test_without_runs_a_fresh_delivery_behind_a_pending_one_waits(engine: Engine) -> None:
    _journal(engine, 1, 2)
    _enqueue(engine, _to(1))
    _, claimed, _ = _claim_fresh(engine, _to(2), run=1)
    assert [c.event_seq for c in claimed] == [1], "the head, not the fresh one behind it"
    assert [s[:2] for s in _states(engine)] == [(1, "sending"), (2, "pending")]


def test_a_fresh_delivery_behind_a_sending_one_is_not_claimed(engine: Engine) -> None:
    _journal(engine, 1, 2)
    _enqueue(engine, _to(1))
    with engine.begin() as connection:
        (head,) = repo.claim_due(connection, "w0", **OPTIONS)
    _, claimed, _ = _claim_fresh(engine, _to(2))
    assert claimed == []
    assert [s[:3] for s in _states(engine)] == [(1, "sending", "w0"), (2, "pending", None)]
    with engine.begin() as connection:
        assert repo.mark_done(connection, head.id, "w0")
        assert [c.event_seq for c in repo.claim_due(connection, "w1", **OPTIONS)] == [2]


def test_a_fresh_delivery_of_a_world_not_served_is_not_claimed(engine: Engine) -> None:
    _journal(engine, 1)
    _, claimed, _ = _claim_fresh(engine, _to(1, world="mail"), _to(1), worlds=["matrix"])
    assert [(c.event_seq, c.world) for c in claimed] == [(1, "matrix")]
    assert [s[:2] for s in _states(engine)] == [(1, "pending"), (1, "sending")]


def _postgres_only(connection: Connection) -> None:
    if connection.dialect.name == "sqlite":
        pytest.skip("one writer at a time on SQLite: no transaction runs beside another")


def test_a_fast_claim_is_never_seen_pending_by_another_process(engine: Engine) -> None:
    """PostgreSQL: another process claiming meanwhile (the general claim, SKIP LOCKED) never
    sees the fresh delivery pending: not before the commit (invisible), not after (claimed)."""
    _journal(engine, 1)
    with engine.connect() as mine:
        _postgres_only(mine)
        with mine.begin():
            fresh = repo.enqueue_fresh(mine, [_to(1)])
            claimed = repo.claim_fresh(mine, "me:w0", fresh, **OPTIONS)
            assert [c.event_seq for c in claimed] == [1]
            with engine.begin() as theirs:
                assert repo.claim_due(theirs, "them:w0", **OPTIONS) == []
    with engine.begin() as theirs:
        assert repo.claim_due(theirs, "them:w0", **OPTIONS) == []
    assert _states(engine) == [(1, "sending", "me:w0", 1, True)]


def test_a_delivery_committed_behind_a_fresh_head_waits_for_a_later_claim(
    engine: Engine,
) -> None:
    """PostgreSQL: another process commits a delivery of the queue behind the fresh one before
    its claim: the fast path claims the head alone; the other follows it once it is settled."""
    _journal(engine, 1, 2)
    with engine.connect() as mine:
        _postgres_only(mine)
        with mine.begin():
            fresh = repo.enqueue_fresh(mine, [_to(1)])
            _enqueue(engine, _to(2))  # their unit of work, committed first
            with counting(engine) as statements:
                claimed = repo.claim_fresh(mine, "me:w0", fresh, **OPTIONS)
            assert len(statements) == 2, "the fast path: 1 is its queue's head"
            assert [c.event_seq for c in claimed] == [1], "2 is left for a later claim"
    assert [s[:3] for s in _states(engine)] == [(1, "sending", "me:w0"), (2, "pending", None)]
    with engine.begin() as theirs:
        assert repo.claim_due(theirs, "them:w0", **OPTIONS) == [], "held behind 1"
        assert repo.mark_done(theirs, claimed[0].id, "me:w0")
        assert [c.event_seq for c in repo.claim_due(theirs, "them:w0", **OPTIONS)] == [2]


def test_a_queues_head_is_read_from_its_live_deliveries_not_its_history(engine: Engine) -> None:
    """Done deliveries are kept: the heads of a claim (general or fresh) and the followers
    read the partial index of live deliveries, so a long-lived conversation costs each claim
    what a new one does (the planner's choice, checked on both databases)."""
    assert LIVE_QUEUE_STATES == (repo.PENDING, repo.SENDING)
    seqs = list(range(1, 302))
    _journal(engine, *seqs)
    _enqueue(engine, *(_to(s) for s in seqs))
    with engine.begin() as connection:
        done = connection.execute(select(Delivery.id).order_by(Delivery.id).limit(300)).scalars()
        connection.execute(
            Delivery.__table__.update()
            .where(Delivery.id.in_(list(done)))
            .values(state="done", finished_at=repo.utcnow())
        )
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE deliveries")
            connection.exec_driver_sql("SET enable_seqscan = off")
        # Every live queue's head: through either index of the live deliveries.
        plan = _plan(connection, repo._HEADS, {})
        assert "ix_deliveries_live_queue" in plan or "ix_deliveries_state_due" in plan, plan
        for statement, parameters in (
            (repo._HEADS_OF_QUEUES, {"queues": [_to(1).queue]}),
            (
                repo._FOLLOWERS,
                {"queues": [_to(1).queue], "heads": [0], "after": 0, "limit": 16},
            ),
        ):
            plan = _plan(connection, statement, parameters)
            assert "ix_deliveries_live_queue" in plan, plan
        head = connection.scalars(repo._HEADS_OF_QUEUES, {"queues": [_to(1).queue]}).all()
        assert len(head) == 1 and head == connection.scalars(repo._HEADS).all()


def _plan(connection: Connection, statement: Any, parameters: dict[str, Any]) -> str:
    """The database's query plan of ``statement`` as it runs (the SQL and parameters the
    driver is given), as text."""
    sent: list[tuple[str, Any]] = []

    def capture(_c: object, _cursor: object, sql: str, values: Any, *_: object) -> None:
        sent.append((sql, values))

    event.listen(connection, "before_cursor_execute", capture)
    try:
        connection.execute(statement, parameters).all()
    finally:
        event.remove(connection, "before_cursor_execute", capture)
    (sql, values), *_ = sent
    explain = "EXPLAIN QUERY PLAN " if connection.dialect.name == "sqlite" else "EXPLAIN "
    rows = connection.exec_driver_sql(explain + sql, values)
    return " ".join(str(row[-1]) for row in rows)

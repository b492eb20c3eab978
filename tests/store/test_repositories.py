"""Repositories on SQLite and PostgreSQL: cursors, journal, outbox ordering, links, audit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from bridge.store import repositories as repo
from bridge.store.models import AuditEntry, utcnow
from bridge.store.repositories import JournalRow, NewDelivery, Store


def _event(seq: int, conversation: str = "c1") -> JournalRow:
    return JournalRow(
        seq,
        "message.posted",
        conversation,
        "810000000001",
        "2026-11-25T10:00:00Z",
        {"message": {"id": f"m{seq}"}},
    )


async def _journal(store: Store, *seqs: int, conversation: str = "c1") -> None:
    async with store.transaction() as session:
        for seq in seqs:
            await repo.in_session(session, repo.record_event, _event(seq, conversation))


async def test_cursor_is_created_then_moved(store: Store) -> None:
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.get_cursor, "spico") is None
        await repo.in_session(session, repo.set_cursor, "spico", "10")
    async with store.transaction() as session:
        await repo.in_session(session, repo.set_cursor, "spico", "42")
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.get_cursor, "spico") == "42"


async def test_cursor_and_journal_roll_back_together(store: Store) -> None:
    try:
        async with store.transaction() as session:
            await repo.in_session(session, repo.record_event, _event(1))
            await repo.in_session(session, repo.set_cursor, "spico", "1")
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.get_cursor, "spico") is None
        assert await repo.in_session(session, repo.get_event, 1) is None


async def test_a_batch_is_journaled_in_one_statement_and_a_replay_records_nothing(
    store: Store,
) -> None:
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.record_events, [_event(1), _event(2)]) == {1, 2}
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.record_events, [_event(2), _event(3)]) == {3}
        assert await repo.in_session(session, repo.record_events, []) == set()
        assert sorted(await repo.in_session(session, repo.get_events, [1, 2, 3])) == [1, 2, 3]


async def test_journal_records_an_event_once(store: Store) -> None:
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.record_event, _event(7)) is True
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.record_event, _event(7)) is False
        stored = await repo.in_session(session, repo.get_event, 7)
    assert stored == _event(7)


async def test_conversation_snapshot_upsert(store: Store) -> None:
    snapshot = repo.ConversationSnapshot(
        "c9", "Sortie d'hospitalisation", "81", ("81", "82"), None, 3
    )
    async with store.transaction() as session:
        await repo.in_session(session, repo.save_conversation, snapshot)
    updated = repo.ConversationSnapshot("c9", "Sortie", "81", ("81", "82", "83"), {"id": "p1"}, 5)
    async with store.transaction() as session:
        await repo.in_session(session, repo.save_conversation, updated)
    async with store.transaction() as session:
        assert await repo.get_conversation(session, "c9") == updated
        assert await repo.count_conversations(session) == 1


async def test_conversations_are_found_by_member_and_by_patient(store: Store) -> None:
    async with store.transaction() as session:
        for snapshot in (
            repo.ConversationSnapshot("c1", "a", "81", ("81", "812"), {"id": "p1"}, 1),
            repo.ConversationSnapshot("c2", "b", "82", ("82", "81"), {"id": "p1"}, 1),
            repo.ConversationSnapshot("c3", "c", "82", ("82", "83"), {"id": "p2"}, 1),
            repo.ConversationSnapshot("c4", "d", "83", ("83",), None, 1),
        ):
            await repo.in_session(session, repo.save_conversation, snapshot)
    async with store.transaction() as session:
        # "81" is a prefix of "812": only exact members count.
        assert sorted(await repo.in_session(session, repo.conversations_with_member, "81")) == [
            "c1",
            "c2",
        ]
        assert await repo.in_session(session, repo.conversations_with_member, "8") == []
        assert await repo.members_of_patient_conversations(session, "p1") == {"81", "812", "82"}
        assert await repo.members_of_patient_conversations(session, "p9") == set()


async def test_enqueue_ignores_duplicates(store: Store) -> None:
    await _journal(store, 1)
    delivery = NewDelivery(1, "c1", "matrix", "room", "message")
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.enqueue, [delivery]) == 1
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.enqueue, [delivery]) == 0
        assert (await repo.delivery_counts(session))["pending"] == 1


async def test_claim_keeps_order_within_a_queue(store: Store) -> None:
    await _journal(store, 1, 2, 3)
    async with store.transaction() as session:
        await repo.in_session(
            session,
            repo.enqueue,
            [NewDelivery(s, "c1", "mail", "a@x.mssante.fr", "message") for s in (1, 2, 3)],
        )
        await repo.in_session(
            session, repo.enqueue, [NewDelivery(1, "c1", "matrix", "room", "message")]
        )
    async with store.transaction() as session:
        first = await repo.in_session(session, repo.claim_due, "w1", limit=10)
    # Only the head of each queue: seq 1 by mail and seq 1 in Matrix, never seq 2 yet.
    assert sorted((c.world, c.event_seq) for c in first) == [("mail", 1), ("matrix", 1)]
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.claim_due, "w2", limit=10) == []
        mail_head = next(c for c in first if c.world == "mail")
        assert await repo.in_session(session, repo.mark_done, mail_head.id, "w1")
    async with store.transaction() as session:
        second = await repo.in_session(session, repo.claim_due, "w2", limit=10)
    assert [(c.world, c.event_seq) for c in second] == [("mail", 2)]


async def test_claim_with_runs_takes_each_head_and_its_followers_in_order(store: Store) -> None:
    await _journal(store, 1, 2, 3, 4, 5)
    async with store.transaction() as session:
        await repo.in_session(
            session,
            repo.enqueue,
            [NewDelivery(s, "c1", "matrix", "room", "message") for s in (1, 2, 3, 4, 5)],
        )
        await repo.in_session(
            session, repo.enqueue, [NewDelivery(s, "c1", "mail", "a", "message") for s in (1, 2)]
        )
    async with store.transaction() as session:
        claimed = await repo.in_session(session, repo.claim_due, "w1", limit=10, run=3)
    by_queue = {}
    for c in claimed:
        by_queue.setdefault(c.world, []).append(c.event_seq)
    assert by_queue == {"matrix": [1, 2, 3], "mail": [1, 2]}
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.claim_due, "w2", limit=10, run=3) == [], (
            "queues are held"
        )
        first, second, third = (c for c in claimed if c.world == "matrix")
        assert await repo.in_session(session, repo.mark_done, first.id, "w1")
        later = utcnow() + timedelta(seconds=60)
        assert await repo.in_session(
            session, repo.mark_retry, second.id, "w1", at=later, error="429"
        )
        # The third was not tried: it goes back without counting an attempt.
        assert await repo.in_session(session, repo.release_unattempted, [third.id], "w1") == 1
    async with store.transaction() as session:
        assert [
            c.world for c in await repo.in_session(session, repo.claim_due, "w2", limit=10, run=3)
        ] == []
        # Once the retried head is due, it leads its run again, followed by 3 and 4.
        again = await repo.in_session(
            session, repo.claim_due, "w2", limit=10, run=3, now=later + timedelta(seconds=1)
        )
    assert [(c.event_seq, c.attempts) for c in again if c.world == "matrix"] == [
        (2, 2),
        (3, 1),
        (4, 1),
    ]


async def test_retry_waits_and_blocks_its_queue(store: Store) -> None:
    await _journal(store, 1, 2)
    async with store.transaction() as session:
        await repo.in_session(
            session,
            repo.enqueue,
            [NewDelivery(s, "c1", "matrix", "room", "message") for s in (1, 2)],
        )
    async with store.transaction() as session:
        (claimed,) = await repo.in_session(session, repo.claim_due, "w1")
        later = utcnow() + timedelta(seconds=60)
        assert await repo.in_session(
            session, repo.mark_retry, claimed.id, "w1", at=later, error="429"
        )
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.claim_due, "w1") == []
        again = await repo.in_session(
            session, repo.claim_due, "w1", now=later + timedelta(seconds=1)
        )
    assert [(c.event_seq, c.attempts) for c in again] == [(1, 2)]


async def test_failed_delivery_unblocks_the_next(store: Store) -> None:
    await _journal(store, 1, 2)
    async with store.transaction() as session:
        await repo.in_session(
            session,
            repo.enqueue,
            [NewDelivery(s, "c1", "matrix", "room", "message") for s in (1, 2)],
        )
    async with store.transaction() as session:
        (claimed,) = await repo.in_session(session, repo.claim_due, "w1")
        assert await repo.in_session(
            session, repo.mark_failed, claimed.id, "w1", error="550 refused"
        )
    async with store.transaction() as session:
        (following,) = await repo.in_session(session, repo.claim_due, "w1")
        assert following.event_seq == 2
        counts = await repo.delivery_counts(session)
    assert counts == {"pending": 0, "sending": 1, "done": 0, "failed": 1}


async def test_lost_claim_cannot_be_finished(store: Store) -> None:
    await _journal(store, 1)
    async with store.transaction() as session:
        await repo.in_session(
            session, repo.enqueue, [NewDelivery(1, "c1", "matrix", "room", "message")]
        )
    async with store.transaction() as session:
        (claimed,) = await repo.in_session(
            session, repo.claim_due, "dead-worker", lease=timedelta(seconds=1)
        )
    async with store.transaction() as session:
        released = await repo.in_session(
            session, repo.release_claims, expired_before=utcnow() + timedelta(seconds=2)
        )
        assert released == 1
    async with store.transaction() as session:
        assert not await repo.in_session(session, repo.mark_done, claimed.id, "dead-worker")
        (reclaimed,) = await repo.in_session(session, repo.claim_due, "w2")
    assert reclaimed.id == claimed.id and reclaimed.attempts == 2


async def test_one_done_settles_only_a_claim_still_held_and_writes_its_audit(
    store: Store,
) -> None:
    await _journal(store, 1)
    await store.run(lambda c: repo.enqueue(c, [NewDelivery(1, "c1", "matrix", "room", "message")]))
    (claimed,) = await store.run(lambda c: repo.claim_due(c, "w1"))
    audit = repo.AuditRecord(world="matrix", action="relay.message", outcome="done")
    assert not await store.run(lambda c: repo.mark_one_done(c, claimed.id, "w2", audit))
    assert await store.run(lambda c: repo.mark_one_done(c, claimed.id, "w1", audit))
    assert not await store.run(lambda c: repo.mark_one_done(c, claimed.id, "w1", audit))
    async with store.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 1
        counts = await repo.delivery_counts(session)
    assert counts["done"] == 1 and counts["sending"] == 0


async def test_release_claims_of_one_worker_on_shutdown(store: Store) -> None:
    await _journal(store, 1, 2, conversation="c1")
    await _journal(store, 3, conversation="c2")
    async with store.transaction() as session:
        await repo.in_session(
            session,
            repo.enqueue,
            [
                NewDelivery(1, "c1", "matrix", "room", "message"),
                NewDelivery(3, "c2", "matrix", "room", "message"),
            ],
        )
        await repo.in_session(session, repo.claim_due, "w1", limit=1)
        await repo.in_session(session, repo.claim_due, "w2", limit=1)
    async with store.transaction() as session:
        assert await repo.in_session(session, repo.release_claims, worker_id="w1") == 1
        assert (await repo.delivery_counts(session))["sending"] == 1


async def test_concurrent_claims_never_share_a_delivery(store: Store) -> None:
    """Several workers claiming at once (SKIP LOCKED on PostgreSQL) take each delivery once."""
    seqs = list(range(1, 41))
    for seq in seqs:
        await _journal(store, seq, conversation=f"c{seq % 8}")
    async with store.transaction() as session:
        await repo.in_session(
            session,
            repo.enqueue,
            [NewDelivery(s, f"c{s % 8}", "matrix", "room", "message") for s in seqs],
        )
    taken: list[int] = []

    async def worker(name: str) -> None:
        while True:
            async with store.transaction() as session:
                batch = await repo.in_session(session, repo.claim_due, name, limit=2)
                for claimed in batch:
                    taken.append(claimed.event_seq)
                    assert await repo.in_session(session, repo.mark_done, claimed.id, name)
            if not batch:
                async with store.transaction() as session:
                    if (await repo.delivery_counts(session))["pending"] == 0:
                        return
                await asyncio.sleep(0.01)

    await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
    assert sorted(taken) == seqs


async def test_inbound_link_is_recorded_once_and_marked(store: Store) -> None:
    key = "matrix:$event1"
    async with store.transaction() as session:
        first = await repo.in_session(
            session,
            repo.record_inbound,
            idempotency_key=key,
            world="matrix",
            origin="!room:localhost",
            conversation_id="c1",
            author_id="810000000001",
        )
    async with store.transaction() as session:
        again = await repo.in_session(
            session,
            repo.record_inbound,
            idempotency_key=key,
            world="matrix",
            origin="!room:localhost",
            conversation_id="c1",
            author_id="810000000001",
        )
        await repo.in_session(
            session, repo.mark_inbound, key, state="posted", spico_message_id="m7"
        )
    assert first == again and first.state == "pending"
    async with store.transaction() as session:
        found = await repo.in_session(session, repo.find_inbound, key)
    assert found is not None and found.spico_message_id == "m7" and found.state == "posted"


async def test_audit_rows_are_added(store: Store) -> None:
    async with store.transaction() as session:
        await repo.add_audit(
            session,
            world="matrix",
            action="relay",
            outcome="done",
            actor_id="810000000001",
            conversation_id="c1",
            destination="room",
        )
    async with store.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(AuditEntry)) == 1


async def test_professionals_are_saved_read_and_status_updated(store: Store) -> None:
    row = repo.ProfessionalRow(
        "810001234565",
        "Dr",
        "Anne",
        "Martin",
        "cardiologue",
        "anne.martin@sandbox.mssante.fr",
        "active",
        True,
    )
    async with store.transaction() as session:
        await repo.in_session(session, repo.save_professional, row)
        assert await repo.in_session(session, repo.set_professional_status, row.id, "inactive")
        assert not await repo.in_session(
            session, repo.set_professional_status, "899999999999", "online"
        )
    async with store.transaction() as session:
        found = await repo.in_session(session, repo.get_professionals, [row.id, "899999999999"])
    assert list(found) == [row.id]
    assert found[row.id].status == "inactive" and found[row.id].last_name == "Martin"

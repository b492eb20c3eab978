"""Process liveness: a dead process's claims are recognised at once, a live one's never."""

from __future__ import annotations

from bridge.store import repositories as repo
from bridge.store.liveness import Liveness, owner_of
from bridge.store.repositories import NewDelivery, Store


def test_owner_is_the_process_part_of_a_worker_name() -> None:
    assert owner_of("123456:w3") == "123456"


async def test_a_running_process_is_alive_and_a_stopped_one_is_dead(store: Store) -> None:
    other, me = Liveness(store), Liveness(store)
    await other.start()
    await me.start()
    try:
        async with store.transaction() as session:
            assert not await me.is_dead(session, me.owner)
            # SQLite has a single owner process: any other name is a previous, dead run.
            assert await me.is_dead(session, other.owner) is (store.dialect == "sqlite")
        await other.stop()
        async with store.transaction() as session:
            assert await me.is_dead(session, other.owner)
    finally:
        await other.stop()
        await me.stop()


async def test_claims_of_a_process_are_released_together(store: Store) -> None:
    async with store.transaction() as session:
        for seq in (1, 2, 3):
            await repo.record_event(
                session,
                repo.JournalRow(seq, "message.posted", f"c{seq}", None, "2026-11-25T10:00:00Z", {}),
            )
        await repo.enqueue(
            session, [NewDelivery(s, f"c{s}", "matrix", "room", "message") for s in (1, 2, 3)]
        )
        await repo.claim_due(session, "111:w0", limit=1)
        await repo.claim_due(session, "111:w1", limit=1)
        await repo.claim_due(session, "222:w0", limit=1)
    async with store.transaction() as session:
        assert await repo.claim_holders(session) == {"111:w0", "111:w1", "222:w0"}
        assert await repo.release_claims_of_process(session, "111") == 2
        assert await repo.claim_holders(session) == {"222:w0"}

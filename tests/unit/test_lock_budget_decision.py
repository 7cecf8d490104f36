"""The lock budget's verdict from what one poll of pg_locks / pg_blocking_pids saw (pure)."""

from __future__ import annotations

from scrydon_migrate.watchdog import HeldLock, Limits, Waiter, decide

LIMITS = Limits(budget_ms=5000, large_rows=1_000_000, large_bytes=512 * 1024 * 1024)
SMALL = HeldLock(16384, "public.orders", "AccessExclusiveLock", None, rows=5_000, pages=40)
LARGE = HeldLock(16385, "public.events", "ShareLock", None, rows=2_500_000, pages=20_000)


def waiter(relation: int | None, waited_ms: int = 100) -> Waiter:
    return Waiter(4242, "api-platform", "active", "INSERT INTO orders ...", waited_ms, relation)


def test_a_lock_on_a_small_table_with_nobody_waiting_is_never_cancelled():
    assert decide([SMALL], [], {SMALL.key: 0.0}, now=60.0, limits=LIMITS) is None


def test_a_lock_held_past_the_budget_while_a_writer_waits_for_its_table_is_cancelled():
    trip = decide([SMALL], [waiter(SMALL.relation)], {SMALL.key: 0.0}, now=5.2, limits=LIMITS)

    assert trip is not None
    assert trip.describe() == (
        "held an ACCESS EXCLUSIVE lock on 'public.orders' for 5,200 ms while 1 session (longest 100 ms) waited"
    )


def test_a_lock_within_the_budget_is_kept_even_with_writers_waiting():
    assert decide([SMALL], [waiter(SMALL.relation)], {SMALL.key: 0.0}, now=4.9, limits=LIMITS) is None


def test_a_lock_on_a_large_table_past_the_budget_is_cancelled_with_nobody_waiting():
    trip = decide([LARGE], [], {LARGE.key: 0.0}, now=5.5, limits=LIMITS)

    assert trip is not None and trip.mode == "SHARE" and "on a large table (~2,500,000 rows)" in trip.describe()


def test_a_writer_waiting_past_the_budget_for_rows_the_migration_wrote_cancels_it():
    trip = decide([], [waiter(None, waited_ms=5100)], {}, now=100.0, limits=LIMITS)

    assert trip is not None
    assert trip.describe() == "held row locks on rows it wrote while 1 session (longest 5,100 ms) waited behind it"


def test_a_waiter_on_another_table_does_not_count_against_a_lock():
    assert decide([SMALL], [waiter(99999)], {SMALL.key: 0.0}, now=6.0, limits=LIMITS) is None

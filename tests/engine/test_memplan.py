"""The greedy first-fit planner: reuse, no overlap, and the printed plan."""
import random

from harness.engine.memplan import Lifetime, plan_memory


def test_disjoint_lifetimes_share_bytes():
    # a chain a -> b -> c: a and c never live together, so c reuses a's bytes.
    plan = plan_memory([Lifetime("a", 1000, 0, 1), Lifetime("b", 1000, 1, 2), Lifetime("c", 1000, 2, 3)])
    assert plan.arena_size == 2000  # two buffers of 1000 live at once, never three
    assert plan.offset("a") == plan.offset("c")


def test_largest_first_first_fit():
    plan = plan_memory([Lifetime("big", 4096, 0, 5), Lifetime("s1", 100, 0, 2), Lifetime("s2", 100, 3, 5)])
    assert plan.offset("big") == 0
    assert plan.offset("s1") == plan.offset("s2") == 4096  # the small ones share the slot after big
    assert plan.arena_size == 4096 + 104  # 100 rounded up to the 8-byte alignment


def test_random_plans_are_valid_and_near_the_bound():
    rng = random.Random(7)
    for _ in range(50):
        bufs = []
        for i in range(30):
            first = rng.randrange(40)
            bufs.append(Lifetime(f"t{i}", rng.randrange(1, 5000), first, first + rng.randrange(6)))
        plan = plan_memory(bufs)
        plan.check()
        # first fit is not optimal, but on these it stays within 1.6x of the live-bytes bound
        assert plan.peak_live_bytes() <= plan.arena_size <= 1.6 * plan.peak_live_bytes()


def test_table_lists_every_buffer():
    plan = plan_memory([Lifetime("x", 16, 0, 1), Lifetime("y", 8, 1, 1)])
    table = plan.table()
    assert "arena: 24 B" in table and " x" in table and " y" in table

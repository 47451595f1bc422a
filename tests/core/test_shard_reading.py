"""How a sharded reader fetches its shards (``s3dlio._shard_plan.read``)."""

from __future__ import annotations

import threading

import numpy as np

from s3dlio import _shard_plan


def test_the_next_two_shards_are_fetched_at_once():
    # Each fetch waits for another to be under way: with one shard fetched
    # ahead at a time the barrier breaks, and the read raises.
    plan = _shard_plan.Plan(np.array([2, 2, 2, 2]))
    barrier = threading.Barrier(2, timeout=10)
    fetched: list[int] = []

    def fetch(shard: int) -> list[tuple[int, int]]:
        fetched.append(shard)
        if shard < 2:
            barrier.wait()
        return [(shard, i) for i in range(2)]

    got = list(_shard_plan.read(plan, np.arange(8), 8, fetch))
    assert got == [(s, i) for s in range(4) for i in range(2)]
    assert sorted(fetched) == [0, 1, 2, 3]


def test_shards_are_fetched_in_the_order_of_first_use_and_let_go_after_last():
    plan = _shard_plan.Plan(np.array([3, 3, 3]))
    held: set[int] = set()
    most = 0

    class Shard(list):
        def __init__(self, shard: int) -> None:
            super().__init__((shard, i) for i in range(3))
            held.add(shard)
            self.shard = shard

        def __del__(self) -> None:
            held.discard(self.shard)

    order = np.array([6, 0, 7, 1, 8, 2, 3, 4, 5])  # shards 2, 0 interleaved, then 1
    out = []
    for sample in _shard_plan.read(plan, order, len(order), Shard):
        most = max(most, len(held))
        out.append(sample)
    assert out == [divmod(int(g), 3) for g in order]
    assert most <= 3 and not held

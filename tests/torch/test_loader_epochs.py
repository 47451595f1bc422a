"""Epochs as training scripts run them: ``set_epoch`` reaches persistent
DataLoader workers (fork, spawn, forkserver), each new pass is the next
epoch when ``set_epoch`` is never called, and a state is global: it
resumes at another world size, and is refused with a clear error where it
cannot be exact.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader
from torch_helpers import assert_once_with_padding, indices_of, make_objects

import s3dlio_jax
from s3dlio_torch import S3IterableDataset

pytestmark = [
    pytest.mark.filterwarnings(
        "ignore:os.fork\\(\\) was called.*JAX is multithreaded:RuntimeWarning"
    ),
    pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork.*:DeprecationWarning"),
    # 3 workers on a 2-core machine: torch suggests fewer, which is not the point here.
    pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning"),
]

N, SEED, WORKERS = 23, 9, 2


@pytest.fixture
def uris(file_prefix) -> list[str]:
    return make_objects(file_prefix, N)


def _dataset(uris, **kwargs) -> S3IterableDataset:
    return S3IterableDataset(uris, shuffle=True, seed=SEED, batch_fetch=4, **kwargs)


def _expected(uris, epoch: int, workers: int = WORKERS) -> list[int]:
    """What a DataLoader(batch_size=None) over ``workers`` yields in
    ``epoch``: each worker's share, taken in turns (from the in-process
    dataset's own order and dealing)."""
    ds = _dataset(uris)
    ds.set_epoch(epoch)
    order = ds.order()
    shares = [order[w::workers].tolist() for w in range(workers)]
    return [s[i] for i in range(max(map(len, shares))) for s in shares if i < len(s)]


def _loader(ds, context: str, **kwargs) -> DataLoader:
    return DataLoader(
        ds,
        batch_size=None,
        num_workers=WORKERS,
        multiprocessing_context=context,
        timeout=120,  # spawned workers import torch first; the machine may be busy
        **kwargs,
    )


@pytest.mark.timeout(180)
@pytest.mark.parametrize("context", ["fork", "spawn", "forkserver"])
def test_persistent_workers_follow_the_epoch(uris, context):
    ds = _dataset(uris)
    loader = _loader(ds, context, persistent_workers=True)
    # Chosen epochs (not in order), then passes without set_epoch.
    for chosen, epoch in [(3, 3), (1, 1), (None, 2), (None, 3)]:
        if chosen is not None:
            ds.set_epoch(chosen)
        assert indices_of(loader) == _expected(uris, epoch), f"epoch {epoch}"
        assert ds.epoch == epoch


@pytest.mark.timeout(120)
def test_each_new_pass_is_the_next_epoch(uris):
    fresh_workers = _dataset(uris)
    loader = _loader(fresh_workers, "fork")
    assert [indices_of(loader) for _ in range(3)] == [_expected(uris, e) for e in range(3)]

    # A loader made anew each epoch, with the same seeded generator (its
    # workers get the same seeds), or with another worker count.
    remade = _dataset(uris)
    seeded = [
        indices_of(_loader(remade, "fork", generator=torch.Generator().manual_seed(0)))
        for _ in range(2)
    ]
    assert seeded == [_expected(uris, e) for e in range(2)]
    for epoch, workers in [(2, 3), (3, 1), (4, 2)]:
        got = indices_of(DataLoader(remade, batch_size=None, num_workers=workers, timeout=60))
        assert got == _expected(uris, epoch, workers), f"epoch {epoch}, {workers} workers"

    in_process = _dataset(uris)
    passes = [indices_of(in_process) for _ in range(3)]
    assert passes == [_expected(uris, e, workers=1) for e in range(3)]
    assert in_process.epoch == 2
    in_process.set_epoch(0)
    assert indices_of(in_process) == passes[0]

    jax_loader = s3dlio_jax.JaxLoader(uris, batch_size=5, shuffle=True, seed=SEED)
    jax_passes = [[int(i) for b in jax_loader for i in _jax_ids(b)] for _ in range(2)]
    assert jax_passes == [_expected(uris, e, workers=1) for e in range(2)]
    jax_loader.set_epoch(0)
    assert [int(i) for b in jax_loader for i in _jax_ids(b)] == jax_passes[0]


def _jax_ids(batch) -> list[int]:
    return np.asarray(batch)[:, :8].copy().view(np.int64)[:, 0].tolist()


def test_state_is_global_and_resumes_at_another_world_size(uris):
    """Ranks in step (each took 3 samples) agree on the state; it resumes
    at 3 ranks with every sample not yet read exactly once (and padding)."""
    before, taken = [], []
    for rank in range(2):
        ds = _dataset(uris, rank=rank, world_size=2)
        it = iter(ds)
        taken += indices_of(next(it) for _ in range(3))
        before.append(json.loads(json.dumps(ds.state_dict())))
    assert before[0] == before[1]
    assert before[0]["position"] == 6

    rest = []
    for rank in range(3):
        ds = _dataset(uris, rank=rank, world_size=3)
        ds.load_state_dict(before[0])
        rest.append(indices_of(ds))
    assert len({len(r) for r in rest}) == 1  # (23 - 6) = 17 -> 6 each, 1 repeat
    order = _dataset(uris).order().tolist()
    assert_once_with_padding(taken + sum(rest, []), N, order)
    assert len(taken) + sum(map(len, rest)) == N + 1


def test_jax_loader_resumes_at_another_process_count(uris):
    def loader(index: int, count: int) -> s3dlio_jax.JaxLoader:
        return s3dlio_jax.JaxLoader(
            uris, batch_size=2, shuffle=True, seed=SEED, process_index=index, process_count=count
        )

    taken, states = [], []
    for index in range(3):
        first = loader(index, 3)
        it = iter(first)
        taken += sum((_jax_ids(next(it)) for _ in range(2)), [])
        states.append(first.state_dict())
    assert states[0] == states[1] == states[2]
    rest = []
    for index in range(2):
        resumed = loader(index, 2)
        resumed.load_state_dict(states[0])
        rest.append(sum((_jax_ids(b) for b in resumed), []))
    assert len(rest[0]) == len(rest[1]) == 6  # 23 - 12 = 11 left: one repeat
    order = _dataset(uris).order().tolist()
    assert_once_with_padding(taken + sum(rest, []), N, order)


def test_jax_processes_take_the_same_number_of_batches(file_prefix):
    uris = make_objects(file_prefix, 103)

    def shapes(drop: bool) -> list[list[int]]:
        return [
            [
                len(b)
                for b in s3dlio_jax.JaxLoader(
                    uris, batch_size=8, drop_remainder=drop, process_index=i, process_count=2
                )
            ]
            for i in range(2)
        ]

    assert shapes(False) == [[8] * 6 + [4]] * 2  # 52 each: the order's first sample again
    assert shapes(True) == [[8] * 6] * 2


@pytest.mark.timeout(120)
def test_states_that_cannot_be_exact_are_refused(uris):
    ds = _dataset(uris)
    for _ in _loader(ds, "fork"):
        break
    with pytest.raises(RuntimeError, match="StatefulDataLoader"):
        ds.state_dict()  # the workers read; this copy cannot know how far

    worker_state = {
        "epoch": 0,
        "seed": SEED,
        "objects": N,
        "worker": 0,
        "yielded": 3,
        "pass": {"position": 0, "also_done": [], "rank": 0, "world_size": 1, "workers": 2},
    }
    with pytest.raises(ValueError, match="whole state_dict"):
        _dataset(uris).load_state_dict(worker_state)
    with pytest.raises(ValueError, match="different seed"):
        S3IterableDataset(uris, seed=SEED + 1).load_state_dict(_dataset(uris).state_dict())
    with pytest.raises(ValueError, match="objects"):
        _dataset(uris[:-1]).load_state_dict(_dataset(uris).state_dict())

    persistent = _dataset(uris)
    loader = _loader(persistent, "fork", persistent_workers=True)
    indices_of(loader)
    persistent.load_state_dict({**_dataset(uris).state_dict(), "position": 5})
    with pytest.raises(RuntimeError, match="persistent workers"):
        indices_of(loader)


def test_set_epoch_keeps_a_loaded_state_for_that_epoch(uris):
    first = _dataset(uris)
    first.set_epoch(4)
    it = iter(first)
    seen = indices_of(next(it) for _ in range(5))
    state = first.state_dict()
    resumed = _dataset(uris)
    resumed.load_state_dict(state)
    resumed.set_epoch(4)  # the usual loop sets the resumed epoch too
    assert seen + indices_of(resumed) == _expected(uris, 4, workers=1)
    assert indices_of(resumed) == _expected(uris, 5, workers=1)  # then a whole next epoch
    other = _dataset(uris)
    other.load_state_dict(state)
    other.set_epoch(6)  # another epoch: the loaded state is dropped
    assert indices_of(other) == _expected(uris, 6, workers=1)


@pytest.mark.parametrize("drop_last", [False, True])
def test_progress_is_the_set_every_rank_consumed(drop_last):
    """The global position against a brute-force count of what ranks in
    step consumed, for many world sizes, worker counts (one worker takes
    the short path) and resumed starts."""
    from s3dlio._sampling import Pass, Progress

    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 40))
        world, workers = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        position = int(rng.integers(0, n + 1))
        also = tuple(sorted(rng.choice(np.arange(position, n), size=min(3, n - position) // 2)))
        start = Progress(2, position, tuple(int(a) for a in set(also)))
        plans = [Pass(n, start, r, world, 0, workers, drop_last=drop_last) for r in range(world)]
        per_rank = len(plans[0].local())
        yielded = {w: int(rng.integers(0, per_rank // workers + 2)) for w in range(workers)}
        done = set(range(position)) | set(start.also_done)
        for p in plans:
            for w, count in yielded.items():
                done |= {int(x) for x in p.local()[w::workers][:count]}
        expected_position = min(set(range(n + 1)) - done)
        got = plans[0].progress(yielded)
        assert got.position == expected_position
        assert set(got.also_done) == {d for d in done if d > expected_position}

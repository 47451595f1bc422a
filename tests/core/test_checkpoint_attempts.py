"""Checkpoints across crashes, restarts and overlapping saves.

Ranks are real processes, killed with SIGKILL at the named points: on
file:// by strace's fault injection (the kill lands as the record's rename
starts, i.e. after the shard was written and before its record is), on
s3:// by stalling the record's PUT in a proxy and killing the writer there.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from fault_proxy import FaultProxy, stall

import s3dlio

SIZE = 4096
HERE = Path(__file__).parent  # children's working directory: not the source tree

WRITER = r"""
import sys, numpy as np, s3dlio
base, step, rank, world_size, fill = sys.argv[1], *map(int, sys.argv[2:6])
s3dlio.CheckpointStore(base).save(
    step, np.full(int(sys.argv[6]), fill, dtype=np.uint8), rank=rank, world_size=world_size
)
"""


def _shard(fill: int) -> bytes:
    return bytes([fill]) * SIZE


def _env(restart: int, **extra: str) -> dict[str, str]:
    """A rank's environment under torchrun: one run id, `restart` restarts."""
    return {
        **os.environ,
        "TORCHELASTIC_RUN_ID": "job7",
        "TORCHELASTIC_RESTART_COUNT": str(restart),
        "PYTHONDONTWRITEBYTECODE": "1",  # no renames but ours (strace counts them)
        **extra,
    }


def _argv(base: str, step: int, rank: int, world_size: int, fill: int) -> list[str]:
    return [sys.executable, "-c", WRITER, base, str(step), str(rank), str(world_size), str(fill)]


def _save(base: str, step: int, rank: int, world_size: int, fill: int, restart: int) -> None:
    """One rank saves its shard of `step` in a process of its own."""
    subprocess.run(
        [*_argv(base, step, rank, world_size, fill), str(SIZE)],
        env=_env(restart),
        cwd=HERE,
        check=True,
        timeout=60,
    )


class Killer:
    """Kills a rank's process after it wrote its shard and before its record."""

    def __init__(self, scheme: str, bucket: str | None, moto: str):
        self.scheme, self.bucket, self.moto = scheme, bucket, moto

    def run(self, base: str, step: int, rank: int, world_size: int, fill: int, restart: int):
        argv = [*_argv(base, step, rank, world_size, fill), str(SIZE)]
        if self.scheme == "file":
            self._kill_at_second_rename(argv, restart)
        else:
            record = f"/{self.bucket}/ckpt/step-{step:012d}/attempt-job7.r{restart}/"
            self._kill_in_record_put(argv, restart, record + f"rank-{rank:05d}-of-*.json")

    @staticmethod
    def _kill_at_second_rename(argv: list[str], restart: int) -> None:
        calls = "rename,renameat,renameat2"
        strace = [shutil.which("strace") or "strace", "-f", "-qq", "-o", os.devnull]
        strace += ["-e", f"trace={calls}", "-e", f"inject={calls}:signal=KILL:when=2"]
        done = subprocess.run(
            [*strace, *argv], env=_env(restart), cwd=HERE, timeout=60, check=False
        )
        assert done.returncode in (-9, 137), f"the writer was not killed: {done.returncode}"

    def _kill_in_record_put(self, argv: list[str], restart: int, record: str) -> None:
        with FaultProxy(upstream=self.moto) as proxy:
            proxy.inject([stall(60)], method="PUT", path=record)
            env = _env(restart, AWS_ENDPOINT_URL=proxy.url, S3DLIO_MAX_RETRIES="0")
            proc = subprocess.Popen(argv, env=env, cwd=HERE)
            try:
                deadline = time.monotonic() + 30
                while not proxy.requests_to("PUT", record):
                    assert proc.poll() is None, "the writer ended before its record PUT"
                    assert time.monotonic() < deadline, "the record PUT never came"
                    time.sleep(0.01)
                shards = proxy.requests_to("PUT", record.replace(".json", ".*.bin"))
                assert shards and shards[0].fault.kind == "pass", "the shard was written first"
            finally:
                proc.kill()
                proc.wait(timeout=30)


@pytest.fixture(params=["file", "s3"])
def ckpt(request, tmp_path, moto_server):
    if request.param == "file":
        base, bucket = f"file://{tmp_path}/ckpt", None
    else:
        bucket = request.getfixturevalue("s3_bucket")
        base = f"s3://{bucket}/ckpt"
    return base, Killer(request.param, bucket, moto_server)


@pytest.mark.timeout(180)
def test_a_crashed_attempt_never_completes_the_next_ones_step(ckpt):
    base, killer = ckpt
    store = s3dlio.CheckpointStore(base)
    for rank in range(2):
        _save(base, 1, rank, 2, 0x10 + rank, restart=0)
    assert store.latest_step() == 1
    # Attempt 0: rank 0 saves step 2; rank 1 dies after its shard, before its record.
    _save(base, 2, 0, 2, 0xA0, restart=0)
    killer.run(base, 2, 1, 2, 0xA1, restart=0)
    assert store.latest_step() == 1
    # The job restarts (attempt 1). Rank 1 saves first: attempt 0's rank 0
    # must not complete the step with it.
    _save(base, 2, 1, 2, 0xB1, restart=1)
    assert store.latest_step() == 1
    with pytest.raises(FileNotFoundError):
        store.read_shard_by_rank(2, 0)
    # The new rank 0 dies between its shard and its record: step 1 still loads.
    killer.run(base, 2, 0, 2, 0xB0, restart=1)
    assert store.latest_step() == 1
    assert [bytes(store.load_latest(r)) for r in range(2)] == [_shard(0x10), _shard(0x11)]
    # Its replacement completes step 2 with attempt 1's shards only.
    _save(base, 2, 0, 2, 0xB0, restart=1)
    assert store.latest_step() == 2
    assert [bytes(v) for _, v in store.read_all_shards(2)] == [_shard(0xB0), _shard(0xB1)]
    # Deleting the step removes every attempt's pieces, the killed ones' too.
    store.delete(2)
    assert store.latest_step() == 1
    assert s3dlio.list(f"{base}/step-000000000002") == []
    if base.startswith("file://"):
        assert not Path(base.removeprefix("file://"), "step-000000000002").exists()


@pytest.mark.timeout(180)
def test_a_killed_resave_of_a_published_step_leaves_it_loadable(ckpt):
    """Same attempt, same step saved again (a job restarted by a launcher
    that gives no attempt id), killed after writing the new shard: the
    published step keeps its data (shards are never overwritten)."""
    base, killer = ckpt
    store = s3dlio.CheckpointStore(base)
    _save(base, 3, 0, 1, 0x30, restart=0)
    killer.run(base, 3, 0, 1, 0x31, restart=0)
    assert store.latest_step() == 3
    assert bytes(store.load_latest(0)) == _shard(0x30)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("backend", ["file", "s3"])
def test_overlapping_saves_never_move_latest_backwards(backend, request):
    prefix = request.getfixturevalue(f"{backend}_prefix")
    for trial in range(4):
        store = s3dlio.CheckpointStore(f"{prefix}/ckpt-{trial}")
        start = threading.Barrier(8)

        def save(step: int, store=store, start=start) -> None:
            start.wait()
            store.save(step, np.full(1024, step, dtype=np.uint8))

        threads = [threading.Thread(target=save, args=(step,)) for step in range(1, 9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert store.latest_step() == 8, f"trial {trial}"
        assert bytes(store.load_latest()) == bytes([8]) * 1024
        assert [i.step for i in store.list_checkpoints()] == list(range(1, 9))


def test_resaving_a_step_with_another_world_size_does_not_raise(prefix):
    store = s3dlio.CheckpointStore(f"{prefix}/ckpt")
    store.save(4, _shard(0x40), rank=0, world_size=2)
    store.save(4, _shard(0x41), rank=0, world_size=1)  # the job came back smaller
    assert store.latest_step() == 4 and bytes(store.load_latest()) == _shard(0x41)
    store.save(4, _shard(0x42), rank=1, world_size=2)  # a straggler of the old size
    assert [i.world_size for i in store.list_checkpoints()] == [2]
    assert [bytes(v) for _, v in store.read_all_shards(4)] == [_shard(0x40), _shard(0x42)]


def test_deleting_a_step_that_never_completed(prefix):
    store = s3dlio.CheckpointStore(f"{prefix}/ckpt")
    store.save(1, _shard(1))
    store.save(5, _shard(5), rank=0, world_size=2)  # rank 1 never came
    store.delete(5)
    assert s3dlio.list(f"{prefix}/ckpt/step-000000000005") == []
    with pytest.raises(FileNotFoundError, match="step-000000000005"):
        store.delete(5)
    assert store.latest_step() == 1


def test_attempt_ids(prefix):
    store = s3dlio.CheckpointStore(f"{prefix}/ckpt")
    store.save(1, _shard(1), rank=0, world_size=2, attempt="run-a")
    store.save(1, _shard(2), rank=1, world_size=2, attempt="run-b")
    assert store.latest_step() is None, "two attempts' shards are never combined"
    store.save(1, _shard(3), rank=0, world_size=2, attempt="run-b")
    assert [bytes(v) for _, v in store.read_all_shards(1)] == [_shard(3), _shard(2)]
    for bad in ["", "a/b", "x" * 65, "é"]:
        with pytest.raises(s3dlio.InvalidArgumentError, match="attempt"):
            store.save(2, _shard(0), attempt=bad)
    env_store = s3dlio.CheckpointStore(
        f"{prefix}/ckpt2", options={"S3DLIO_CHECKPOINT_ATTEMPT": "from-env"}
    )
    env_store.save(1, _shard(9))
    assert any("/attempt-from-env/" in u for u in s3dlio.list(f"{prefix}/ckpt2"))

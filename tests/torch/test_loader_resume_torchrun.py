"""Real torchrun jobs (gloo on loopback) over 103 objects on file:// and
s3://: a job at one world size takes a few steps with forked
StatefulDataLoader workers and saves the loader's state; a job at another
world size, with another worker count, resumes it. Every sample of the
epoch is read exactly once across both jobs, apart from the documented
padding; every rank takes the same number of steps (an all-reduce per
batch, as DDP does, would hang otherwise).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from torch_helpers import make_objects, torchrun

from s3dlio_torch import S3IterableDataset

pytestmark = pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork.*:DeprecationWarning")

N, BATCH, STEPS, SEED = 103, 4, 5, 5

JOB = r"""
import datetime, json, os, pickle, sys, warnings
warnings.filterwarnings("ignore")
import torch, torch.distributed as dist
from torch.utils.data import DataLoader
from torchdata.stateful_dataloader import StatefulDataLoader
from torch_helpers import indices_of
from s3dlio_torch import S3IterableDataset

phase, workers, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
prefixes = json.loads(sys.argv[4])
BATCH, STEPS, SEED = 4, 5, 5
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
dist.init_process_group(
    "gloo", store=dist.FileStore(f"{out}/store.{phase}", world), rank=rank,
    world_size=world, timeout=datetime.timedelta(seconds=60),
)

def step(batch):
    # What DDP does every step: a collective that every rank must join.
    dist.all_reduce(torch.ones(1))
    return indices_of([batch])

report = {}
for scheme, prefix in prefixes.items():
    ds = S3IterableDataset(prefix, shuffle=True, seed=SEED, batch_fetch=4)
    # A whole epoch in-process: every rank the same number of steps.
    ds.set_epoch(7)
    whole = [step(b) for b in DataLoader(ds, batch_size=BATCH)]
    ds.set_epoch(0)
    if phase == "save":
        loader = StatefulDataLoader(
            ds, batch_size=BATCH, num_workers=workers, multiprocessing_context="fork", timeout=60
        )
        it = iter(loader)
        taken = sum((step(next(it)) for _ in range(STEPS)), [])
        state = loader.state_dict()
        del it, loader
        with open(f"{out}/{scheme}.state.{rank}", "wb") as f:
            pickle.dump(state, f)
        probe = S3IterableDataset(prefix, shuffle=True, seed=SEED, rank=0, world_size=1)
        probe.load_state_dict(state)
        report[scheme] = {"taken": taken, "global": probe.state_dict()}
    else:
        with open(f"{out}/{scheme}.state.0", "rb") as f:  # rank 0 saved, every rank loads
            ds.load_state_dict(pickle.load(f))
        loader = StatefulDataLoader(
            ds, batch_size=BATCH, num_workers=workers, multiprocessing_context="fork", timeout=60
        )
        report[scheme] = {"taken": sum((step(b) for b in loader), [])}
    report[scheme]["whole_steps"] = len(whole)
    report[scheme]["whole"] = sum(whole, [])
with open(f"{out}/{phase}.{rank}.json", "w") as f:
    json.dump(report, f)
dist.destroy_process_group()
"""


def _torchrun(tmp_path: Path, phase: str, ranks: int, workers: int, prefixes: dict) -> list:
    script = tmp_path / "job.py"
    script.write_text(JOB)
    helpers = str(Path(__file__).parents[1])  # torch_helpers, for the job
    torchrun(
        script,
        ranks,
        phase,
        str(workers),
        str(tmp_path),
        json.dumps(prefixes),
        cwd=tmp_path,
        pythonpath=helpers,
    )
    return [json.loads((tmp_path / f"{phase}.{r}.json").read_text()) for r in range(ranks)]


@pytest.mark.timeout(420)
@pytest.mark.parametrize(("before", "after"), [((2, 2), (3, 3)), ((3, 3), (2, 1))])
def test_resume_at_another_world_size_and_worker_count(
    tmp_path, file_prefix, s3_prefix, before, after
):
    prefixes = {"file": f"{file_prefix}/data", "s3": f"{s3_prefix}/data"}
    for prefix in prefixes.values():
        make_objects(prefix, N)
    order = S3IterableDataset(prefixes["file"], shuffle=True, seed=SEED).order().tolist()

    saved = _torchrun(tmp_path, "save", *before, prefixes)
    resumed = _torchrun(tmp_path, "resume", *after, prefixes)
    for scheme in prefixes:
        # The job's position is global: every rank's saved state says the same.
        positions = [r[scheme]["global"] for r in saved]
        assert all(p == positions[0] for p in positions), positions
        taken = [i for r in saved for i in r[scheme]["taken"]]
        assert len(taken) == len(set(taken)) == before[0] * STEPS * BATCH
        rest = [i for r in resumed for i in r[scheme]["taken"]]
        counts = Counter(taken + rest)
        assert set(counts) == set(range(N)), "samples lost"
        repeats = sorted(i for i, c in counts.items() if c > 1)
        # Padding: fewer than world_size repeats, the first samples of the order.
        world = after[0]
        assert all(counts[i] == 2 for i in repeats) and len(repeats) < world
        assert repeats == sorted(order[: len(repeats)])
        assert len(rest) % world == 0
        assert len({len(r[scheme]["taken"]) for r in resumed}) == 1, "unequal samples per rank"

        for job in (saved, resumed):
            ranks = len(job)
            whole = [r[scheme]["whole"] for r in job]
            assert len({len(w) for w in whole}) == 1 == len({r[scheme]["whole_steps"] for r in job})
            assert len(whole[0]) == -(-N // ranks)  # 52 each at 2 ranks, 35 at 3
            assert set(sum(whole, [])) == set(range(N))

"""A real torchrun job (gloo on loopback, 2 ranks x 2 forked DataLoader
workers) over Parquet files of uneven row groups on file:// and s3://:
every row is read once in the epoch apart from the documented padding,
and every rank takes the same number of steps (an all-reduce per batch,
as DDP does, would hang otherwise)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from test_parquet_dataset import GROUPS, N, make_files
from torch_helpers import torchrun

import s3dlio

pytestmark = pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork.*:DeprecationWarning")

JOB = r"""
import datetime, json, os, sys, warnings
warnings.filterwarnings("ignore")
import torch, torch.distributed as dist
from torch.utils.data import DataLoader
from s3dlio_torch import S3ParquetDataset

out, prefixes = sys.argv[1], json.loads(sys.argv[2])
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
dist.init_process_group(
    "gloo", store=dist.FileStore(f"{out}/store", world), rank=rank,
    world_size=world, timeout=datetime.timedelta(seconds=60),
)

def step(batch):
    dist.all_reduce(torch.ones(1))  # what DDP does every step
    return batch["id"].tolist()

report = {}
for scheme, prefix in prefixes.items():
    ds = S3ParquetDataset(prefix, columns=["id", "name"], batch_size=9, shuffle=True, seed=4)
    loader = DataLoader(
        ds, batch_size=None, num_workers=2, multiprocessing_context="fork", timeout=60
    )
    report[scheme] = [step(b) for b in loader]
with open(f"{out}/{rank}.json", "w") as f:
    json.dump(report, f)
dist.destroy_process_group()
"""


@pytest.mark.timeout(300)
def test_every_row_once_across_a_torchrun_job(tmp_path, file_prefix, s3_prefix):
    prefixes = {}
    for scheme, prefix in {"file": file_prefix, "s3": s3_prefix}.items():
        make_files(prefix)
        prefixes[scheme] = f"{prefix}/pq/"
    script = tmp_path / "job.py"
    script.write_text(JOB)
    torchrun(
        script,
        2,
        str(tmp_path),
        json.dumps(prefixes),
        cwd=tmp_path,
        pythonpath=os.pathsep.join(
            [str(Path(s3dlio._core.__file__).parents[1]), str(Path(__file__).parents[1])]
        ),
    )
    ranks = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    for scheme in prefixes:
        steps = [len(r[scheme]) for r in ranks]
        assert steps[0] == steps[1] > 0, steps
        rows = [i for r in ranks for b in r[scheme] for i in b]
        assert len({len(sum(r[scheme], [])) for r in ranks}) == 1, "unequal rows per rank"
        assert set(Counter(rows)) == set(range(N)), "rows lost"
        assert len(rows) - N < 2 * 2 * max(max(g) for g in GROUPS)  # the padding

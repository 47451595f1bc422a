"""A real torchrun job (gloo on loopback, 2 ranks) saving a sharded state
dict of a few hundred MB with DCP through s3dlio's StorageWriter on
file:// and s3://, loading it back at 2 ranks in the job and at 1 rank
here (DCP reshards), byte-exact."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
import torch.distributed.checkpoint as dcp
from torch_helpers import torchrun

import s3dlio
from s3dlio_torch.dcp import StorageReader

pytestmark = pytest.mark.filterwarnings("ignore:torch.distributed is disabled:UserWarning")

ROWS, COLS, OPT = 6144, 4096, 4096  # 96 MiB and 64 MiB of float32


def full_state() -> dict:
    g = torch.Generator().manual_seed(7)
    return {
        "weight": torch.randn(ROWS, COLS, generator=g),
        "exp_avg": torch.randn(OPT, OPT, generator=g),
        "bias": torch.randn(COLS, generator=g),
    }


JOB = r"""
import datetime, json, os, sys, warnings
warnings.filterwarnings("ignore")
import torch, torch.distributed as dist, torch.distributed.checkpoint as dcp
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.tensor import Shard, distribute_tensor
sys.path.insert(0, sys.argv[3])
from test_dcp_torchrun import full_state
from s3dlio_torch.dcp import StorageReader, StorageWriter

out, uris = sys.argv[1], json.loads(sys.argv[2])
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
dist.init_process_group(
    "gloo", store=dist.FileStore(f"{out}/store", world), rank=rank,
    world_size=world, timeout=datetime.timedelta(seconds=120),
)
mesh = init_device_mesh("cpu", (world,))

def sharded(state):
    return {
        "weight": distribute_tensor(state["weight"], mesh, [Shard(0)]),
        "exp_avg": distribute_tensor(state["exp_avg"], mesh, [Shard(1)]),
        "bias": state["bias"],
        "step": state.get("step", 0),
    }

full = full_state()
report = {}
for scheme, uri in uris.items():
    saved = sharded({**full, "step": 12})
    dcp.save(saved, storage_writer=StorageWriter(uri))
    blank = sharded({k: torch.zeros_like(v) for k, v in full.items()})
    dcp.load(blank, storage_reader=StorageReader(uri))
    report[scheme] = {
        "same": all(
            torch.equal(blank[k].to_local(), saved[k].to_local()) for k in ("weight", "exp_avg")
        ) and torch.equal(blank["bias"], full["bias"]),
        "step": blank["step"],
        "local_rows": saved["weight"].to_local().shape[0],
    }
with open(f"{out}/{rank}.json", "w") as f:
    json.dump(report, f)
dist.destroy_process_group()
"""


@pytest.mark.timeout(300)
def test_two_ranks_save_and_load_at_two_and_at_one(tmp_path, file_prefix, s3_prefix):
    uris = {"file": f"{file_prefix}/ckpt/step-12", "s3": f"{s3_prefix}/ckpt/step-12"}
    script = tmp_path / "job.py"
    script.write_text(JOB)
    here = str(Path(__file__).parent)
    torchrun(
        script,
        2,
        str(tmp_path),
        json.dumps(uris),
        here,
        cwd=tmp_path,
        pythonpath=os.pathsep.join(
            [str(Path(s3dlio._core.__file__).parents[1]), str(Path(__file__).parents[1])]
        ),
    )
    ranks = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    for scheme in uris:
        assert all(r[scheme]["same"] and r[scheme]["step"] == 12 for r in ranks), ranks
        assert [r[scheme]["local_rows"] for r in ranks] == [ROWS // 2] * 2  # really sharded
    full = full_state()
    for scheme, uri in uris.items():
        files = [u for u in s3dlio.list(uri) if u.endswith(".distcp")]
        assert {Path(u).name[:3] for u in files} == {"__0", "__1"}, "each rank wrote its files"
        one = {k: torch.zeros_like(v) for k, v in full.items()} | {"step": 0}
        dcp.load(one, storage_reader=StorageReader(uri), no_dist=True)  # at one rank
        assert all(torch.equal(one[k], full[k]) for k in full), scheme
        assert one["step"] == 12

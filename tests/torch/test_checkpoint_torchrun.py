"""A real torchrun job (2 ranks, gloo, one restart): the shard a crashed
launch left of a step never completes the restarted launch's step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from torch_helpers import torchrun

pytest.importorskip("torch")

JOB = r"""
import json, os, sys
import torch, torch.distributed as dist
import s3dlio, s3dlio_torch

base, out = sys.argv[1], sys.argv[2]
rank, restart = int(os.environ["RANK"]), int(os.environ["TORCHELASTIC_RESTART_COUNT"])
# A store per launch: gloo would find the crashed launch's addresses in torchrun's.
store_file = dist.FileStore(f"{out}.store.{restart}", 2)
dist.init_process_group("gloo", store=store_file, rank=rank, world_size=2)
store = s3dlio.CheckpointStore(base)
s3dlio_torch.launch_attempt()  # every rank, at once: later saves need no collective
state = lambda tag: {"w": torch.full((256,), float(tag))}
if restart == 0:
    s3dlio_torch.save_state_dict(store, 1, state(10 + rank))
    if rank == 0:
        s3dlio_torch.save_state_dict(store, 2, state(20), barrier=False)
    dist.barrier()
    if rank == 1:
        os._exit(3)  # dies before saving step 2: torchrun restarts the job
    dist.barrier()
else:
    seen = {}
    if rank == 1:
        s3dlio_torch.save_state_dict(store, 2, state(31), barrier=False)
    dist.barrier()
    seen["after_rank1"] = store.latest_step()
    dist.barrier()
    if rank == 0:
        s3dlio_torch.save_state_dict(store, 2, state(30), barrier=False)
    dist.barrier()
    seen["after_both"] = store.latest_step()
    seen["shards"] = [
        float(s3dlio_torch.load_state_dict(store, 2, rank=r)["w"][0]) for r in range(2)
    ]
    with open(f"{out}.{rank}", "w") as f:
        json.dump(seen, f)
dist.destroy_process_group()
"""


@pytest.mark.timeout(240)
def test_restarted_torchrun_job_publishes_only_its_own_shards(file_prefix, tmp_path):
    script = tmp_path / "job.py"
    script.write_text(JOB)
    out = tmp_path / "seen"
    torchrun(
        script,
        2,
        f"{file_prefix}/ckpt",
        str(out),
        cwd=tmp_path,
        options=["--max-restarts=1"],
        timeout_s=200,
    )
    for rank in range(2):
        seen = json.loads(Path(f"{out}.{rank}").read_text())
        assert seen["after_rank1"] == 1, "the crashed launch's rank 0 completed step 2"
        assert seen["after_both"] == 2
        assert seen["shards"] == [30.0, 31.0]

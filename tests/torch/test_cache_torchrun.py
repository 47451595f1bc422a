"""The local cache under a real torchrun job (gloo on loopback, 2 ranks x 2
persistent forked DataLoader workers, one cache directory for the node):

- sharded epochs (``DistributedSampler``, a new order each epoch): every
  object is fetched from the store exactly once over the whole job, by
  whichever process read it first; the second epoch, whose shards are other
  objects, is served from entries the other rank's workers wrote;
- every rank reading every object at once: the four processes racing for
  each object fetch it once between them.

GETs are counted by a proxy in front of the store, not by the library.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
from fault_proxy import FaultProxy
from torch_helpers import torchrun

import s3dlio

pytestmark = pytest.mark.filterwarnings("ignore:.*multi-threaded.*fork.*:DeprecationWarning")

N, SIZE = 48, 20_000

JOB = r"""
import datetime, json, os, sys, warnings
warnings.filterwarnings("ignore")
import torch, torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler
from s3dlio_torch import S3MapDataset

out, sharded, racing, cache = sys.argv[1:5]
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
dist.init_process_group(
    "gloo", store=dist.FileStore(f"{out}/store", world), rank=rank,
    world_size=world, timeout=datetime.timedelta(seconds=60),
)

def loader(dataset, **kw):
    return DataLoader(
        dataset, batch_size=4, num_workers=2, persistent_workers=True,
        multiprocessing_context="fork", timeout=60, collate_fn=list, **kw,
    )

def step(batch):
    dist.all_reduce(torch.ones(1))  # what DDP does every step
    return [int(t[0]) for t in batch]

options = {"cache_dir": cache}
dataset = S3MapDataset(sharded, options=options)
sampler = DistributedSampler(dataset, shuffle=True, seed=3)
epochs = []
shards = loader(dataset, sampler=sampler)
for epoch in range(2):
    sampler.set_epoch(epoch)
    epochs.append([i for b in shards for i in step(b)])
    dist.barrier()  # the other rank's entries are written before epoch 2
del shards

# Every rank reads every object, in its own order, at the same time.
everything = loader(
    S3MapDataset(racing, options=options), shuffle=True,
    generator=torch.Generator().manual_seed(rank),
)
dist.barrier()
raced = [i for b in everything for i in step(b)]
with open(f"{out}/{rank}.json", "w") as f:
    json.dump({"epochs": epochs, "raced": raced}, f)
dist.destroy_process_group()
"""


@pytest.mark.timeout(300)
def test_ranks_on_one_node_fetch_each_object_once(s3_prefix, tmp_path, moto_server, monkeypatch):
    for name in ("sharded", "racing"):
        s3dlio.put_many([(f"{s3_prefix}/{name}/o{i:03d}.bin", bytes([i]) * SIZE) for i in range(N)])
    script = tmp_path / "job.py"
    script.write_text(JOB)
    with FaultProxy(moto_server) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        torchrun(
            script,
            2,
            str(tmp_path),
            f"{s3_prefix}/sharded/",
            f"{s3_prefix}/racing/",
            str(tmp_path / "cache"),
            cwd=tmp_path,
            pythonpath=os.pathsep.join(
                [str(Path(s3dlio._core.__file__).parents[1]), str(Path(__file__).parents[1])]
            ),
        )
        gets = {
            name: Counter(r.bare_path for r in proxy.requests_to("GET", f"*/{name}/o*.bin"))
            for name in ("sharded", "racing")
        }
        heads = proxy.requests_to("HEAD", "*/o*.bin")
    ranks = [json.loads((tmp_path / f"{r}.json").read_text()) for r in range(2)]
    for epoch in range(2):
        read = [i for r in ranks for i in r["epochs"][epoch]]
        assert sorted(read) == list(range(N)), f"epoch {epoch}: not every object once"
    assert ranks[0]["epochs"][0] != ranks[0]["epochs"][1], "the shards did not change"
    assert all(sorted(r["raced"]) == list(range(N)) for r in ranks)
    for name, counted in gets.items():
        assert len(counted) == N and set(counted.values()) == {1}, (name, counted)
    # Both datasets came from listings, which validate every copy.
    assert heads == []

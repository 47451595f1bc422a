"""Suite 13's measurement in a worker process (``_worker.py`` op
``cache_epochs``): three DataLoader epochs of ``S3MapDataset`` in one
process, each timed, over s3:// (nginx) with or without the local cache,
or over file:// (the figure the cached epochs are held to).

A cached run starts from an empty cache directory of its own, made here
and removed at the end, so every run's first epoch fills it from the
store. The dataset is the objects' URIs with their sizes (nginx has no
listing), so with ``cache_validate=etag`` each cached read is checked by
one HEAD, and with ``never`` by none, as a dataset made from a listing is.
Every epoch is checked: each object once, all its bytes. The reference
contender ``write_floor`` is the uncached run that also writes each object
of its first epoch to a file of its own (temporary name, then renamed), in
the main process: the least any cache that keeps objects on disk pays.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path


def cache_epochs(spec: dict, cpu) -> dict:
    keys = Path(spec["keys"]).read_text().split()
    if spec["scheme"] == "s3":
        uris = [f"s3://{spec['bucket']}/{spec['prefix']}/{k}" for k in keys]
    else:
        uris = [f"file://{spec['root']}/{k}" for k in keys]
    cache = None
    if spec.get("cached"):
        cache = tempfile.mkdtemp(prefix="s3dlio-cache-", dir=spec["cache_root"])
        os.environ["S3DLIO_CACHE_DIR"] = cache
        os.environ["S3DLIO_CACHE_VALIDATE"] = spec["validate"]
    from torch.utils.data import DataLoader

    import s3dlio
    import s3dlio_torch

    try:
        sizes = [spec["size"]] * len(uris)
        data = s3dlio_torch.S3MapDataset(uris, sizes=sizes)
        loader = DataLoader(
            data,
            batch_size=spec["batch"],
            num_workers=spec["workers"],
            collate_fn=s3dlio_torch.collate,
        )
        times, gets = [], []
        cpu0 = cpu()
        written = tempfile.mkdtemp(prefix="written-", dir=spec["cache_root"])
        for e in range(spec["epochs"]):
            s3dlio.metrics(reset=True)
            t0 = time.perf_counter()
            if spec.get("write_floor") and e == 0:
                n = sum(_write_out(batch, written) for batch in loader)
            else:
                n = sum(len(batch) for batch in loader)
            times.append(time.perf_counter() - t0)
            if n != len(uris):
                raise SystemExit(f"an epoch gave {n} samples, not {len(uris)}")
            gets.append(s3dlio.metrics().get("get", {}).get("s3", {}).get("requests", 0))
        cpu_s = cpu() - cpu0
    finally:
        if cache:
            shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(written, ignore_errors=True)
    out = {
        "seconds": times[0],
        "cpu_s": cpu_s,
        "peak_added": 0,
        "held_added": 0,
        "bytes": len(uris),
        "later_s": sum(times[1:]) / max(1, len(times) - 1),
    }
    for i, (t, g) in enumerate(zip(times, gets, strict=True)):
        out[f"epoch{i + 1}_s"] = t
        out[f"epoch{i + 1}_gets"] = g
    return out


def _write_out(batch, folder: str) -> int:
    """Each object of ``batch`` written to a file of its own under a
    temporary name and renamed, from the tensor's memory: what any cache
    that keeps objects on disk pays at least (the reference for epoch 1)."""
    for row in batch:
        path = os.path.join(folder, f"{id(row)}-{time.perf_counter_ns()}")
        with open(path + ".tmp", "wb") as f:
            f.write(memoryview(row.numpy()))
        os.rename(path + ".tmp", path)
    return len(batch)

"""Suite 13's measurement in a worker process (``_worker.py`` op
``cache_epochs``): three DataLoader epochs of ``S3MapDataset`` in one
process, each timed, over s3:// (nginx) with or without the local cache,
or over file:// (the figure the cached epochs are held to).

A cached run starts from an empty cache directory of its own, made here
and removed at the end, so every run's first epoch fills it from the
store. The dataset is the objects' URIs with their sizes (nginx has no
listing), so with ``cache_validate=etag`` each cached read is checked by
one HEAD, and with ``never`` by none, as a dataset made from a listing is.
Every epoch is checked: each object once, all its bytes.
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
        for _ in range(spec["epochs"]):
            s3dlio.metrics(reset=True)
            t0 = time.perf_counter()
            n = sum(len(batch) for batch in loader)
            times.append(time.perf_counter() - t0)
            if n != len(uris):
                raise SystemExit(f"an epoch gave {n} samples, not {len(uris)}")
            gets.append(s3dlio.metrics().get("get", {}).get("s3", {}).get("requests", 0))
        cpu_s = cpu() - cpu0
    finally:
        if cache:
            shutil.rmtree(cache, ignore_errors=True)
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

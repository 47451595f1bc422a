"""Suite 9's measurements in a worker process (``_worker.py`` ops
``shard_epoch`` and ``shard_index``): one epoch over WebDataset tar shards
by one contender, and indexing the shards from their headers.

Every contender hands out raw bytes per field (ours: 1-D uint8 tensors
over the fetched memory; webdataset: ``bytes``, no decoding; tarfile:
``bytes``), batched by a ``collate_fn`` that keeps the batch as the list
of samples, so nobody stacks, decodes or copies more than its reading
needs: ``s3dlio_torch.collate_samples`` for ours (in DataLoader workers it
sends a batch's fields as one shared slot), a plain list for the others.
An epoch is checked, not just timed: every sample exactly once (each key
once, the count of samples and the bytes of their fields as written),
else the worker fails and the contender has no figure.
"""

from __future__ import annotations

import os
import resource
import tarfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

FIELDS = ("jpg", "cls", "json")


def as_list(samples: list) -> list:
    """``collate_fn``: the batch as the list of its samples (fields vary in size)."""
    return samples


def tally(batches: Iterable[list[dict]]) -> dict:
    keys: set[str] = set()
    samples = nbytes = 0
    for batch in batches:
        for s in batch:
            keys.add(s["__key__"])
            samples += 1
            nbytes += sum(len(s[f]) for f in FIELDS)
    return {"samples": samples, "distinct": len(keys), "field_bytes": nbytes}


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def uris(spec: dict) -> list[str]:
    names = spec["names"]
    if spec["scheme"] == "s3":
        return [f"s3://{spec['bucket']}/{spec['prefix']}/{n}" for n in names]
    return [f"file://{spec['root']}/{n}" for n in names]


def _base(spec: dict) -> str:
    """The shards' folder over plain HTTP (nginx ignores the missing signature)."""
    return f"{os.environ['AWS_ENDPOINT_URL']}/{spec['bucket']}/{spec['prefix']}"


def _tar_batches(spec: dict, batch: int) -> Iterator[list[dict]]:
    """The reference: ``tarfile`` streaming each shard in turn, every
    member's bytes read, members grouped into samples by key."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    out: list[dict] = []
    for name in spec["names"]:
        if spec["scheme"] == "s3":
            url = f"{_base(spec)}/{name}"
            stream = opener.open(url, timeout=60)
        else:
            stream = open(Path(spec["root"], name), "rb")  # noqa: SIM115 (closed below)
        with stream, tarfile.open(fileobj=stream, mode="r|") as tar:
            sample: dict = {}
            for member in tar:
                if not member.isfile():
                    continue
                base = member.name.rsplit("/", 1)[-1]
                key, field = base.split(".", 1)
                if sample and sample["__key__"] != key:
                    out.append(sample)
                    sample = {}
                sample.setdefault("__key__", key)
                sample[field] = tar.extractfile(member).read()
                if len(out) == batch:
                    yield out
                    out = []
            if sample:
                out.append(sample)
    if out:
        yield out


def _loader(spec: dict):
    """The contender's DataLoader (built, the shards indexed where the
    dataset indexes them, before the clock starts)."""
    from torch.utils.data import DataLoader

    who, batch, workers = spec["contender"], spec["batch"], spec["workers"]
    kw: dict = {"batch_size": batch, "num_workers": workers, "collate_fn": as_list}
    if who == "ours_web":
        import s3dlio_torch

        data = s3dlio_torch.S3WebDataset(
            uris(spec), shuffle=True, seed=0, shuffle_buffer=spec["buffer"]
        )
        kw["collate_fn"] = s3dlio_torch.collate_samples
    elif who == "ours_tarmap":
        import s3dlio_torch

        data = s3dlio_torch.S3TarMapDataset(uris(spec))
        kw.update(shuffle=True, collate_fn=s3dlio_torch.collate_samples)
    elif who == "webdataset":
        import webdataset as wds

        if spec["scheme"] == "s3":
            base = _base(spec)
            urls = [f"pipe:curl -sf --noproxy '*' {base}/{n}" for n in spec["names"]]
        else:
            urls = [str(Path(spec["root"], n)) for n in spec["names"]]
        shardshuffle = len(urls)
        data = wds.WebDataset(urls, shardshuffle=shardshuffle, seed=0, empty_check=False)
        data = data.shuffle(spec["buffer"])
    else:
        raise SystemExit(f"unknown contender {who!r}")
    return DataLoader(data, **kw)


def shard_epoch(spec: dict, measure: Callable) -> dict:
    """One epoch, timed by ``measure`` (``_worker.measure``)."""
    if spec["contender"] != "tarfile":  # imported first: "build s" is the dataset's alone
        import torch.utils.data  # noqa: F401

        __import__("webdataset" if spec["contender"] == "webdataset" else "s3dlio_torch")
    t0 = time.perf_counter()
    if spec["contender"] == "tarfile":

        def run() -> dict:
            return tally(_tar_batches(spec, spec["batch"]))

    else:
        loader = _loader(spec)

        def run() -> dict:
            return tally(loader)

    build_s = time.perf_counter() - t0
    children0 = _children_cpu()
    held: dict = {}

    def keep() -> int:
        held.update(run())
        return held["samples"]

    result = measure(keep, lambda n: n)
    # DataLoader workers (and curl) are joined by the end of the epoch: theirs counts too.
    result["cpu_s"] += _children_cpu() - children0
    want = (spec["expect"], spec["expect"], spec["expect_bytes"])
    got = (held["samples"], held["distinct"], held["field_bytes"])
    if got != want:
        raise SystemExit(
            f"{spec['contender']}: an epoch gave {got[0]} samples ({got[1]} distinct keys, "
            f"{got[2]} field bytes), not {want[0]} samples of {want[2]} bytes"
        )
    return {**result, "build_s": build_s}


def shard_index(spec: dict) -> dict:
    """Index every shard from its headers (``tar_index``, 32 shards at a
    time, as the datasets do), checking each lists every member. The
    server counts the bytes it sent (the suite reads its log); the
    client's count of response body bytes is reported beside it."""
    import s3dlio

    shards = uris(spec)
    before = s3dlio.buffer_stats()["body_bytes"]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        indexes = list(pool.map(s3dlio.tar_index, shards))
    seconds = time.perf_counter() - t0
    members = sum(len(i) for i in indexes)
    if members != spec["expect_members"]:
        raise SystemExit(f"tar_index listed {members} members, not {spec['expect_members']}")
    return {
        "seconds": seconds,
        "members": members,
        "client_body_bytes": s3dlio.buffer_stats()["body_bytes"] - before,
    }

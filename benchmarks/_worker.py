"""One measurement in a fresh process: ``python _worker.py SPEC.json``.

Runs under either virtualenv (ours in ``.venv``, the peers in
``.venv-peers``, where PyPI's ``s3dlio`` 0.10.0 owns the import name), so
everything contender-specific is imported inside the function that needs
it. The spec names an operation, a contender and the objects; the worker
sets the contender up (client, runtime, one untimed call: a loader is a
long-lived process), times the operation once and prints one JSON line:
wall seconds, user+sys CPU seconds of this process (all its threads), and
the peak RSS the operation added (VmHWM from ``/proc/self/status``, reset
with ``/proc/self/clear_refs`` just before it starts).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REGION = "us-east-1"
POOL = 32  # threads (and pooled connections) for the thread-pool peers
IN_FLIGHT = 64  # requests in flight for the async peers (get_many's default too)


# --------------------------------------------------------------------------- memory


def _status_bytes() -> dict[str, int]:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0]) * 1024
    return out


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(fn: Callable[[], object], count: Callable[[object], int]) -> dict:
    """Time ``fn`` once, holding what it returns until the figures are taken."""
    before = _status_bytes()
    reset = _reset_peak()
    cpu0, t0 = _cpu(), time.perf_counter()
    held = fn()
    seconds, cpu = time.perf_counter() - t0, _cpu() - cpu0
    after = _status_bytes()
    base = before["VmRSS"]
    peak = after["VmHWM"] if reset else max(after["VmHWM"], after["VmRSS"])
    result = {
        "seconds": seconds,
        "cpu_s": cpu,
        "rss_before": base,
        "peak_added": max(peak - base, after["VmRSS"] - base),
        "held_added": after["VmRSS"] - base,
        "peak_reset": reset,
        "bytes": count(held),
    }
    del held
    return result


# --------------------------------------------------------------------------- objects


def keys_of(spec: dict) -> list[str]:
    return Path(spec["keys"]).read_text().split()


def uris_of(spec: dict, keys: list[str]) -> list[str]:
    if spec["scheme"] == "s3":
        return [f"s3://{spec['bucket']}/{spec['prefix']}/{k}" for k in keys]
    return [f"{spec['scheme']}://{spec['root']}/{k}" for k in keys]


def _s3dlio_010(need_torch: bool = False):
    """PyPI s3dlio 0.10.0; its ``__init__`` imports torch when it can, which
    costs seconds of start-up that no measurement needs unless it uses its
    torch datasets (the import stays outside every timed section)."""
    if not need_torch and "torch" not in sys.modules:
        sys.modules["torch"] = None  # type: ignore[assignment]
        import s3dlio

        del sys.modules["torch"]
    else:
        import s3dlio
    return s3dlio


def _obstore_store(spec: dict):
    from obstore.store import LocalStore, S3Store

    if spec["scheme"] == "s3":
        return S3Store(
            spec["bucket"],
            endpoint=os.environ["AWS_ENDPOINT_URL"],
            region=REGION,
            access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
            secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
            virtual_hosted_style_request=False,
            # obstore has no setting for a private authority: over HTTPS
            # (suite 7's nginx) it skips verification, as the TLS floor does.
            client_options={
                "allow_http": True,
                "allow_invalid_certificates": os.environ["AWS_ENDPOINT_URL"].startswith("https"),
            },
        )
    return LocalStore(prefix=spec["root"])


def _obstore_path(spec: dict, key: str) -> str:
    return f"{spec['prefix']}/{key}" if spec["scheme"] == "s3" else key


def _boto3_client(retries: dict | None = None):
    import boto3
    from botocore.config import Config

    more = {} if retries is None else {"retries": retries}
    return boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL"],
        region_name=REGION,
        config=Config(max_pool_connections=POOL, s3={"addressing_style": "path"}, **more),
    )


# boto3 with a retry mode of its own (suite 12): botocore's retry mode per
# contender, and the retries each answered GET took (its ``RetryAttempts``).
BOTO3_RETRY_MODES = {"boto3_adaptive": "adaptive", "boto3_standard": "standard"}
_boto3_retries: list[int] = []


def reset_counters(spec: dict) -> None:
    """Zero what ``counters`` reports, just before a timed fetch."""
    if spec["contender"].startswith("ours"):
        import s3dlio

        s3dlio.metrics(reset=True)
    _boto3_retries.clear()


def counters(spec: dict) -> dict:
    """What the contender counted during the timed fetch (suite 12): ours
    from ``s3dlio.metrics()`` (the GETs' retries and throttled answers, and
    each endpoint's lane of the bucket), boto3 from ``RetryAttempts``."""
    if spec["contender"].startswith("ours"):
        import s3dlio

        m = s3dlio.metrics()
        get = m.get("get", {}).get(spec["scheme"], {})
        lanes = {url: b[spec["bucket"]] for url, b in m["endpoints"].items() if spec["bucket"] in b}
        out = {k: get.get(k, 0) for k in ("requests", "retries", "throttled", "errors")}
        return {**out, "endpoints": lanes}
    if spec["contender"] in BOTO3_RETRY_MODES:
        return {"retries": sum(_boto3_retries)}
    return {}


def _s3torch_config():
    from s3torchconnector import S3ClientConfig

    return S3ClientConfig(force_path_style=True)


def s3reader_tensor(reader):
    """s3torchconnector transform: the object as a 1-D uint8 tensor (over the
    bytes read, no copy; torch's one-time non-writable warning is ignored)."""
    import torch

    return torch.frombuffer(reader.read(), dtype=torch.uint8)


def fetcher(spec: dict, keys: list[str]) -> tuple[Callable[[list[str]], object], Callable]:
    """``(fetch(keys) -> held objects, byte count of held)`` for a contender."""
    who, scheme = spec["contender"], spec["scheme"]

    def count_pairs(held) -> int:
        return sum(len(v) for _, v in held)

    def count_list(held) -> int:
        return sum(len(v) for v in held)

    if who in ("ours", "ours_mmap", "ours_batch"):
        import s3dlio

        if who == "ours_batch":
            return (lambda ks: s3dlio.get_batch(uris_of(spec, ks))), lambda b: b.nbytes
        # Suite 12: its endpoints as options, and the requests in flight.
        kw = {k: spec[k] for k in ("max_in_flight", "options") if k in spec}
        return (lambda ks: s3dlio.get_many(uris_of(spec, ks), **kw)), count_pairs
    if who == "s3dlio010":
        s3dlio = _s3dlio_010()
        return (lambda ks: s3dlio.get_many(uris_of(spec, ks))), count_pairs
    if who == "python":
        root = spec["root"]

        def read_all(ks: list[str]) -> list[bytes]:
            held = []
            for k in ks:
                with open(f"{root}/{k}", "rb") as f:
                    held.append(f.read())
            return held

        return read_all, count_list
    if who == "obstore":
        import asyncio

        import obstore

        store = _obstore_store(spec)

        async def gather(ks: list[str]) -> list:
            limit = asyncio.Semaphore(IN_FLIGHT)

            async def one(k: str):
                async with limit:
                    result = await obstore.get_async(store, _obstore_path(spec, k))
                    return await result.bytes_async()

            return await asyncio.gather(*(one(k) for k in ks))

        return (lambda ks: asyncio.run(gather(ks))), count_list
    if who == "boto3" or who in BOTO3_RETRY_MODES:
        from concurrent.futures import ThreadPoolExecutor

        mode = BOTO3_RETRY_MODES.get(who)
        retries = None if mode is None else {"mode": mode, "max_attempts": spec["max_attempts"]}
        client = _boto3_client(retries)
        bucket, prefix = spec["bucket"], spec["prefix"]

        def one(k: str) -> bytes:
            got = client.get_object(Bucket=bucket, Key=f"{prefix}/{k}")
            if mode is not None:
                _boto3_retries.append(got["ResponseMetadata"].get("RetryAttempts", 0))
            return got["Body"].read()

        def pool_map(ks: list[str]) -> list[bytes]:
            with ThreadPoolExecutor(POOL) as pool:
                return list(pool.map(one, ks))

        return pool_map, count_list
    if who == "s3torch":
        from concurrent.futures import ThreadPoolExecutor

        from s3torchconnector import S3MapDataset

        uris = uris_of(spec, keys)
        index = {u: i for i, u in enumerate(uris)}
        data = S3MapDataset.from_objects(
            uris,
            region=REGION,
            endpoint=os.environ["AWS_ENDPOINT_URL"],
            s3client_config=_s3torch_config(),
        )

        def pool_read(ks: list[str]) -> list[bytes]:
            with ThreadPoolExecutor(POOL) as pool:
                return list(pool.map(lambda u: data[index[u]].read(), uris_of(spec, ks)))

        return pool_read, count_list
    raise SystemExit(f"unknown contender {who!r} for {scheme}")


def op_fetch(spec: dict) -> dict:
    """Fetch every object and hold them all (suites 1, 3 and 5).

    The first full fetch is what a fresh process pays (suites 3 and 5 time
    only that). With ``steady`` (suite 1) the first is dropped and a second
    full fetch is timed, as a loader that has run a while sees it: memory a
    contender recycles is mapped by then. Both figures are reported. With
    ``cold`` the files are evicted from the page cache before each fetch
    (outside the timing), as the cold C floor does. With ``counters``
    (suite 12) the result holds what the contender counted during the
    reported fetch (``counters``), zeroed just before it."""
    keys = keys_of(spec)
    fetch, count = fetcher(spec, keys)
    fetch(keys[:1])  # client, runtime and connection set up; not timed

    def timed() -> dict:
        if spec.get("cold"):
            from _evict import evict

            evict(spec["root"], keys)
        if spec.get("counters"):
            reset_counters(spec)
            out = measure(lambda: fetch(keys), count)
            return {**out, "counters": counters(spec)}
        return measure(lambda: fetch(keys), count)

    first = timed()
    if not spec.get("steady"):
        return first
    gc.collect()
    steady = timed()
    return {**steady, "first_s": first["seconds"], "first_cpu_s": first["cpu_s"]}


def op_memcpy(spec: dict) -> dict:
    """Reference for suite 1: copy ``count`` objects of ``size`` bytes from
    one warm (touched) buffer into another on one core, the bandwidth a
    loader that copied each object once from memory it already owns would
    be bound by."""
    import numpy as np

    size, count = spec["size"], spec["count"]
    src, dst = np.ones(size, np.uint8), np.zeros(size, np.uint8)
    np.copyto(dst, src)

    def copy_all() -> int:
        for _ in range(count):
            np.copyto(dst, src)
        return count * size

    return measure(copy_all, lambda n: n)


FLOORS = Path(__file__).parent / "floors"


def op_floor(spec: dict) -> dict:
    """Reference: a small C program that lands every object in memory it
    keeps and does nothing else (``floors/``), the least time and CPU any
    reader can spend here. ``pread_floor`` reads the files on ``threads``
    threads (default a thread per core; ``io`` buffered or direct, ``cold``
    evicting them first); ``recv_floor`` fetches over ``connections``
    blocking connections (``mode`` close, keep or tls). It times itself
    (first fetch, then the reported second one) and prints the figures
    ``measure`` would."""
    program = spec["program"]
    exe = Path.cwd() / program
    if not exe.exists():  # built once per benchmark run, in its work directory
        libs = ["-lssl", "-lcrypto"] if program == "recv_floor" else []
        cmd = ["cc", "-O2", "-pthread", "-o", str(exe), str(FLOORS / f"{program}.c"), *libs]
        built = subprocess.run(cmd, capture_output=True, text=True)
        if built.returncode != 0:
            raise SystemExit(f"cannot build {program}: {built.stderr.strip()[-300:]}")
    keys = spec["keys"]
    if program == "pread_floor":
        threads = spec.get("threads") or len(os.sched_getaffinity(0))
        args = [spec["root"], keys, str(threads), spec.get("io", "buffered")]
        args.append("cold" if spec.get("cold") else "warm")
    else:
        port = os.environ["AWS_ENDPOINT_URL"].rsplit(":", 1)[1]
        args = [port, spec["bucket"], spec["prefix"], keys, str(spec["connections"])]
        args.append(spec.get("mode", "close"))
    out = subprocess.run([str(exe), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{program}: {out.stderr.strip()[-300:]}")
    return json.loads(out.stdout)


def op_get_loop(spec: dict) -> dict:
    """One ``get`` per object in a Python loop, each result dropped (suite 2)."""
    keys = keys_of(spec)
    who = spec["contender"]
    if who in ("ours", "s3dlio010"):
        mod = _s3dlio_010() if who == "s3dlio010" else __import__("s3dlio")
        get = mod.get
        uris = uris_of(spec, keys)

        def loop() -> int:
            n = 0
            for u in uris:
                n += len(get(u))
            return n

    elif who == "python":
        paths = [f"{spec['root']}/{k}" for k in keys]

        def loop() -> int:
            n = 0
            for p in paths:
                with open(p, "rb") as f:
                    n += len(f.read())
            return n

    elif who == "obstore":
        import obstore

        store = _obstore_store(spec)
        paths = [_obstore_path(spec, k) for k in keys]

        def loop() -> int:
            n = 0
            for p in paths:
                n += len(obstore.get(store, p).bytes())
            return n

    else:
        raise SystemExit(f"unknown contender {who!r}")
    loop()  # warm (the loop is short: first calls would dominate a cold run)
    return measure(loop, lambda n: n)


def op_epoch(spec: dict) -> dict:
    """One loader epoch; the dataset is built (listed) before the clock starts."""
    sys.path.insert(0, str(Path(__file__).parent))
    who, batch, workers = spec["contender"], spec["batch"], spec["workers"]
    prefix = f"s3://{spec['bucket']}/{spec['prefix']}/" if spec["scheme"] == "s3" else None
    if prefix is None:
        prefix = f"file://{spec['root']}/"
    if who == "jax_numpy":
        from loader_epoch import numpy_jax_epoch

        paths = [Path(spec["root"], k) for k in keys_of(spec)]
        return measure(lambda: numpy_jax_epoch(paths, batch), lambda n: n)
    if who == "ours_jax":
        from loader_epoch import epoch

        import s3dlio_jax

        loader = s3dlio_jax.JaxLoader(prefix, batch_size=batch)
        return measure(lambda: epoch(loader), lambda n: n)

    from loader_epoch import PlainFiles, epoch
    from torch.utils.data import DataLoader

    kw: dict = {"batch_size": batch, "num_workers": workers}
    if who == "plain":
        data = PlainFiles([Path(spec["root"], k) for k in keys_of(spec)])
    elif who == "ours_map":
        import s3dlio_torch

        data, kw["collate_fn"] = s3dlio_torch.S3MapDataset(prefix), s3dlio_torch.collate
    elif who == "ours_iter":
        import s3dlio_torch

        data = s3dlio_torch.S3IterableDataset(prefix, batch_fetch=batch)
        kw["collate_fn"] = s3dlio_torch.collate
    elif who == "s3dlio010_map":
        data = _s3dlio_010(need_torch=True).ObjectStoreMapDataset(prefix)
    elif who == "s3dlio010_iter":
        s3dlio = _s3dlio_010(need_torch=True)
        data = s3dlio.ObjectStoreIterableDataset.from_prefix(prefix, enable_sharding=workers > 0)
    elif who in ("s3torch_map", "s3torch_iter"):
        from s3torchconnector import S3IterableDataset, S3MapDataset

        common = {
            "region": REGION,
            "endpoint": os.environ["AWS_ENDPOINT_URL"],
            "s3client_config": _s3torch_config(),
            "transform": s3reader_tensor,
        }
        if who == "s3torch_map":
            data = S3MapDataset.from_prefix(prefix, **common)
        else:
            data = S3IterableDataset.from_prefix(prefix, enable_sharding=True, **common)
    else:
        raise SystemExit(f"unknown contender {who!r}")
    return measure(lambda: epoch(DataLoader(data, **kw)), lambda n: n)


def op_gpu_probe(spec: dict) -> dict:
    """Whether CUDA is usable here, and what the device is."""
    import torch

    if not torch.cuda.is_available():
        return {"devices": 0}
    return {"devices": torch.cuda.device_count(), "name": torch.cuda.get_device_name(0)}


def op_gpu(spec: dict) -> dict:
    """Every object into CUDA memory, batch by batch (suite 6). The device
    batches are dropped as a training step would; the clock stops after
    ``torch.cuda.synchronize()``, so every copy has landed."""
    import torch

    who, size, per = spec["contender"], spec["size"], spec["batch"]
    keys = keys_of(spec)
    dev = torch.device(spec.get("device", "cuda"))  # "cpu" checks this code without a GPU
    cuda = dev.type == "cuda"
    torch.empty(1, device=dev)  # CUDA context, not timed
    groups = [keys[i : i + per] for i in range(0, len(keys), per)]

    def moved(batches) -> int:
        n = 0
        for batch in batches:
            n += batch.numel()
        if cuda:
            torch.cuda.synchronize()
        return n

    if who == "h2d_pinned":  # the reference: pinned host memory, copy only
        host = torch.empty(per * size, dtype=torch.uint8, pin_memory=cuda)

        def run(gs):
            return moved(host[: len(g) * size].to(dev, non_blocking=True) for g in gs)

    elif who in ("ours_pinned", "ours_pageable"):
        import s3dlio
        from s3dlio_torch import DeviceLoader

        pinned = who == "ours_pinned"

        def host_batches(gs):
            for g in gs:
                batch = s3dlio.get_batch(uris_of(spec, g), sizes=size, pinned=pinned)
                yield torch.from_dlpack(batch)

        def run(gs):
            if pinned:
                return moved(DeviceLoader(host_batches(gs), dev, prefetch=2))
            return moved(t.to(dev) for t in host_batches(gs))

    elif who in ("s3dlio010", "s3dlio010_pin"):
        s3dlio = _s3dlio_010(need_torch=True)
        pin = who == "s3dlio010_pin" and cuda

        def to_dev(view):
            t = torch.frombuffer(view, dtype=torch.uint8)
            return t.pin_memory().to(dev, non_blocking=True) if pin else t.to(dev)

        def run(gs):
            return moved(to_dev(v) for g in gs for _, v in s3dlio.get_many(uris_of(spec, g)))

    elif who == "dataloader_pin":
        sys.path.insert(0, str(Path(__file__).parent))
        from loader_epoch import PlainFiles
        from torch.utils.data import DataLoader

        root = spec["root"]

        def run(gs):
            paths = [Path(root, k) for g in gs for k in g]
            loader = DataLoader(PlainFiles(paths), batch_size=per, num_workers=2, pin_memory=cuda)
            return moved(b.to(dev, non_blocking=True) for b in loader)

    else:
        raise SystemExit(f"unknown contender {who!r}")
    run(groups[:2])  # set-up: slabs registered, workers and streams made
    return measure(lambda: run(groups), lambda n: n)


def op_shard_epoch(spec: dict) -> dict:
    """One epoch over tar shards (suite 9, ``_shards_op``)."""
    from _shards_op import shard_epoch

    return shard_epoch(spec, measure)


def op_shard_index(spec: dict) -> dict:
    """The shards indexed from their headers (suite 9, ``_shards_op``)."""
    from _shards_op import shard_index

    return shard_index(spec)


def op_cache_epochs(spec: dict) -> dict:
    """Three loader epochs, cached or not (suite 13, ``_cache_op``)."""
    from _cache_op import cache_epochs

    return cache_epochs(spec, _cpu)


def op_parquet_read(spec: dict) -> dict:
    """The chosen columns of every Parquet file as a table (suite 10, ``_parquet_op``)."""
    from _parquet_op import parquet_read

    return parquet_read(spec, measure)


def op_parquet_epoch(spec: dict) -> dict:
    """One DataLoader epoch over Parquet columns (suite 10, ``_parquet_op``)."""
    from _parquet_op import parquet_epoch

    return parquet_epoch(spec, measure)


def op_parquet_bytes(spec: dict) -> dict:
    """One read of Parquet columns through a logging nginx (suite 10, ``_parquet_op``)."""
    from _parquet_op import parquet_bytes

    return parquet_bytes(spec)


def op_versions(spec: dict) -> dict:
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for dist in spec["packages"]:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def op_upload(spec: dict) -> dict:
    """Copy local files to s3:// with our put_many (set-up, not measured)."""
    import s3dlio

    keys = keys_of(spec)
    t0 = time.perf_counter()
    for start in range(0, len(keys), 256):
        chunk = keys[start : start + 256]
        items = [
            (f"s3://{spec['bucket']}/{spec['prefix']}/{k}", Path(spec["root"], k).read_bytes())
            for k in chunk
        ]
        s3dlio.put_many(items)
    return {"seconds": time.perf_counter() - t0, "objects": len(keys)}


OPS = {
    "fetch": op_fetch,
    "get_loop": op_get_loop,
    "memcpy": op_memcpy,
    "floor": op_floor,
    "epoch": op_epoch,
    "gpu": op_gpu,
    "gpu_probe": op_gpu_probe,
    "shard_epoch": op_shard_epoch,
    "cache_epochs": op_cache_epochs,
    "shard_index": op_shard_index,
    "parquet_read": op_parquet_read,
    "parquet_epoch": op_parquet_epoch,
    "parquet_bytes": op_parquet_bytes,
    "versions": op_versions,
    "upload": op_upload,
}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    result = OPS[spec["op"]](spec)
    expect = spec.get("expect")
    if expect is not None and result.get("bytes") != expect:
        unit = {
            "epoch": "samples",
            "cache_epochs": "samples",
            "parquet_read": "rows",
            "parquet_epoch": "rows",
        }.get(spec["op"], "bytes")
        raise SystemExit(f"an epoch gave {result.get('bytes')} {unit}, not {expect}")
    sys.stdout.flush()
    print(json.dumps(result))


if __name__ == "__main__":
    main()

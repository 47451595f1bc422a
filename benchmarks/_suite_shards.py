"""Suite 9 of BENCHMARKS.md: WebDataset tar shards.

64 shards of 256 samples (``--quick``: 4 of 16), each sample a ``jpg`` of
about 100 KiB (random bytes, sizes varying by up to 4 KiB; quick: 4 KiB),
a ``cls`` and a ``json``, written once per run with ``tarfile`` (so read
from the page cache). One torch ``DataLoader`` epoch (batch 64, quick 16;
``num_workers`` 0 and 2) on file:// and on s3:// served by nginx on
127.0.0.1 (bucket ``bench``, see suite 7), per contender:

- ours iterable: ``s3dlio_torch.S3WebDataset(shuffle=True,
  shuffle_buffer=1000)`` (each shard fetched whole, samples through a
  buffer; a file:// shard is mapped, as by default);
- the same on file:// with ``S3DLIO_FILE_MMAP=false`` (shards read into
  fresh memory, not mapped: the opt-out, no target);
- ours map: ``s3dlio_torch.S3TarMapDataset`` with ``DataLoader(shuffle=True)``
  (a global shuffle: every batch ranged reads from any shards);
- ``webdataset.WebDataset`` over the same shards (local paths; ``pipe:curl``
  for S3), every shard shuffled, ``.shuffle(1000)``, no decoding;
- a plain ``tarfile`` loop in one process reading every member (reference).

Everyone hands out raw bytes per field (no image decoding; ours as uint8
tensors), batches as lists of samples (``_shards_op``). The worker checks
each epoch saw every sample exactly once (keys, count and field bytes);
one that did not is an error, not a number. Our datasets index the shards
at construction, before the clock starts, as webdataset does not need to:
that time is the "build s" column. CPU s is user+sys of the process and of
its DataLoader workers and curl processes.

Indexing: every shard listed with ``s3dlio.tar_index`` (headers only,
ranged reads) against an nginx of its own that logs each response's body
bytes (``$body_bytes_sent``): their sum over the shards' bytes is the
share read, as the server sent it; the client's own count
(``buffer_stats()["body_bytes"]``) is shown beside it.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from _bench import (
    BUCKET,
    KIB,
    OURS,
    Config,
    Dataset,
    Runner,
    bad,
    failed,
    fmt_ratio,
    interleave,
    log,
    md_table,
    speed_ratio,
    target,
)
from _suites_servers import _served, ensure_nginx, nginx_server

BUFFER = 1000  # samples in the shuffle buffers of ours iterable and webdataset
PREFIX = "shards"  # under the data folder: s3://bench/shards/ through nginx
ITER, ITER_READ, MAP, WDS, TAR = (
    "ours S3WebDataset (shuffle buffer)",
    "ours S3WebDataset, S3DLIO_FILE_MMAP=false",
    "ours S3TarMapDataset + DataLoader(shuffle=True)",
    "webdataset.WebDataset (.shuffle)",
    "tarfile loop, one process (reference)",
)
GOALS = {"file": 3.0, "s3": 2.0}  # ours iterable vs webdataset, x samples/s
INDEX_SHARE = 0.02


@dataclass
class Shards:
    root: Path
    names: list[str]
    samples: int
    field_bytes: int
    total_bytes: int  # the tar files, as stored
    members: int


def make_shards(root: Path, count: int, per: int, jpg: int) -> Shards:
    """``count`` shards of ``per`` samples, WebDataset's layout (members of
    a sample side by side, ``<key>.<field>``)."""
    root.mkdir(parents=True, exist_ok=True)
    block = os.urandom(jpg + 4 * KIB)
    names, field_bytes = [], 0
    for s in range(count):
        name = f"train-{s:06d}.tar"
        with tarfile.open(root / name, "w", format=tarfile.PAX_FORMAT) as tar:
            for i in range(per):
                g = s * per + i
                fields = {
                    "jpg": block[g % 4096 : g % 4096 + jpg - (g * 37) % min(jpg, 4 * KIB)],
                    "cls": str(g % 1000).encode(),
                    "json": json.dumps({"shard": s, "sample": i}).encode(),
                }
                for field, data in fields.items():
                    info = tarfile.TarInfo(f"s{s:06d}_{i:06d}.{field}")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
                    field_bytes += len(data)
        names.append(name)
    total = sum((root / n).stat().st_size for n in names)
    # Written back before anything is timed: the writeback of 1.7 GB of
    # shards slowed the first file:// epochs of a run (1.55x against 4.09x).
    os.sync()
    return Shards(root, names, count * per, field_bytes, total, count * per * 3)


def _spec(shards: Shards, scheme: str) -> dict:
    return {
        "scheme": scheme,
        "root": str(shards.root),
        "names": shards.names,
        "bucket": BUCKET,
        "prefix": PREFIX,
    }


def _groups(cfg: Config, shards: Shards, schemes: dict[str, dict]) -> list[tuple]:
    groups = []
    for scheme, env in schemes.items():
        for workers in (0, 2):
            base = {
                "op": "shard_epoch",
                "expect": shards.samples,
                "expect_bytes": shards.field_bytes,
                "batch": cfg.batch,
                "workers": workers,
                "buffer": BUFFER,
                "env": env,
                **_spec(shards, scheme),
            }
            named = {ITER: "ours_web", MAP: "ours_tarmap", WDS: "webdataset"}
            if workers == 0:
                named[TAR] = "tarfile"
            contenders = {label: {**base, "contender": c} for label, c in named.items()}
            if scheme == "file":  # shards read, not mapped (the opt-out)
                read = {**env, "S3DLIO_FILE_MMAP": "false"}
                contenders[ITER_READ] = {**base, "contender": "ours_web", "env": read}
            groups.append((scheme, workers, contenders))
    return groups


def _index(runner: Runner, shards: Shards, root: Path) -> dict:
    """tar_index over every shard through an nginx that logs body bytes."""
    workdir = runner.workdir / "nginx-index"
    workdir.mkdir(exist_ok=True)
    spec = {"op": "shard_index", "contender": "ours", "expect_members": shards.members}
    spec.update(_spec(shards, "s3"))
    with nginx_server.serving(root, workdir, log_requests=True) as url:
        out = runner.work({**spec, "env": {"AWS_ENDPOINT_URL": url}})
    if "error" in out:
        return out
    requests, sent = nginx_server.body_bytes_sent(workdir)
    return {**out, "requests": requests, "server_bytes": sent, "shard_bytes": shards.total_bytes}


def suite_shards(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    data = runner.workdir / "data" / PREFIX
    shards = make_shards(data, *cfg.shards)
    log(f"  {len(shards.names)} shards, {shards.samples} samples, {shards.total_bytes:,} bytes")
    why = ensure_nginx()
    if why:
        log(f"  s3:// skipped: {why}")
    cases: list[dict] = []
    index: dict = {"error": f"not measured: {why}"} if why else {}
    with ExitStack() as servers:
        schemes: dict[str, dict] = {"file": {}}
        if not why:
            root = _served(runner)
            workdir = runner.workdir / "nginx-shards"
            workdir.mkdir(exist_ok=True)
            url = servers.enter_context(nginx_server.serving(root, workdir, log_requests=False))
            schemes["s3"] = {"AWS_ENDPOINT_URL": url}
            log(f"  nginx on {url}; indexing")
            index = _index(runner, shards, root)
        for scheme, workers, contenders in _groups(cfg, shards, schemes):
            title = f"{scheme}://, num_workers={workers}"
            log(f"  shards epoch: {title}")
            res = interleave(runner, contenders, cfg.warmup, cfg.runs)
            cases.append({"workload": title, "backend": scheme, "results": res})
    return _report(cases, index, shards, why)


def _report(cases: list[dict], index: dict, shards: Shards, why: str | None) -> dict:
    rows, charts, targets = [], [], []
    for case in cases:
        res, title, scheme = case["results"], case["workload"], case["backend"]
        wds = res.get(WDS)
        bars = []
        for name, r in res.items():
            if bad(r):
                rows.append([title, name, failed(r), "", "", "", ""])
                continue
            rate = shards.samples / r["median_s"]
            bars.append([name, rate])
            build = "-" if r.get("build_s") is None else f"{r['build_s']:.2f}"
            rows.append(
                [
                    title,
                    name,
                    f"{r['median_s']:.3f}",
                    f"{rate:,.0f}",
                    f"{r['cpu_s']:.2f}",
                    build if r["contender"] in OURS else "-",
                    "-" if r is wds else fmt_ratio(speed_ratio(r, wds)),
                ]
            )
        charts.append({"title": f"{title} (samples/s, higher is better)", "bars": bars})
        goal = GOALS[scheme]
        value = speed_ratio(res.get(ITER), wds)
        targets.append(
            target(f"{title}: ours iterable vs webdataset (x samples/s)", value, goal, True)
        )
        value = speed_ratio(res.get(MAP), wds)
        name = f"{title}: ours map, global shuffle, vs webdataset buffered (x samples/s)"
        targets.append(target(name, value, 1, True))
    if "s3" not in {c["backend"] for c in cases}:
        for goal in (GOALS["s3"], 1.0):
            what = "iterable" if goal > 1 else "map, global shuffle,"
            name = f"s3:// (not measured: {why}): ours {what} vs webdataset"
            targets.append(target(name, None, goal, True))
    share = None
    if "error" in index:
        index_md = f"Indexing: {index['error']}."
    else:
        share = index["server_bytes"] / index["shard_bytes"]
        index_md = (
            f"Indexing {len(shards.names)} shards ({index['members']} members, "
            f"{index['shard_bytes']:,} bytes) with `tar_index` over nginx: "
            f"{index['requests']} GETs, {index['server_bytes']:,} body bytes sent by nginx "
            f"({share:.2%} of the shards; the client counted {index['client_body_bytes']:,}), "
            f"in {index['seconds']:.3f} s."
        )
    targets.append(target("indexing a shard: share of its bytes read", share, INDEX_SHARE, False))
    header = ["epoch", "contender", "median s", "samples/s", "CPU s", "build s", "vs webdataset"]
    md = "\n\n".join(
        [
            (
                f"{len(shards.names)} shards x {shards.samples // len(shards.names)} samples "
                f"(jpg, cls, json; {shards.total_bytes / 1e6:,.1f} MB), one DataLoader epoch. "
                "Every contender hands out raw bytes per field, batched as lists; each epoch "
                "is checked to hold every sample exactly once. Ours index the shards when "
                "built, before the clock starts ('build s'); CPU s includes DataLoader "
                "workers and curl. s3:// is nginx on 127.0.0.1 (webdataset through "
                "`pipe:curl`, tarfile through urllib)."
            ),
            md_table(header, rows),
            index_md,
        ]
    )
    return {"cases": cases, "index": index, "targets": targets, "charts": charts, "md": md}

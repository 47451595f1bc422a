"""Suite 13 "cache": the local cache of remote objects over suite 1's
4000 x 256 KiB set (``--quick``: 64 x 64 KiB), three ``S3MapDataset``
DataLoader epochs in one process, ``num_workers`` 0 and 2
(``--quick``: 0), each contender in fresh processes, interleaved:

- s3:// through nginx on 127.0.0.1, no cache (the reference for epoch 1);
- the same with ``S3DLIO_CACHE_DIR`` (an empty cache per run), every
  cached read validated by one HEAD (``cache_validate=etag``, the default
  for a dataset given as URIs);
- the same with ``cache_validate=never``, which costs what a dataset made
  from a listing costs (its listing validates every copy; nginx cannot
  list);
- file:// over the same files (the reference for epochs 2-3);
- the uncached run writing each object of its first epoch to a file
  (reference: what keeping 1 GB on this disk costs at least).

Targets (issue "A local cache of remote objects"): epoch 1 within 5% of
uncached; epochs 2-3 within 1.2x of the file:// figure. The cache lives in
the benchmark's work folder, on the same disk as the file:// data.
"""

from __future__ import annotations

from contextlib import ExitStack

from _bench import (
    Config,
    Dataset,
    Runner,
    bad,
    data_spec,
    failed,
    interleave,
    log,
    md_table,
    size_label,
    target,
)
from _suites_servers import _served, ensure_nginx, nginx_server

UNCACHED = "s3:// (nginx), no cache"
ETAG = "s3:// (nginx), cache, validated by HEAD"
NEVER = "s3:// (nginx), cache, cache_validate=never (as a listed dataset)"
FILE = "file:// (the same files)"
FLOOR = "s3:// (nginx), no cache, epoch 1 also writes each object to a file (reference)"
EPOCH1_GOAL, LATER_GOAL = 1.05, 1.2


def _contenders(runner: Runner, cfg: Config, ds: Dataset, url: str, workers: int) -> dict:
    cache_root = runner.workdir / "caches"
    cache_root.mkdir(exist_ok=True)
    base = {
        "op": "cache_epochs",
        "contender": "ours_map",
        "expect": ds.count,
        "batch": cfg.batch,
        "workers": workers,
        "epochs": 3,
        "size": ds.size,
        "cache_root": str(cache_root),
    }
    s3 = {**base, **data_spec(ds, "s3"), "env": {"AWS_ENDPOINT_URL": url}}
    return {
        UNCACHED: s3,
        FLOOR: {**s3, "write_floor": True},
        ETAG: {**s3, "cached": True, "validate": "etag"},
        NEVER: {**s3, "cached": True, "validate": "never"},
        FILE: {**base, **data_spec(ds, "file")},
    }


def suite_cache(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    ds = sets["small"]
    why = ensure_nginx()
    if why:
        log(f"  skipped: {why}")
        return {"cases": [], "targets": [], "charts": [], "md": f"Not measured: {why}."}
    cases = []
    with ExitStack() as servers:
        workdir = runner.workdir / "nginx-cache"
        workdir.mkdir(exist_ok=True)
        served = nginx_server.serving(_served(runner), workdir, log_requests=False)
        url = servers.enter_context(served)
        for workers in (0,) if cfg.quick else (0, 2):
            title = f"num_workers={workers}"
            log(f"  cache epochs: {title}")
            contenders = _contenders(runner, cfg, ds, url, workers)
            res = interleave(runner, contenders, cfg.warmup, cfg.runs)
            cases.append({"workload": title, "results": res})
    return _report(cases, ds, cfg)


def _epoch(r: dict, key: str) -> float:
    return r["medians"][key]


def _report(cases: list[dict], ds: Dataset, cfg: Config) -> dict:
    rows, targets, charts = [], [], []
    for case in cases:
        res, title = case["results"], case["workload"]
        bars = []
        for name, r in res.items():
            if bad(r):
                rows.append([title, name, failed(r), "", "", "", ""])
                continue
            epochs = [_epoch(r, f"epoch{i}_s") for i in (1, 2, 3)]
            later_gets = int(_epoch(r, "epoch2_gets") + _epoch(r, "epoch3_gets"))
            bars.append([name, epochs[1]])
            rows.append(
                [title, name, *(f"{t:.3f}" for t in epochs), f"{r['cpu_s']:.2f}", str(later_gets)]
            )
        charts.append({"title": f"{title}: epoch 2 (median s, lower is better)", "bars": bars})
        for cached in (ETAG, NEVER):
            c, u, f = res.get(cached), res.get(UNCACHED), res.get(FILE)
            first = None if bad(c) or bad(u) else _epoch(c, "epoch1_s") / _epoch(u, "epoch1_s")
            later = None if bad(c) or bad(f) else _epoch(c, "later_s") / _epoch(f, "later_s")
            short = "HEAD" if cached == ETAG else "never"
            name = f"{title}, validated by {short}: epoch 1 vs uncached (x time)"
            targets.append(target(name, first, EPOCH1_GOAL, False))
            name = f"{title}, validated by {short}: epochs 2-3 vs file:// (x time)"
            targets.append(target(name, later, LATER_GOAL, False))
        floor = res.get(FLOOR)
        if not bad(floor) and not bad(res.get(UNCACHED)):
            case["write_floor_ratio"] = _epoch(floor, "epoch1_s") / _epoch(
                res[UNCACHED], "epoch1_s"
            )
    header = ["workers", "contender", "epoch 1 s", "epoch 2 s", "epoch 3 s", "CPU s", "GETs 2-3"]
    md = "\n\n".join(
        [
            (
                f"{size_label(ds.count, ds.size)}, three DataLoader epochs of S3MapDataset "
                f"(batch {cfg.batch}) in one process; median of {cfg.runs} interleaved runs, "
                "a fresh process and an empty cache each. CPU s is the main process's over "
                "the three epochs; 'GETs 2-3' are the main process's GETs in epochs 2 and 3 "
                "(with workers, theirs are not seen here)."
            ),
            md_table(header, rows),
            "Writing the objects out alone (the reference row) takes epoch 1 to "
            + ", ".join(
                f"{c['write_floor_ratio']:.2f}x the uncached time ({c['workload']})"
                for c in cases
                if "write_floor_ratio" in c
            )
            + ": the floor under the epoch-1 target on this machine.",
        ]
    )
    return {"cases": cases, "targets": targets, "charts": charts, "md": md}

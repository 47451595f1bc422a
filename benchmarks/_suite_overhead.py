"""Suite 1's steady ``get_many`` and suite 4's ``S3MapDataset`` epoch
(``num_workers`` 0 and 2) over its 4000 x 256 KiB set, on file:// and on
s3:// (moto) (``--quick``: 64 x 64 KiB, file:// ``get_many`` and one
s3:// epoch), each run three ways in interleaved rounds: with counting
off (``S3DLIO_METRICS=false``, the baseline), as shipped (metrics on),
and with the operation log on as well (``S3DLIO_OPLOG``, zstd-compressed,
each process and worker writing its own file). The cost is the median
time over the baseline's, minus one.
Targets (issue "See what the I/O is doing"): metrics within noise (<= 2%),
the operation log <= 5%.
"""

from __future__ import annotations

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

OFF = "counting off (S3DLIO_METRICS=false)"
ON = "metrics on (default)"
LOGGED = "metrics and op-log on"
METRICS_GOAL, OPLOG_GOAL = 0.02, 0.05


def _workloads(cfg: Config, ds: Dataset) -> list[tuple[str, dict]]:
    """Every workload; ``--quick`` (the smoke test) only one of each kind."""
    out = []
    for scheme in ("file", "s3"):
        data = data_spec(ds, scheme)
        fetch = {"op": "fetch", "expect": ds.total, "steady": True, "contender": "ours"}
        if not cfg.quick or scheme == "file":
            out.append((f"get_many {scheme}://", {**fetch, **data}))
        for workers in (0,) if cfg.quick and scheme == "s3" else () if cfg.quick else (0, 2):
            epoch = {"op": "epoch", "expect": ds.count, "batch": cfg.batch, "workers": workers}
            name = f"S3MapDataset epoch {scheme}://, num_workers={workers}"
            out.append((name, {**epoch, **data, "contender": "ours_map"}))
    return out


def suite_overhead(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    ds = sets["small"]
    logs = runner.workdir / "oplogs"
    logs.mkdir(exist_ok=True)
    cases, rows, targets, charts = [], [], [], []
    for n, (title, spec) in enumerate(_workloads(cfg, ds)):
        contenders = {
            OFF: {**spec, "env": {"S3DLIO_METRICS": "false"}},
            ON: spec,
            LOGGED: {**spec, "env": {"S3DLIO_OPLOG": str(logs / f"w{n}.tsv.zst")}},
        }
        log(f"  overhead: {title}")
        # A file:// run is a tenth of a second: three times the runs for a
        # steadier median.
        runs = cfg.runs * (3 if spec["scheme"] == "file" else 1)
        res = interleave(runner, contenders, cfg.warmup, runs)
        cases.append({"workload": title, "results": res})
        base = res[OFF]
        bars = [[name, r["median_s"]] for name, r in res.items() if not bad(r)]
        charts.append({"title": f"{title} (median s, lower is better)", "bars": bars})
        for name, r in res.items():
            if bad(r):
                rows.append([title, name, failed(r), ""])
                continue
            cost = "-" if name == OFF or bad(base) else f"{_cost(r, base):+.1%}"
            rows.append([title, name, f"{r['median_s']:.3f}", cost])
        for name, goal in ((ON, METRICS_GOAL), (LOGGED, OPLOG_GOAL)):
            value = None if bad(base) or bad(res[name]) else _cost(res[name], base)
            what = "metrics" if name == ON else "metrics + op-log"
            targets.append(target(f"{title}: cost of {what}", value, goal, False))
    md = "\n\n".join(
        [
            (
                f"{size_label(ds.count, ds.size)}, median of {cfg.runs} interleaved runs each "
                f"({3 * cfg.runs} on file://); "
                "cost = median time / the median with counting off - 1 (noise on this "
                "machine is a few percent either way)."
            ),
            md_table(["workload", "configuration", "median s", "cost"], rows),
        ]
    )
    return {"cases": cases, "targets": targets, "charts": charts, "md": md}


def _cost(r: dict, base: dict) -> float:
    return r["median_s"] / base["median_s"] - 1.0

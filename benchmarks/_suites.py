"""Suites 1-6 of BENCHMARKS.md: get_many throughput, per-call latency,
scaling, loader epochs, peak memory and the GPU."""

from __future__ import annotations

from _bench import (
    FIRST_HEAD,
    FLOOR_PREAD,
    FLOOR_RECV,
    FLOOR_RECV_1,
    GIB,
    IN_FLIGHT,
    LABELS,
    OURS,
    Config,
    Dataset,
    Runner,
    bad,
    cpu_per_gb,
    data_spec,
    failed,
    first_fetch,
    fmt_ratio,
    gbps,
    interleave,
    log,
    md_table,
    size_label,
    speed_ratio,
    target,
)

# --------------------------------------------------------------------------- suites


def first_ratio(ours: dict | None, other: dict | None) -> float | None:
    """How many times faster ``ours`` is on the first fetch of a process."""
    if not ours or not other or bad(ours) or bad(other):
        return None
    if not ours.get("first_s") or not other.get("first_s"):
        return None
    return other["first_s"] / ours["first_s"]


def suite_get_many(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    cases = []
    for ds in (sets["small"], sets["large"]):
        for backend in ("local", "s3"):
            base = {"op": "fetch", "expect": ds.total, "steady": True}
            if backend == "local":
                plan = [
                    ("ours", "file"),
                    ("ours_mmap", "file"),
                    ("ours", "direct"),
                    ("s3dlio010", "file"),
                    ("s3dlio010", "direct"),
                    ("obstore", "file"),
                    ("python", "file"),
                    ("memcpy", "file"),
                ]
            else:
                plan = [(c, "s3") for c in ("ours", "s3dlio010", "obstore", "boto3", "s3torch")]
            contenders = {
                f"{LABELS[c]} ({s}://)": {**base, **data_spec(ds, s), "contender": c}
                for c, s in plan
            }
            for spec in contenders.values():
                if spec["contender"] == "memcpy":
                    spec.update(op="memcpy", size=ds.size, count=ds.count)
                if spec["contender"] == "ours_mmap":
                    spec["env"] = {"S3DLIO_FILE_MMAP": "true"}
            floor = {**base, "op": "floor", "contender": "floor"}
            if backend == "local":
                floor.update(data_spec(ds, "file"), program="pread_floor")
                contenders[FLOOR_PREAD] = floor
            else:
                floor.update(data_spec(ds, "s3"), program="recv_floor")
                contenders[FLOOR_RECV] = {**floor, "connections": IN_FLIGHT}
                contenders[FLOOR_RECV_1] = {**floor, "connections": 1}
            log(f"  get_many {size_label(ds.count, ds.size)} {backend}")
            res = interleave(runner, contenders, cfg.warmup, cfg.runs)
            cases.append(
                {"workload": size_label(ds.count, ds.size), "backend": backend, "results": res}
            )
    local_rows, s3_rows, targets, charts = [], [], [], []
    for case in cases:
        res = case["results"]
        ours_of = {
            r["scheme"]: r for r in res.values() if r.get("contender") == "ours" and not bad(r)
        }
        bars = []
        for name, r in res.items():
            if bad(r):
                row = [case["workload"], name, failed(r), "", "", ""]
                (local_rows if case["backend"] == "local" else s3_rows).append(row)
                continue
            ratio = speed_ratio(ours_of.get(r["scheme"]), r)
            cpu_gb = cpu_per_gb(r)
            first = first_fetch(r)
            bars.append([name, gbps(r)])
            if case["backend"] == "local":
                local_rows.append(
                    [
                        case["workload"],
                        name,
                        f"{r['median_s']:.3f}",
                        f"{gbps(r):.2f}",
                        "-" if r.get("contender") == "ours" else fmt_ratio(ratio),
                        first,
                    ]
                )
            else:
                ours_cpu = cpu_per_gb(ours_of.get("s3"))
                cpu_ratio = (
                    "-"
                    if r.get("contender") == "ours" or ours_cpu is None
                    else f"{ours_cpu / cpu_gb:.2f}x"
                )
                s3_rows.append(
                    [
                        case["workload"],
                        name,
                        f"{r['median_s']:.3f}",
                        f"{gbps(r):.2f}",
                        "-" if r.get("contender") == "ours" else fmt_ratio(ratio),
                        f"{cpu_gb:.2f}",
                        cpu_ratio,
                        first,
                    ]
                )
        charts.append(
            {
                "title": f"{case['workload']}, {case['backend']} (GB/s, higher is better)",
                "bars": bars,
            }
        )
        get = {r.get("contender") + "/" + str(r.get("scheme")): r for r in res.values()}
        work = case["workload"]
        if case["backend"] == "local":
            ours, floor = get.get("ours/file"), res.get(FLOOR_PREAD)
            if work == size_label(*cfg.small):
                goals = [("vs s3dlio 0.10.0 (x faster)", "s3dlio010", 4)]
                goals.append(("vs open().read() (x faster)", "python", 3))
            else:
                goals = [("vs s3dlio 0.10.0 (x faster)", "s3dlio010", 3)]
                goals.append(("share of warm memcpy bandwidth", "memcpy", 0.5))
            for what, peer, goal in goals:
                theirs = get.get(f"{peer}/file")
                value, best = speed_ratio(ours, theirs), speed_ratio(floor, theirs)
                targets.append(target(f"{work} file:// {what}", value, goal, True, best))
            # Mapped pages: what a fresh process gains when nothing is copied.
            mapped = get.get("ours_mmap/file")
            for what, other, goal in (
                ("s3dlio 0.10.0", get.get("s3dlio010/file"), 3),
                ("the C pread floor", floor, 2),
            ):
                value, best = first_ratio(mapped, other), first_ratio(floor, other)
                name = f"{work} file:// mmap on, first fetch vs {what} (x faster)"
                targets.append(target(name, value, goal, True, best))
        else:
            ours, floor = cpu_per_gb(get.get("ours/s3")), cpu_per_gb(res.get(FLOOR_RECV))
            for peer, goal in (("s3dlio010", 0.5), ("boto3", 0.3)):
                theirs = cpu_per_gb(get.get(f"{peer}/s3"))
                value = None if ours is None or not theirs else ours / theirs
                best = None if floor is None or not theirs else floor / theirs
                name = f"{work} s3:// client CPU s/GB, ours / {LABELS[peer]}"
                targets.append(target(name, value, goal, False, best))
    md = "\n\n".join(
        [
            (
                "Each process fetches everything once (the first fetch, what a fresh "
                "process pays: every contender faults in fresh pages), drops it, and "
                "is timed on a second full fetch (steady state, what a loader that has "
                "run a while sees: memory it recycles is mapped by then). The targets "
                "use the steady state. The C floors (`benchmarks/floors/`) land every "
                "object in memory they keep and do nothing else: `pread` on a thread "
                "per core, and plain-HTTP GETs received with `recv` (one connection "
                "each, as many at once as get_many's default requests in flight, or "
                "one at a time; moto closes every connection after one response, for "
                "every client). They bound what a reader that fills its own buffers "
                "reaches here; the targets table shows the same ratio for the floor "
                "(for S3, the one at get_many's concurrency)."
            ),
            "Local (page cache warm for file://; direct:// bypasses it):",
            md_table(
                ["workload", "contender", "median s", "GB/s", "ours is", FIRST_HEAD],
                local_rows,
            ),
            (
                "S3 (moto on 127.0.0.1; the server is the bottleneck, so client CPU "
                "seconds per GB, user+sys of the client process, stand beside throughput):"
            ),
            md_table(
                [
                    "workload",
                    "contender",
                    "median s",
                    "GB/s",
                    "ours is",
                    "client CPU s/GB",
                    "ours uses",
                    FIRST_HEAD + ", CPU s/GB",
                ],
                s3_rows,
            ),
        ]
    )
    return {"cases": cases, "targets": targets, "charts": charts, "md": md}


def suite_latency(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    ds = sets["latency"]
    base = {"op": "get_loop", "expect": ds.total, **data_spec(ds, "file")}
    names = {
        "ours get": "ours",
        "s3dlio 0.10.0 get": "s3dlio010",
        "obstore get (sync)": "obstore",
        "Python open().read()": "python",
    }
    contenders = {label: {**base, "contender": c} for label, c in names.items()}
    log(f"  get loop over {size_label(ds.count, ds.size)} file://")
    res = interleave(runner, contenders, cfg.warmup, cfg.runs)
    py = res["Python open().read()"]
    rows, bars = [], []
    for name, r in res.items():
        if bad(r):
            rows.append([name, failed(r), "", ""])
            continue
        us = r["median_s"] / ds.count * 1e6
        vs = "-" if bad(py) else f"{r['median_s'] / py['median_s']:.2f}x"
        rows.append([name, f"{r['median_s']:.3f}", f"{us:.1f}", vs])
        bars.append([name, us])
    ours = res["ours get"]
    value = None if bad(ours) or bad(py) else ours["median_s"] / py["median_s"]
    targets = [target("4 KiB get per call, ours / open().read()", value, 1.5, False)]
    md = md_table(
        [f"{ds.count} x 4 KiB, file://, one call each", "loop s", "us per call", "vs open()"],
        rows,
    )
    chart = {"title": "4 KiB get, microseconds per call (lower is better)", "bars": bars}
    return {
        "cases": [{"workload": size_label(ds.count, ds.size), "results": res}],
        "targets": targets,
        "charts": [chart],
        "md": md,
    }


def suite_scaling(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    contenders = {}
    for n in cfg.scaling:
        ds = sets[f"n{n}"]
        base = {"op": "fetch", "expect": ds.total, **data_spec(ds, "file")}
        contenders[f"ours get_many, {n}"] = {**base, "contender": "ours", "n": n}
        if n <= cfg.old_scaling_max:
            contenders[f"s3dlio 0.10.0 get_many, {n}"] = {**base, "contender": "s3dlio010", "n": n}
    log(f"  scaling {cfg.scaling} x 4 KiB file://")
    res = interleave(runner, contenders, cfg.warmup, cfg.runs)
    rows, bars, ours_per = [], [], []
    for name, r in res.items():
        n = contenders[name]["n"]
        label = name.rsplit(",", 1)[0]
        if bad(r):
            rows.append([f"{n:,}", label, failed(r), ""])
            continue
        per = r["median_s"] / n * 1e6
        if r["contender"] == "ours":
            ours_per.append(per)
        rows.append([f"{n:,}", label, f"{r['median_s']:.3f}", f"{per:.2f}"])
        bars.append([f"{label}, {n:,}", per])
    not_run = [n for n in cfg.scaling if n > cfg.old_scaling_max]
    if not_run:
        rows.append(
            [
                ", ".join(f"{n:,}" for n in not_run),
                LABELS["s3dlio010"],
                "not run (quadratic in the URI count)",
                "",
            ]
        )
    flat = max(ours_per) / min(ours_per) if len(ours_per) == len(cfg.scaling) else None
    targets = [target("time per object, slowest / fastest size (ours)", flat, 1.25, False)]
    md = md_table(["objects (4 KiB, file://)", "contender", "median s", "us per object"], rows)
    chart = {"title": "microseconds per object (lower is better)", "bars": bars}
    return {
        "cases": [{"workload": "4 KiB objects", "results": res}],
        "targets": targets,
        "charts": [chart],
        "md": md,
    }


def suite_loader(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    ds = sets["small"]
    groups = []
    torch_file = {
        "plain files Dataset": "plain",
        "ours S3MapDataset": "ours_map",
        "ours S3IterableDataset": "ours_iter",
        "s3dlio 0.10.0 ObjectStoreMapDataset": "s3dlio010_map",
        "s3dlio 0.10.0 ObjectStoreIterableDataset": "s3dlio010_iter",
    }
    torch_s3 = {
        "ours S3MapDataset": "ours_map",
        "ours S3IterableDataset": "ours_iter",
        "s3dlio 0.10.0 ObjectStoreMapDataset": "s3dlio010_map",
        "s3dlio 0.10.0 ObjectStoreIterableDataset": "s3dlio010_iter",
        "s3torchconnector S3MapDataset": "s3torch_map",
        "s3torchconnector S3IterableDataset": "s3torch_iter",
    }
    for scheme, named in (("file", torch_file), ("s3", torch_s3)):
        for workers in (0, 2):
            base = {
                "op": "epoch",
                "expect": ds.count,
                "batch": cfg.batch,
                "workers": workers,
                **data_spec(ds, scheme),
            }
            groups.append(
                (
                    f"torch {scheme}://, num_workers={workers}",
                    {label: {**base, "contender": c} for label, c in named.items()},
                )
            )
    base = {"op": "epoch", "expect": ds.count, "batch": cfg.batch, "workers": 0}
    groups.append(
        (
            "jax file://",
            {
                "numpy loop + jnp.asarray": {
                    **base,
                    **data_spec(ds, "file"),
                    "contender": "jax_numpy",
                },
                "ours JaxLoader": {**base, **data_spec(ds, "file"), "contender": "ours_jax"},
            },
        )
    )
    cases, rows, targets, charts = [], [], [], []
    for title, contenders in groups:
        log(f"  loader epoch: {title}")
        res = interleave(runner, contenders, cfg.warmup, cfg.runs)
        cases.append({"workload": title, "results": res})
        ours = res.get("ours S3MapDataset") or res.get("ours JaxLoader")
        bars = []
        for name, r in res.items():
            if bad(r):
                rows.append([title, name, failed(r), "", ""])
                continue
            rate = ds.count / r["median_s"]
            mine = r["contender"] in OURS
            rows.append(
                [
                    title,
                    name,
                    f"{r['median_s']:.3f}",
                    f"{rate:,.0f}",
                    "-" if mine else fmt_ratio(speed_ratio(ours, r)),
                ]
            )
            bars.append([name, rate])
        charts.append({"title": f"{title} (samples/s, higher is better)", "bars": bars})
        if title.startswith("torch file://"):
            olds = [
                r
                for k, r in res.items()
                if k.startswith("s3dlio 0.10.0") and not bad(r) and "median_s" in r
            ]
            best_old = min(olds, key=lambda r: r["median_s"]) if olds else None
            targets.append(
                target(
                    f"{title}: ours map vs s3dlio 0.10.0's best dataset (x faster)",
                    speed_ratio(ours, best_old) if best_old else None,
                    2,
                    True,
                )
            )
            targets.append(
                target(
                    f"{title}: ours map vs plain files Dataset (x faster)",
                    speed_ratio(ours, res["plain files Dataset"]),
                    1.5,
                    True,
                )
            )
    md = md_table(
        [
            f"epoch over {size_label(ds.count, ds.size)}, batch {cfg.batch}",
            "contender",
            "median s",
            "samples/s",
            "ours (map / JaxLoader) is",
        ],
        rows,
    )
    return {"cases": cases, "targets": targets, "charts": charts, "md": md}


def suite_memory(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    plans = [
        (sets["small"], "file", ["ours", "ours_batch", "s3dlio010", "obstore", "python"]),
        (sets["large"], "file", ["ours", "ours_batch", "s3dlio010", "obstore", "python"]),
        (sets["large"], "s3", ["ours", "ours_batch", "s3dlio010", "obstore", "boto3", "s3torch"]),
    ]
    cases, rows, targets, charts = [], [], [], []
    for ds, scheme, who in plans:
        base = {"op": "fetch", "expect": ds.total, **data_spec(ds, scheme)}
        contenders = {LABELS[c]: {**base, "contender": c} for c in who}
        title = f"{size_label(ds.count, ds.size)}, {scheme}://"
        log(f"  memory: {title}")
        res = interleave(runner, contenders, 0, cfg.mem_runs)
        cases.append({"workload": title, "results": res})
        bars = []
        for name, r in res.items():
            if bad(r):
                rows.append([title, name, failed(r), "", ""])
                continue
            x = r["peak_added"] / ds.total
            rows.append(
                [
                    title,
                    name,
                    f"{r['peak_added'] / GIB:.3f}",
                    f"{x:.3f}x",
                    f"{r['held_added'] / GIB:.3f}",
                ]
            )
            bars.append([name, x])
            if r["contender"] in OURS:
                targets.append(target(f"{title}: {name} peak RSS / data", x, 1.1, False))
        charts.append({"title": f"{title}: peak RSS added / data (lower is better)", "bars": bars})
    md = md_table(
        ["data", "contender", "peak RSS added (GiB)", "x data", "RSS held after (GiB)"], rows
    )
    return {"cases": cases, "targets": targets, "charts": charts, "md": md}


GPU_LABELS = {
    "h2d_pinned": "pinned H2D copy alone (reference)",
    "ours_pinned": "ours get_batch(pinned) + DeviceLoader",
    "ours_pageable": "ours get_batch + .to(cuda)",
    "s3dlio010": "s3dlio 0.10.0 get_many + .to(cuda)",
    "s3dlio010_pin": "s3dlio 0.10.0 get_many + pin_memory() + .to(cuda)",
    "dataloader_pin": "DataLoader(pin_memory=True), 2 workers, plain files",
}


def suite_gpu(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    probe = runner.work({"op": "gpu_probe", "contender": "ours"})
    if not probe.get("devices"):
        reason = probe.get("error") or "no CUDA device on this machine"
        log(f"  gpu: skipped ({reason})")
        md = f"Skipped: {reason}."
        return {"skipped": reason, "cases": [], "targets": [], "charts": [], "md": md}
    cases, rows, targets, charts = [], [], [], []
    for ds, per in ((sets["large"], 8), (sets["small"], cfg.batch)):
        base = {"op": "gpu", "batch": per, "size": ds.size, "expect": ds.total}
        base.update(data_spec(ds, "file"))
        contenders = {label: {**base, "contender": c} for c, label in GPU_LABELS.items()}
        title = f"{size_label(ds.count, ds.size)}, file:// to {probe.get('name', 'CUDA')}"
        log(f"  gpu: {title}")
        res = interleave(runner, contenders, cfg.warmup, cfg.runs)
        ref = res[GPU_LABELS["h2d_pinned"]]
        ours = res[GPU_LABELS["ours_pinned"]]
        bars = []
        for name, r in res.items():
            if bad(r):
                rows.append([title, name, failed(r), "", "", ""])
                continue
            share = None if bad(ref) else gbps(r) / gbps(ref)
            rows.append(
                [
                    title,
                    name,
                    f"{r['median_s']:.3f}",
                    f"{gbps(r):.2f}",
                    "-" if share is None else f"{share:.0%}",
                    "-" if r is ours else fmt_ratio(speed_ratio(ours, r)),
                ]
            )
            bars.append([name, gbps(r)])
        charts.append({"title": f"{title}: GB/s (higher is better)", "bars": bars})
        cases.append({"workload": title, "results": res})
        share = None if bad(ours) or bad(ref) else gbps(ours) / gbps(ref)
        old_pin = speed_ratio(ours, res[GPU_LABELS["s3dlio010_pin"]])
        if ds is sets["large"]:
            targets.append(target(f"{title}: ours / pinned H2D bandwidth", share, 0.75, True))
            name = f"{title}: vs s3dlio 0.10.0 + pin_memory() (x)"
            targets.append(target(name, old_pin, 3, True))
    md = md_table(
        ["workload", "contender", "median s", "GB/s", "of pinned H2D", "ours pinned is"], rows
    )
    return {"cases": cases, "targets": targets, "charts": charts, "md": md, "device": probe}

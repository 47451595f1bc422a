"""Suites 7 and 8 of BENCHMARKS.md.

7. S3 GETs against nginx on 127.0.0.1 (static files, keep-alive, ranges;
   it ignores signatures), plain HTTP and HTTPS with a certificate made at
   run time: a server that is not the bottleneck, unlike moto, so clients
   differ. Every client is told to trust the certificate (``AWS_CA_BUNDLE``
   and ``SSL_CERT_FILE``) except obstore, which has no such setting and
   skips verification instead (as the TLS floor does). nginx is installed
   (``apt-get install nginx-light``, as root) when it is missing; where it
   cannot be, the suite says so and measures nothing.
8. Cold reads: the files are evicted from the page cache before every
   fetch (``posix_fadvise(DONTNEED)`` per file, checked with ``mincore``),
   file:// and direct://, beside the C ``pread`` floor at the queue depth
   local reads run at (the blocking workers: four per core, at least 8).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

from _bench import (
    LABELS,
    ROOT,
    Config,
    Dataset,
    Runner,
    bad,
    cpu_per_gb,
    data_spec,
    failed,
    fmt_ratio,
    gbps,
    interleave,
    log,
    md_table,
    size_label,
    speed_ratio,
    target,
)
from _worker import IN_FLIGHT

sys.path.insert(0, str(ROOT / "tests"))
import nginx_server  # the one nginx launcher, shared with the tests

FLOOR_KEEP = f"C recv floor, {IN_FLIGHT} kept-alive connections (reference)"
FLOOR_CLOSE = f"C recv floor, {IN_FLIGHT} connections, one per request (reference)"
FLOOR_TLS = f"C SSL_read floor, {IN_FLIGHT} kept-alive TLS connections (reference)"
PEERS_S3 = ("s3dlio010", "obstore", "boto3", "s3torch")


def ensure_nginx() -> str | None:
    """None when nginx can run here, else why not (after trying to install it)."""
    if nginx_server.executable() and shutil.which("openssl"):
        return None
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return "nginx (or openssl) is not installed and cannot be: not root, or no apt-get"
    log("  installing nginx-light and openssl (apt-get)")
    for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "nginx-light"]):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            return f"apt-get could not install nginx-light: {done.stderr.strip()[-300:]}"
    subprocess.run(["apt-get", "install", "-y", "-qq", "openssl"], capture_output=True)
    if nginx_server.executable() and shutil.which("openssl"):
        return None
    return "nginx-light was installed but no nginx or openssl executable was found"


def _served(runner: Runner) -> Path:
    """nginx's root: bucket ``bench`` is the datasets' folder."""
    root = runner.workdir / "nginx-root"
    root.mkdir(exist_ok=True)
    bucket = root / "bench"
    if not bucket.exists():
        bucket.symlink_to(runner.workdir / "data")
    return root


def _first(ds: Dataset, count: int, runner: Runner) -> Dataset:
    """The first ``count`` objects of ``ds`` (same files, same prefix)."""
    keys = ds.keys_file.read_text().split()[:count]
    path = runner.workdir / f"keys-{ds.name}-first{count}.txt"
    path.write_text("\n".join(keys) + "\n")
    return Dataset(ds.name, ds.root, path, len(keys), ds.size)


def suite_nginx(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    why = ensure_nginx()
    if why:
        log(f"  skipped: {why}")
        md = f"Skipped: {why}."
        return {"cases": [], "targets": [], "charts": [], "md": md, "skipped": why}
    large = sets["large"]
    fewer = _first(large, max(1, large.count * 3 // 4), runner)  # fewer objects than slots
    cases = []
    with ExitStack() as servers:
        root = _served(runner)
        endpoints = {}
        for proto, tls in (("http", False), ("https", True)):
            workdir = runner.workdir / f"nginx-{proto}"
            workdir.mkdir(exist_ok=True)
            url = servers.enter_context(
                nginx_server.serving(root, workdir, tls=tls, log_requests=False)
            )
            env = {"AWS_ENDPOINT_URL": url}
            if tls:
                ca = str(nginx_server.certificate(workdir))
                env.update(AWS_CA_BUNDLE=ca, SSL_CERT_FILE=ca)
            endpoints[proto] = env
        urls = [env["AWS_ENDPOINT_URL"] for env in endpoints.values()]
        log(f"  nginx on {' and '.join(urls)}")
        plan = [(sets["small"], "http"), (large, "http"), (fewer, "http")]
        plan += [(sets["small"], "https"), (large, "https")]
        for ds, proto in plan:
            env = endpoints[proto]
            base = {"op": "fetch", "expect": ds.count * ds.size, "steady": True, "env": env}
            base.update(data_spec(ds, "s3"))
            peers = PEERS_S3 if ds is not fewer else ("s3dlio010",)
            contenders = {
                f"{LABELS[c]} ({proto})": {**base, "contender": c} for c in ("ours", *peers)
            }
            # Ours with a runtime worker on every core (the default leaves
            # one to the caller): what the one worker costs here.
            every_core = {"S3DLIO_THREADS": str(len(os.sched_getaffinity(0)))}
            contenders[f"{LABELS['ours_all_cores']} ({proto})"] = {
                **base,
                "contender": "ours",
                "env": {**env, **every_core},
            }
            floor = {**base, "op": "floor", "contender": "floor", "program": "recv_floor"}
            floor["connections"] = IN_FLIGHT
            if proto == "https":
                contenders[FLOOR_TLS] = {**floor, "mode": "tls"}
            else:
                contenders[FLOOR_KEEP] = {**floor, "mode": "keep"}
                if ds is not fewer:
                    contenders[FLOOR_CLOSE] = {**floor, "mode": "close"}
            work = size_label(ds.count, ds.size)
            log(f"  nginx {proto} {work}")
            res = interleave(runner, contenders, cfg.warmup, cfg.runs)
            cases.append({"workload": work, "backend": proto, "results": res})
    return _nginx_report(cases, fewer)


def _nginx_report(cases: list[dict], fewer: Dataset) -> dict:
    rows, charts, targets = [], [], []
    by = {(c["workload"], c["backend"]): c["results"] for c in cases}
    for case in cases:
        res, proto, work = case["results"], case["backend"], case["workload"]
        ours = res.get(f"{LABELS['ours']} ({proto})")
        bars = []
        for name, r in res.items():
            if bad(r):
                rows.append([work, proto, name, failed(r), "", "", ""])
                continue
            bars.append([name, gbps(r)])
            mine = r is ours
            ours_cpu = cpu_per_gb(ours)
            rows.append(
                [
                    work,
                    proto,
                    name,
                    f"{r['median_s']:.3f}",
                    f"{gbps(r):.2f}",
                    "-" if mine else fmt_ratio(speed_ratio(ours, r)),
                    f"{cpu_per_gb(r):.2f}"
                    + ("" if mine or not ours_cpu else f" ({ours_cpu / cpu_per_gb(r):.2f}x)"),
                ]
            )
        charts.append({"title": f"{work}, nginx {proto} (GB/s, higher is better)", "bars": bars})

        def cpu(label: str, res: dict = res, proto: str = proto) -> float | None:
            return cpu_per_gb(res.get(f"{LABELS[label]} ({proto})"))

        if work == size_label(fewer.count, fewer.size):
            value = speed_ratio(ours, res.get(f"{LABELS['s3dlio010']} ({proto})"))
            targets.append(target(f"{work} {proto}: vs s3dlio 0.10.0 (x faster)", value, 1, True))
            continue
        if proto == "http":
            floor = res.get(FLOOR_KEEP)
            share = speed_ratio(ours, floor)  # ours' throughput / the floor's
            targets.append(target(f"{work} http: of the floor's throughput", share, 0.95, True))
            goals = (("s3dlio010", 0.5), ("boto3", 0.5))
        else:
            plain = cpu_per_gb(by.get((work, "http"), {}).get(f"{LABELS['ours']} (http)"))
            mine = cpu("ours")
            value = None if mine is None or not plain else mine / plain
            name = f"{work} https: CPU s/GB, ours / ours over plain HTTP"
            targets.append(target(name, value, 1.3, False))
            goals = (("boto3", 0.4), ("s3dlio010", 0.4))
        for peer, goal in goals:
            mine, theirs = cpu("ours"), cpu(peer)
            value = None if mine is None or not theirs else mine / theirs
            name = f"{work} {proto}: CPU s/GB, ours / {LABELS[peer]}"
            targets.append(target(name, value, goal, False))
    md = "\n\n".join(
        [
            (
                "Each process fetches everything once, drops it, and is timed on a second "
                "full fetch (steady state), as in suite 1. nginx (one worker, sendfile, "
                "keep-alive) serves the files of suite 1 on 127.0.0.1 as bucket `bench`; "
                "HTTPS uses a certificate made for the run (TLS 1.3). Client CPU s/GB is "
                "user+sys of the client process; in brackets, how much of it ours uses. "
                f"The {fewer.count}-object row has fewer objects than requests in flight "
                f"({IN_FLIGHT}), so large objects are split into ranges. By default our "
                "runtime has a worker per core but one (the caller's thread keeps a core); "
                "the row 'a runtime worker per core' sets `S3DLIO_THREADS` to the cores."
            ),
            md_table(
                ["workload", "", "contender", "median s", "GB/s", "ours is", "CPU s/GB"], rows
            ),
        ]
    )
    return {"cases": cases, "targets": targets, "charts": charts, "md": md}


def suite_cold(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    depth = max(8, 4 * len(os.sched_getaffinity(0)))
    cases, rows, charts, targets = [], [], [], []
    for ds in (sets["small"], sets["large"]):
        base = {"op": "fetch", "expect": ds.count * ds.size, "steady": True, "cold": True}
        contenders = {}
        for scheme in ("file", "direct"):
            for who in ("ours", "s3dlio010"):
                spec = {**base, **data_spec(ds, scheme), "contender": who}
                contenders[f"{LABELS[who]} ({scheme}://)"] = spec
            floor = {**base, **data_spec(ds, "file"), "op": "floor", "contender": "floor"}
            io = "buffered" if scheme == "file" else "direct"
            floor.update(program="pread_floor", io=io, threads=depth)
            contenders[f"C pread floor, {io}, {depth} threads ({scheme}://)"] = floor
        work = size_label(ds.count, ds.size)
        log(f"  cold {work}")
        res = interleave(runner, contenders, cfg.warmup, cfg.runs)
        cases.append({"workload": work, "backend": "local", "results": res})
        bars = []
        for scheme in ("file", "direct"):
            ours = res.get(f"{LABELS['ours']} ({scheme}://)")
            floor = next(r for n, r in res.items() if n.startswith("C ") and f"({scheme}://)" in n)
            for name, r in res.items():
                if not name.endswith(f"({scheme}://)"):
                    continue
                if bad(r):
                    rows.append([work, name, failed(r), "", ""])
                    continue
                bars.append([name, gbps(r)])
                ratio = "-" if r is ours else fmt_ratio(speed_ratio(ours, r))
                rows.append([work, name, f"{r['median_s']:.3f}", f"{gbps(r):.2f}", ratio])
            share = speed_ratio(ours, floor)
            targets.append(target(f"{work} {scheme}:// cold: of the C floor (x)", share, 0.9, True))
        charts.append({"title": f"{work}, cold (GB/s, higher is better)", "bars": bars})
    md = "\n\n".join(
        [
            (
                "Every timed fetch starts with the dataset evicted from the page cache "
                "(`posix_fadvise(DONTNEED)` per file, checked with `mincore`; not timed). "
                "As in suite 1 the second full fetch of the process is timed, into memory "
                "recycled from the first. The C floor reads with `pread` on as many threads "
                f"as our local reads run workers here ({depth}), buffered or with O_DIRECT. "
                "What this measures is the device, so it says how close to it each reader gets."
            ),
            md_table(["workload", "contender", "median s", "GB/s", "ours is"], rows),
        ]
    )
    return {"cases": cases, "targets": targets, "charts": charts, "md": md}

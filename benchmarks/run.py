"""The whole benchmark in one command: ``.venv/bin/python benchmarks/run.py [--quick]``.

1. Makes (or reuses) ``.venv-peers``, a virtualenv with the peers: PyPI's
   ``s3dlio==0.10.0`` (it shares our import name, so it is only ever
   imported there), ``obstore``, ``s3torchconnector``, ``boto3``, numpy,
   torch and matplotlib (for the charts).
2. Generates the data under a temporary directory and, when a suite that
   reads s3:// runs, starts moto on a free 127.0.0.1 port (all traffic
   stays on loopback), uploading the S3 copies with our ``put_many``.
3. Runs the suites of BENCHMARKS.md: 1 ``get_many`` throughput (file://,
   direct://, s3://), 2 per-call ``get`` latency, 3 scaling with the
   number of objects, 4 loader epochs, 5 peak memory, 6 GPU (objects into
   CUDA memory as a fraction of the pinned host-to-device bandwidth
   measured in the same run; skipped, saying so, without a CUDA device).
   Each measurement is one fresh worker process (``_worker.py``) under the
   contender's virtualenv: ours under this interpreter, the peers under
   ``.venv-peers``. Contenders are interleaved round by round (the order
   rotates each round), a warm-up round is discarded, and medians are
   reported beside the ratios.
4. Writes ``results/<suite>.json``, ``<suite>.md`` and ``<suite>.png``.

``--quick`` runs tiny sizes once each (a smoke run, about two minutes once
``.venv-peers`` exists); ``--out`` sends the results elsewhere.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from _common import RESULTS, make_files
from _worker import IN_FLIGHT

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = [
    "s3dlio==0.10.0",
    "obstore",
    "s3torchconnector",
    "boto3",
    "numpy",
    "torch",
    "matplotlib",
]
VERSIONS = ["s3dlio", "obstore", "s3torchconnector", "boto3", "numpy", "torch", "jax"]
GUARD = {
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "AWS_DEFAULT_REGION": "us-east-1",
    "GCE_METADATA_HOST": "127.0.0.1:1",
    "GCE_METADATA_IP": "127.0.0.1:1",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:1",  # replaced by moto's once it is up
}
BUCKET = "bench"
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30

LABELS = {
    "ours": "ours get_many",
    "ours_batch": "ours get_batch",
    "s3dlio010": "s3dlio 0.10.0 get_many",
    "obstore": "obstore get_async + gather",
    "python": "Python open().read()",
    "boto3": "boto3 + 32 threads",
    "s3torch": "s3torchconnector S3Reader + 32 threads",
    "memcpy": "warm memcpy, one core (reference)",
}
FLOOR_PREAD = "C pread floor, a thread per core (reference)"
FLOOR_RECV = f"C recv floor, {IN_FLIGHT} connections (reference)"
FLOOR_RECV_1 = "C recv floor, one connection (reference)"
OURS = {"ours", "ours_batch", "ours_map", "ours_iter", "ours_jax"}


def log(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- set-up


@dataclass
class Config:
    quick: bool
    runs: int
    warmup: int
    mem_runs: int
    small: tuple[int, int]  # objects, bytes each: suites 1, 4 and 5
    large: tuple[int, int]  # suites 1 and 5
    scaling: list[int]  # 4 KiB objects; the largest but one also serves suite 2
    old_scaling_max: int  # s3dlio 0.10.0 is quadratic in the URI count: bounded
    batch: int
    timeout: int

    @staticmethod
    def make(quick: bool, runs: int | None) -> Config:
        if quick:
            return Config(
                quick=True,
                runs=runs or 1,
                warmup=0,
                mem_runs=1,
                small=(64, 64 * KIB),
                large=(4, MIB),
                scaling=[100, 1000],
                old_scaling_max=1000,
                batch=16,
                timeout=40,
            )
        return Config(
            quick=False,
            runs=runs or 5,
            warmup=1,
            mem_runs=3,
            small=(4000, 256 * KIB),
            large=(64, 16 * MIB),
            scaling=[1000, 10_000, 100_000],
            old_scaling_max=10_000,
            batch=64,
            timeout=240,
        )


def ensure_peers(venv: Path) -> tuple[Path, float, bool]:
    """The peers' virtualenv: reused when it was made with the same list."""
    t0 = time.perf_counter()
    py = venv / "bin" / "python"
    marker = venv / "benchmark-peers.txt"
    wanted = "\n".join(PEERS) + "\n"
    if py.exists() and marker.exists() and marker.read_text() == wanted:
        return py, time.perf_counter() - t0, False
    log(f"creating {venv} ({' '.join(PEERS)}); the first time takes a few minutes")
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", *PEERS],
        check=True,
        cwd=tempfile.gettempdir(),
    )
    marker.write_text(wanted)
    return py, time.perf_counter() - t0, True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Moto:
    """moto_server on a free loopback port, stopped by PID."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        exe = Path(sys.executable).parent / "moto_server"
        if not exe.exists():
            exe = Path(shutil.which("moto_server") or "moto_server")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "moto.log", "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(
            [str(exe), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.request("PUT", f"/{BUCKET}")
                break
            except OSError as exc:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto did not start: see {workdir / 'moto.log'}") from exc
                time.sleep(0.2)

    def request(self, method: str, path: str) -> None:
        req = urllib.request.Request(self.url + path, method=method, data=b"")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(req, timeout=5) as resp:
            resp.read()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@dataclass
class Dataset:
    name: str
    root: Path
    keys_file: Path
    count: int
    size: int

    @property
    def total(self) -> int:
        return self.count * self.size


def make_dataset(base: Path, name: str, count: int, size: int) -> Dataset:
    root = base / "data" / name
    paths = make_files(root, count, size)
    keys_file = base / f"keys-{name}.txt"
    keys_file.write_text("\n".join(str(p.relative_to(root)) for p in paths) + "\n")
    return Dataset(name, root, keys_file, count, size)


# --------------------------------------------------------------------------- workers


@dataclass
class Runner:
    ours_py: str
    peers_py: str
    workdir: Path
    env: dict[str, str]
    timeout: int
    counter: itertools.count = field(default_factory=itertools.count)

    def python_for(self, contender: str) -> str:
        mine = OURS | {
            "memcpy",
            "floor",
            "jax_numpy",
            "h2d_pinned",
            "ours_pinned",
            "ours_pageable",
            "dataloader_pin",
        }
        return self.ours_py if contender in mine else self.peers_py

    def work(self, spec: dict, timeout: int | None = None) -> dict:
        path = self.workdir / f"spec-{next(self.counter)}.json"
        path.write_text(json.dumps(spec))
        cmd = [self.python_for(spec.get("contender", "ours")), str(BENCH / "_worker.py"), str(path)]
        proc = subprocess.Popen(
            cmd,
            cwd=self.workdir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its DataLoader workers go with it on a time-out
        )
        limit = timeout or self.timeout
        try:
            out, err = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return {"error": f"no result within {limit} s (hung?)", "hung": True}
        except BaseException:  # interrupted: take the worker (and its children) along
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise
        if proc.returncode != 0:
            lines = [ln for ln in err.strip().splitlines() if ln.strip()]
            return {"error": (lines[-1] if lines else f"exit {proc.returncode}")[:300]}
        return json.loads(out.strip().splitlines()[-1])


def data_spec(ds: Dataset, scheme: str) -> dict:
    return {
        "root": str(ds.root),
        "keys": str(ds.keys_file),
        "scheme": scheme,
        "bucket": BUCKET,
        "prefix": ds.name,
    }


def interleave(
    runner: Runner, contenders: dict[str, dict], warmup: int, runs: int
) -> dict[str, dict]:
    """Round-robin, one fresh process per measurement; the order rotates each
    round. A contender that fails or hangs is dropped from later rounds."""
    names = list(contenders)
    samples: dict[str, list[dict]] = {n: [] for n in names}
    errors: dict[str, str] = {}
    for r in range(warmup + runs):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if name in errors:
                continue
            out = runner.work(contenders[name])
            if "error" in out and not out.get("hung"):
                # A crash can be the peer's bad luck (obstore once aborted
                # in one of hundreds of runs): one more try before dropping.
                # A hang is not retried: it costs the whole time limit.
                log(f"    {name}: failed ({out['error']}), once more")
                out = runner.work(contenders[name])
            if "error" in out:
                errors[name] = out["error"]
                log(f"    {name}: FAILED: {out['error']}")
                continue
            if r >= warmup:
                samples[name].append(out)
        done = "warm-up" if r < warmup else f"run {r - warmup + 1}/{runs}"
        log(f"    {done} done")
    results = {}
    for name in names:
        if name in errors:
            results[name] = {
                "error": errors[name],
                "spec": contenders[name],
                "contender": contenders[name]["contender"],
                "scheme": contenders[name].get("scheme"),
            }
            continue
        got = samples[name]
        med = {
            k: statistics.median(s[k] for s in got)
            for k in got[0]
            if isinstance(got[0][k], int | float)
        }
        results[name] = {
            "median_s": med["seconds"],
            "times_s": [s["seconds"] for s in got],
            "cpu_s": med["cpu_s"],
            "peak_added": med["peak_added"],
            "held_added": med["held_added"],
            "peak_added_runs": [s["peak_added"] for s in got],
            "bytes": got[0]["bytes"],
            "first_s": med.get("first_s"),
            "first_cpu_s": med.get("first_cpu_s"),
            "contender": contenders[name]["contender"],
            "scheme": contenders[name].get("scheme"),
        }
    return results


# --------------------------------------------------------------------------- tables


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def target(
    name: str,
    value: float | None,
    goal: float,
    higher_is_better: bool,
    floor: float | None = None,
) -> dict:
    """One target; ``floor`` is the same ratio for the suite's C floor (the
    best any reader landing objects in its own memory reaches here)."""
    met = None if value is None else (value >= goal if higher_is_better else value <= goal)
    out = {
        "target": name,
        "value": value,
        "goal": f"{'>=' if higher_is_better else '<='} {goal:g}",
        "met": met,
    }
    if floor is not None:
        out["floor"] = floor
    return out


def targets_md(targets: list[dict]) -> str:
    floors = any("floor" in t for t in targets)
    rows = []
    for t in targets:
        value = "n/a" if t["value"] is None else f"{t['value']:.2f}"
        status = {True: "met", False: "missed", None: "not measured"}[t["met"]]
        row = [t["target"], value, t["goal"], status]
        if floors:
            row.append(f"{t['floor']:.2f}" if "floor" in t else "-")
        rows.append(row)
    header = ["target", "measured", "goal", ""] + (["C floor reaches"] if floors else [])
    return md_table(header, rows)


def bad(r: dict) -> bool:
    return "error" in r or "median_s" not in r


def gbps(r: dict) -> float:
    return r["bytes"] / r["median_s"] / 1e9


def cpu_per_gb(r: dict | None) -> float | None:
    """Client CPU seconds (user+sys) per GB fetched; None if not measured."""
    return None if not r or bad(r) else r["cpu_s"] / (r["bytes"] / 1e9)


def speed_ratio(ours: dict | None, other: dict | None) -> float | None:
    """How many times faster ``ours`` is (time ratio)."""
    if not ours or not other or bad(ours) or bad(other):
        return None
    return other["median_s"] / ours["median_s"]


def fmt_ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def size_label(count: int, size: int) -> str:
    unit = f"{size // MIB} MiB" if size >= MIB else f"{size // KIB} KiB"
    return f"{count} x {unit}"


FIRST_HEAD = "first fetch GB/s"


def first_fetch(r: dict) -> str:
    """The first full fetch in the process (suite 1 times the second)."""
    if not r.get("first_s"):
        return "-"
    gb = r["bytes"] / 1e9
    text = f"{gb / r['first_s']:.2f}"
    if r.get("scheme") == "s3" and r.get("first_cpu_s") is not None:
        text += f", {r['first_cpu_s'] / gb:.2f}"
    return text


def failed(r: dict) -> str:
    return f"failed: {r['error']}"


# --------------------------------------------------------------------------- suites


def suite_get_many(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    cases = []
    for ds in (sets["small"], sets["large"]):
        for backend in ("local", "s3"):
            base = {"op": "fetch", "expect": ds.total, "steady": True}
            if backend == "local":
                plan = [
                    ("ours", "file"),
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


SUITES = {
    "get_many": ("1. get_many throughput, objects held", suite_get_many),
    "get_latency": ("2. per-call get latency, 4 KiB objects", suite_latency),
    "scaling": ("3. scaling with the number of objects", suite_scaling),
    "loader": ("4. loader epoch (torch DataLoader, JAX)", suite_loader),
    "memory": ("5. peak RSS to load about 1 GiB and hold it", suite_memory),
    "gpu": ("6. GPU: objects into CUDA memory", suite_gpu),
}
# What a suite needs beyond the small and large sets, made only when it runs:
# moto (started, the data uploaded), and the sets of 4 KiB files.
S3_SUITES = {"get_many", "loader", "memory"}
SMALL_FILE_SUITES = {"get_latency", "scaling"}


# --------------------------------------------------------------------------- main


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(mem / GIB, 1),
        "kernel": platform.release(),
    }


def write_suite(out: Path, name: str, doc: dict, peers_py: str, env: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    md = doc.pop("md")
    how = (
        f"Median of {doc['runs']} timed runs after {doc['warmup']} warm-up round(s), "
        "one fresh process per measurement, contenders interleaved."
    )
    if name == "memory":
        how = f"Median of {doc['runs']} runs, one fresh process per measurement."
    text = f"### {doc['title']}\n\n{how}\n\n{md}\n\nTargets:\n\n{targets_md(doc['targets'])}\n"
    (out / f"{name}.md").write_text(text)
    (out / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    chart = subprocess.run(
        [peers_py, str(BENCH / "_charts.py"), str(out / f"{name}.json"), str(out / f"{name}.png")],
        env=env,
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    )
    if chart.returncode != 0:
        raise RuntimeError(f"chart for {name} failed: {chart.stderr[-2000:]}")
    print(text, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one run (smoke)")
    parser.add_argument("--runs", type=int, help="timed runs per contender (default 5)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory")
    parser.add_argument("--peers-venv", type=Path, default=ROOT / ".venv-peers")
    parser.add_argument("--suites", nargs="+", choices=list(SUITES), default=list(SUITES))
    args = parser.parse_args()
    cfg = Config.make(args.quick, args.runs)
    started = time.perf_counter()
    # SIGTERM unwinds like Ctrl-C, so moto is stopped and the data removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    peers_py, peers_s, created = ensure_peers(args.peers_venv.resolve())
    log(f"peers virtualenv {'created' if created else 'reused'} in {peers_s:.1f} s")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(GUARD)
    env.update({"PYTHONWARNINGS": "ignore", "MPLBACKEND": "Agg", "PYTHONDONTWRITEBYTECODE": "1"})
    workdir = Path(tempfile.mkdtemp(prefix="s3dlio-bench-"))
    moto = None
    try:
        t0 = time.perf_counter()
        sets = {
            "small": make_dataset(workdir, "small", *cfg.small),
            "large": make_dataset(workdir, "large", *cfg.large),
        }
        if SMALL_FILE_SUITES.intersection(args.suites):
            for n in cfg.scaling:
                sets[f"n{n}"] = make_dataset(workdir, f"n{n}", n, 4 * KIB)
            latency = cfg.scaling[-2] if len(cfg.scaling) > 2 else cfg.scaling[-1]
            sets["latency"] = sets[f"n{latency}"]
        log(f"data generated in {time.perf_counter() - t0:.1f} s under {workdir}")

        runner = Runner(sys.executable, str(peers_py), workdir, env, cfg.timeout)
        if S3_SUITES.intersection(args.suites):
            moto = Moto(workdir, env)
            env["AWS_ENDPOINT_URL"] = moto.url
            t0 = time.perf_counter()
            for name in ("small", "large"):
                up = runner.work(
                    {"op": "upload", "contender": "ours", **data_spec(sets[name], "s3")},
                    timeout=1800,
                )
                if "error" in up:
                    raise RuntimeError(f"upload to moto failed: {up['error']}")
            log(f"moto on {moto.url}; uploaded in {time.perf_counter() - t0:.1f} s")

        spec = {"op": "versions", "packages": VERSIONS}
        versions = {
            "ours": runner.work({**spec, "contender": "ours"}),
            "peers": runner.work({**spec, "contender": "python"}),
        }
        if versions["peers"].get("s3dlio") != "0.10.0":
            raise RuntimeError(f"{peers_py} does not hold s3dlio 0.10.0: {versions['peers']}")
        info = machine()
        for name in args.suites:
            title, fn = SUITES[name]
            log(f"suite {title}")
            t0 = time.perf_counter()
            doc = fn(runner, cfg, sets)
            doc.update(
                {
                    "suite": name,
                    "title": title,
                    "quick": cfg.quick,
                    "runs": cfg.mem_runs if name == "memory" else cfg.runs,
                    "warmup": 0 if name == "memory" else cfg.warmup,
                    "seconds": round(time.perf_counter() - t0, 1),
                    "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "machine": info,
                    "versions": versions,
                }
            )
            write_suite(args.out, name, doc, str(peers_py), env)
    finally:
        if moto is not None:
            moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    total = time.perf_counter() - started
    log(f"done in {total:.0f} s (peers virtualenv {peers_s:.0f} s); results in {args.out}")


if __name__ == "__main__":
    main()

"""What the suites of ``run.py`` share: the configuration, the set-up (the
peers' virtualenv, moto, the datasets), the runner that measures each
contender in a fresh process, and the tables and targets of the results."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from _common import make_files
from _worker import IN_FLIGHT

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS = [
    "s3dlio==0.10.0",
    "obstore",
    "s3torchconnector[dcp]",  # dcp: its S3StorageWriter/Reader need tenacity
    "boto3",
    "numpy",
    "torch",
    "matplotlib",
    # Suite 10's read_table over s3fs, and torch's FsspecWriter/Reader over
    # s3:// (checkpoint_dcp.py). Unpinned, pip keeps the newest boto3 by
    # going back to s3fs 0.4 (2020); pinned, it takes the boto3 release
    # that matches aiobotocore's botocore.
    "pyarrow",
    "s3fs>=2024.2",
]
VERSIONS = [
    "s3dlio",
    "obstore",
    "s3torchconnector",
    "boto3",
    "numpy",
    "torch",
    "jax",
    "pyarrow",
    "s3fs",
]
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
    "ours_mmap": "ours get_many, S3DLIO_FILE_MMAP=true",
    "ours_all_cores": "ours get_many, a runtime worker per core",
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
OURS = {
    "ours",
    "ours_mmap",
    "ours_batch",
    "ours_map",
    "ours_iter",
    "ours_jax",
    "ours_web",
    "ours_tarmap",
    "ours_parquet",
    "ours_pq_epoch",
    "ours_pq_shuffle",
}


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
    shards: tuple[int, int, int]  # suite 9: shards, samples each, bytes of a sample's jpg
    # suite 10: files, rows each, embedding width, rows per row group, rows per batch
    parquet: tuple[int, int, int, int, int]

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
                shards=(4, 16, 4 * KIB),
                parquet=(2, 2000, 16, 500, 128),
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
            shards=(64, 256, 100 * KIB),
            parquet=(16, 20480, 768, 5120, 1024),  # about 1 GB, 4 row groups a file
        )


def ensure_peers(venv: Path) -> tuple[Path, float, bool]:
    """The peers' virtualenv: reused when it was made with the same list.

    It sees this virtualenv's packages through a ``.pth`` file and installs
    only what differs (``peers-constraints.txt``): its own ``s3dlio`` 0.10.0
    and botocore shadow ours, since a ``.pth`` path comes after the venv's
    own site-packages. A copy of torch and its CUDA wheels (about 5 GB) ran
    a fresh machine's disk out and took up to 14 minutes to download; this
    takes well under a minute and a few hundred MB."""
    t0 = time.perf_counter()
    py = venv / "bin" / "python"
    marker = venv / "benchmark-peers.txt"
    constraints = BENCH / "peers-constraints.txt"
    ours = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    wanted = "\n".join([*PEERS, *ours, constraints.read_text()]) + "\n"
    if py.exists() and marker.exists() and marker.read_text() == wanted:
        return py, time.perf_counter() - t0, False
    log(f"creating {venv} ({' '.join(PEERS)}) over {sys.prefix}'s packages")
    if venv.exists():
        if not (venv / "pyvenv.cfg").exists():
            raise SystemExit(f"{venv} exists and is not a virtualenv: not touching it")
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "s3dlio-benchmark-ours.pth").write_text("".join(f"{p}\n" for p in ours))
    pip = [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run(
        [*pip, "--no-cache-dir", "-c", str(constraints), *PEERS],
        check=True,
        cwd=tempfile.gettempdir(),
    )
    subprocess.run([str(py), "-m", "pip", "check"], check=True, cwd=tempfile.gettempdir())
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
    # This interpreter's PYTHONPATH (a build of ours installed to a folder):
    # ours' workers get it, the peers' never (0.10.0 shares the import name).
    ours_pythonpath: str | None = None
    counter: itertools.count = field(default_factory=itertools.count)

    def is_ours(self, contender: str) -> bool:
        """Whether ``contender`` runs under ours' interpreter (else the peers')."""
        return contender in OURS | {
            "memcpy",
            "floor",
            "jax_numpy",
            "h2d_pinned",
            "ours_pinned",
            "ours_pageable",
            "dataloader_pin",
            "webdataset",  # in the project's .venv (requirements-test.txt), as torch is
            "tarfile",
            "pyarrow_pq",  # pyarrow is in the project's .venv too
            "pyarrow_ds",
            "pyarrow_iter",
        }

    def python_for(self, contender: str) -> str:
        return self.ours_py if self.is_ours(contender) else self.peers_py

    def work(self, spec: dict, timeout: int | None = None) -> dict:
        path = self.workdir / f"spec-{next(self.counter)}.json"
        path.write_text(json.dumps(spec))
        contender = spec.get("contender", "ours")
        python = self.python_for(contender)
        env = {**self.env, **spec.get("env", {})}
        if self.ours_pythonpath and self.is_ours(contender):
            env["PYTHONPATH"] = self.ours_pythonpath
        proc = subprocess.Popen(
            [python, str(BENCH / "_worker.py"), str(path)],
            cwd=self.workdir,
            env=env,
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
            "build_s": med.get("build_s"),
            "contender": contenders[name]["contender"],
            "scheme": contenders[name].get("scheme"),
            "medians": med,
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

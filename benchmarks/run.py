"""The whole benchmark in one command: ``.venv/bin/python benchmarks/run.py [--quick]``.

1. Makes (or reuses) ``.venv-peers``, a virtualenv with the peers: PyPI's
   ``s3dlio==0.10.0`` (it shares our import name, so it is only ever
   imported there), ``obstore``, ``s3torchconnector`` (with its DCP
   extra), ``boto3``, numpy, torch, matplotlib (for the charts), pyarrow
   and ``s3fs`` (suite 10's read_table, and ``checkpoint_dcp.py``).
2. Generates the data under a temporary directory and, when a suite that
   reads s3:// runs, starts moto on a free 127.0.0.1 port (all traffic
   stays on loopback), uploading the S3 copies with our ``put_many``.
3. Runs the suites of BENCHMARKS.md: 1 ``get_many`` throughput (file://,
   direct://, s3://), 2 per-call ``get`` latency, 3 scaling with the
   number of objects, 4 loader epochs, 5 peak memory, 6 GPU (objects into
   CUDA memory as a fraction of the pinned host-to-device bandwidth
   measured in the same run; skipped, saying so, without a CUDA device),
   7 S3 against nginx, 8 cold reads, 9 tar shards (our WebDataset
   datasets against ``webdataset`` and a ``tarfile`` loop), 10 Parquet
   columns (``read_parquet`` and ``S3ParquetDataset`` against pyarrow),
   11 the cost of metrics and of the operation log, 12 several nginx
   endpoints and an nginx that throttles (503 ``SlowDown``).
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
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _bench import (
    BENCH,
    GIB,
    GUARD,
    KIB,
    ROOT,
    VERSIONS,
    Config,
    Dataset,
    Moto,
    Runner,
    data_spec,
    ensure_peers,
    log,
    make_dataset,
    targets_md,
)
from _common import RESULTS
from _suite_cache import suite_cache
from _suite_endpoints import suite_endpoints
from _suite_overhead import suite_overhead
from _suite_parquet import suite_parquet
from _suite_shards import suite_shards
from _suites import (
    suite_get_many,
    suite_gpu,
    suite_latency,
    suite_loader,
    suite_memory,
    suite_scaling,
)
from _suites_servers import suite_cold, suite_nginx

__all__ = ["Config", "Dataset", "suite_get_many"]

SUITES = {
    "get_many": ("1. get_many throughput, objects held", suite_get_many),
    "get_latency": ("2. per-call get latency, 4 KiB objects", suite_latency),
    "scaling": ("3. scaling with the number of objects", suite_scaling),
    "loader": ("4. loader epoch (torch DataLoader, JAX)", suite_loader),
    "memory": ("5. peak RSS to load about 1 GiB and hold it", suite_memory),
    "gpu": ("6. GPU: objects into CUDA memory", suite_gpu),
    "nginx": ("7. S3 GETs against nginx, plain HTTP and HTTPS", suite_nginx),
    "cold": ("8. cold reads, page cache evicted (file://, direct://)", suite_cold),
    "shards": ("9. tar shards (WebDataset): iterable and map datasets vs webdataset", suite_shards),
    "parquet": ("10. Parquet columns: read_parquet and S3ParquetDataset vs pyarrow", suite_parquet),
    "overhead": ("11. the cost of metrics and of the operation log", suite_overhead),
    "endpoints": ("12. several endpoints, and a store that throttles", suite_endpoints),
    "cache": ("13. the local cache of remote objects: three epochs", suite_cache),
}
# What a suite needs beyond the small and large sets, made only when it runs:
# moto (started, the data uploaded), and the sets of 4 KiB files.
S3_SUITES = {"get_many", "loader", "memory", "overhead"}
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

        ours_path = os.environ.get("PYTHONPATH")
        runner = Runner(sys.executable, str(peers_py), workdir, env, cfg.timeout, ours_path)
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

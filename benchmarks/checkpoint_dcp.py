"""DCP save and load: ``torch.distributed.checkpoint`` of a state dict of
about 2 GiB (``--size-mib``; ``--quick``: 16 MiB), 8 float32 DTensors
sharded over 2 ranks (``Shard(0)``, gloo on a CPU mesh) plus 16 small
replicated tensors, a 1 MiB bytes item and an int.

Contenders: on file://, s3dlio_torch's ``StorageWriter``/``StorageReader``
against torch's ``FileSystemWriter``/``FileSystemReader`` (its default
``thread_count`` and 4); on s3:// (moto on 127.0.0.1, started here) ours
against s3torchconnector's ``S3StorageWriter``/``S3StorageReader`` and
torch's ``FsspecWriter``/``FsspecReader`` over s3fs. Every save and every
load is its own ``torch.distributed.run --standalone --nproc-per-node=2``
job (fresh processes): ours under this interpreter (with its PYTHONPATH),
the peers under ``.venv-peers``. Each rank waits at a barrier and times
the call; a figure is the slowest rank's, the median of ``--runs`` after
a warm-up round, contenders interleaved (the order rotating). A load is
checked byte for byte (each rank's CRC32 of every item against its save):
a wrong load is an error, not a number. A save to file:// includes
fsyncing its files (torch's writer fsyncs by default; ours does not), so
every contender's save is durable. Loads from file:// read the page cache
the save left (the same for every contender). Writes
``results/checkpoint_dcp.{json,md}`` (``--quick``: ``checkpoint_dcp_quick``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _bench import (
    BUCKET,
    GUARD,
    MIB,
    ROOT,
    Moto,
    ensure_peers,
    fmt_ratio,
    log,
    md_table,
    target,
    targets_md,
)
from _common import RESULTS

JOB = Path(__file__).resolve().parent / "_dcp_job.py"
RANKS = 2
TENSORS, COLS = 8, 4096  # the sharded tensors: TENSORS x (rows, COLS) float32
SMALL_BYTES = 16 * COLS * 4 + (1 << 20)  # the replicated tensors and the bytes item

# name: (scheme, contender, writer keyword arguments)
CONTENDERS: dict[str, tuple[str, str, dict]] = {
    "ours file://": ("file", "ours", {}),
    "torch FileSystemWriter/Reader": ("file", "torch_fs", {}),
    "torch FileSystemWriter(thread_count=4)/Reader": ("file", "torch_fs", {"thread_count": 4}),
    "ours s3://": ("s3", "ours", {}),
    "s3torchconnector S3StorageWriter/Reader": ("s3", "s3torch", {}),
    "FsspecWriter/Reader + s3fs": ("s3", "fsspec", {}),
}
BASELINES = {"file": "ours file://", "s3": "ours s3://"}
# (peer, scheme's ours, op, goal): ours is ``goal`` times as fast or more.
TARGETS = [
    ("torch FileSystemWriter/Reader", "load", 1.5),
    ("s3torchconnector S3StorageWriter/Reader", "load", 2.0),
    ("torch FileSystemWriter/Reader", "save", 1.0),
    ("s3torchconnector S3StorageWriter/Reader", "save", 1.0),
]


def error_line(stderr: str) -> str:
    """The first exception a rank raised, from torchrun's output."""
    for line in stderr.splitlines():
        text = re.sub(r"^\[rank\d+\]:\s*", "", line).strip()
        if re.match(r"^[\w.]*(Error|Exception|Exit)\b", text) and "ChildFailed" not in text:
            return text[:300]
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    return (lines[-1] if lines else "no output")[:300]


def job(python: str, spec: dict, env: dict, timeout: int) -> dict:
    """One 2-rank torchrun job; the slowest rank's seconds, the ranks' CPU."""
    out = Path(spec["out"])
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{spec['op']}.json"
    path.write_text(json.dumps(spec))
    cmd = [python, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={RANKS}"]
    cmd += ["--monitor-interval=0.2", str(JOB), str(path)]
    proc = subprocess.Popen(
        cmd,
        cwd=out,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return {"error": f"no result within {timeout} s (hung?)"}
    except BaseException:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if proc.returncode != 0:
        return {"error": error_line(err)}
    ranks = [json.loads((out / f"{spec['op']}-{r}.json").read_text()) for r in range(RANKS)]
    return {
        "seconds": max(r["seconds"] for r in ranks),
        "cpu_s": sum(r["cpu_s"] for r in ranks),
        "rank_s": [r["seconds"] for r in ranks],
    }


def remove(uri: str) -> None:
    """A checkpoint, once measured (moto holds objects in memory)."""
    if uri.startswith("s3://"):
        import s3dlio

        for obj in s3dlio.list(uri + "/"):
            s3dlio.delete(obj)
    else:
        shutil.rmtree(uri.removeprefix("file://"), ignore_errors=True)


def measure(args, names: list[str], pythons: dict[str, str], envs: dict, workdir: Path) -> dict:
    rows = max(RANKS, (args.size_mib * MIB // (TENSORS * COLS * 4)) // RANKS * RANKS)
    samples: dict[str, list[dict]] = {n: [] for n in names}
    errors: dict[str, str] = {}
    for r in range(args.warmup + args.runs):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            if name in errors:
                continue
            scheme, who, kwargs = CONTENDERS[name]
            key = f"{scheme}-{who}{len(kwargs)}-{r}"
            if scheme == "s3":
                uri = f"s3://{BUCKET}/dcp/{key}"
            else:
                uri = str(workdir / "ckpt" / key)
                uri = f"file://{uri}" if who == "ours" else uri
            base = {"contender": who, "uri": uri, "kwargs": kwargs, "out": str(workdir / key)}
            base |= {"rows": rows, "cols": COLS, "tensors": TENSORS}
            ours = who == "ours"
            env = envs["ours" if ours else "peers"]
            python = pythons["ours" if ours else "peers"]
            try:
                save = job(python, {**base, "op": "save"}, env, args.timeout)
                load = save
                if "error" not in save:
                    load = job(python, {**base, "op": "load"}, env, args.timeout)
            finally:
                remove(uri)
            if "error" in load:
                errors[name] = ("save: " if load is save else "load: ") + load["error"]
                log(f"    {name}: FAILED: {errors[name]}")
                continue
            log(f"    {name}: save {save['seconds']:.2f} s, load {load['seconds']:.2f} s")
            if r >= args.warmup:
                samples[name].append({"save": save, "load": load})
        log(f"    {'warm-up' if r < args.warmup else f'run {r - args.warmup + 1}'} done")
    total = rows * COLS * 4 * TENSORS + SMALL_BYTES
    results: dict[str, dict] = {}
    for name in names:
        scheme, who, kwargs = CONTENDERS[name]
        res: dict = {"scheme": scheme, "contender": who, "writer_kwargs": kwargs, "bytes": total}
        if name in errors:
            results[name] = {**res, "error": errors[name]}
            continue
        for op in ("save", "load"):
            times = [s[op]["seconds"] for s in samples[name]]
            res[f"{op}_s"] = statistics.median(times)
            res[f"{op}_times_s"] = times
            res[f"{op}_gb_s"] = total / res[f"{op}_s"] / 1e9
            res[f"{op}_cpu_s"] = statistics.median(s[op]["cpu_s"] for s in samples[name])
        results[name] = res
    return results


def ratio(results: dict, name: str, op: str) -> float | None:
    """How many times as fast ours (of the peer's scheme) is as ``name``."""
    peer = results.get(name)
    ours = results.get(BASELINES[CONTENDERS[name][0]])
    if not peer or not ours or "error" in peer or "error" in ours:
        return None
    return peer[f"{op}_s"] / ours[f"{op}_s"]


def table(results: dict, doc: dict) -> str:
    rows = []
    for name, r in results.items():
        if "error" in r:
            rows.append([name, r["scheme"], f"failed: {r['error']}", "", "", "", "", "", ""])
            continue
        ours = name in BASELINES.values()
        rows.append(
            [
                name,
                r["scheme"],
                f"{r['save_s']:.2f}",
                f"{r['save_gb_s']:.2f}",
                "-" if ours else fmt_ratio(ratio(results, name, "save")),
                f"{r['load_s']:.2f}",
                f"{r['load_gb_s']:.2f}",
                "-" if ours else fmt_ratio(ratio(results, name, "load")),
                f"{r['save_cpu_s']:.2f} / {r['load_cpu_s']:.2f}",
            ]
        )
    header = ["contender", "scheme", "save s", "save GB/s", "ours faster (save)"]
    header += ["load s", "load GB/s", "ours faster (load)", "CPU s, both ranks (save / load)"]
    head = (
        f"### DCP save and load: {doc['bytes'] / MIB:.0f} MiB over {RANKS} ranks\n\n"
        f"The slowest rank's time, median of {doc['runs']} runs after {doc['warmup']} "
        "warm-up round(s), every save and load a fresh 2-rank torchrun job, loads checked "
        "byte for byte. file:// saves include fsyncing their files; file:// loads read "
        "the page cache. s3:// is moto on 127.0.0.1: a single Python server holding "
        "objects in memory, the bottleneck of every client, so s3:// ratios bound "
        "client overhead, not what a real S3 endpoint gives.\n\n"
    )
    return head + md_table(header, rows) + "\n\nTargets:\n\n" + targets_md(doc["targets"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="16 MiB, one run (smoke)")
    parser.add_argument("--size-mib", type=int, help="state dict size (default 2048)")
    parser.add_argument("--runs", type=int, help="timed runs (default 3; --quick 1)")
    parser.add_argument("--warmup", type=int, help="warm-up rounds (default 1; --quick 0)")
    parser.add_argument("--schemes", nargs="+", choices=["file", "s3"], default=["file", "s3"])
    parser.add_argument("--contenders", nargs="+", choices=list(CONTENDERS), help="a subset")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--peers-venv", type=Path, default=ROOT / ".venv-peers")
    parser.add_argument("--peers-python", help="the peers' interpreter, used as it is (no install)")
    parser.add_argument("--peers-pythonpath", help="PYTHONPATH of the peers' jobs")
    parser.add_argument("--timeout", type=int, help="seconds per job (default 900; quick 120)")
    args = parser.parse_args()
    args.size_mib = args.size_mib or (16 if args.quick else 2048)
    args.runs = args.runs or (1 if args.quick else 3)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
    args.timeout = args.timeout or (120 if args.quick else 900)
    names = [n for n in args.contenders or CONTENDERS if CONTENDERS[n][0] in args.schemes]
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))

    peers_py = args.peers_python or ""
    if not peers_py and any(CONTENDERS[n][1] != "ours" for n in names):
        peers_py = str(ensure_peers(args.peers_venv.resolve())[0])
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PYTHON"))}
    env.update(GUARD)
    env.update({"PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"})
    os.environ.update(GUARD)
    envs = {"ours": dict(env), "peers": dict(env)}
    if os.environ.get("PYTHONPATH"):
        envs["ours"]["PYTHONPATH"] = os.environ["PYTHONPATH"]
    if args.peers_pythonpath:
        envs["peers"]["PYTHONPATH"] = args.peers_pythonpath
    pythons = {"ours": sys.executable, "peers": peers_py}
    workdir = Path(tempfile.mkdtemp(prefix="s3dlio-dcp-bench-"))
    moto = None
    started = time.perf_counter()
    try:
        if any(CONTENDERS[n][0] == "s3" for n in names):
            moto = Moto(workdir, env)
            os.environ["AWS_ENDPOINT_URL"] = moto.url
            for e in envs.values():
                e["AWS_ENDPOINT_URL"] = moto.url
            log(f"moto on {moto.url}")
        results = measure(args, names, pythons, envs, workdir)
    finally:
        if moto is not None:
            moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    targets = []
    for peer, op, goal in TARGETS:
        if peer in results:
            what = f"{op} vs {peer} ({CONTENDERS[peer][0]}://)"
            targets.append(target(what, ratio(results, peer, op), goal, True))
    doc = {
        "suite": "checkpoint_dcp",
        "quick": args.quick,
        "ranks": RANKS,
        "bytes": next(iter(results.values()))["bytes"] if results else 0,
        "runs": args.runs,
        "warmup": args.warmup,
        "seconds": round(time.perf_counter() - started, 1),
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "results": results,
        "targets": targets,
    }
    md = table(results, doc)
    print(md, flush=True)
    name = "checkpoint_dcp_quick" if args.quick else "checkpoint_dcp"
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(doc, indent=2) + "\n")
    (args.out / f"{name}.md").write_text(md + "\n")


if __name__ == "__main__":
    main()

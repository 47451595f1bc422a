"""Suite 1 (file:// part): ``get_many`` throughput with results held in
memory, against a plain Python ``open().read()`` loop on the same files;
and, as a loader uses memory, the same objects fetched a batch at a time,
each batch dropped before the next (``S3DLIO_POOL_BYTES=0`` shows the
figures without buffer recycling).

Interleaves the contenders, warms up once, reports the median of
``--runs`` timed runs, and writes ``benchmarks/results/get_many_local.json``
plus a markdown table. ``--quick`` runs a tiny configuration (smoke test).
"""

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _common import RESULTS, make_files

import s3dlio


def python_loop(paths: list[Path]) -> list[bytes]:
    held = []
    for p in paths:
        with open(p, "rb") as f:
            held.append(f.read())
    return held


def s3dlio_get_many(uris: list[str]) -> list:
    return s3dlio.get_many(uris)


def in_batches(fetch, per: int):
    """``fetch`` applied batch by batch, each batch dropped before the next."""

    def run(items: list) -> int:
        n = 0
        for start in range(0, len(items), per):
            batch = fetch(items[start : start + per])
            n += len(batch)
            del batch
        return n

    return run


def timed(fn, arg) -> float:
    t0 = time.perf_counter()
    held = fn(arg)
    elapsed = time.perf_counter() - t0
    del held
    return elapsed


def run_case(root: Path, count: int, size: int, runs: int) -> dict:
    case_dir = root / f"{count}x{size}"
    paths = make_files(case_dir, count, size)
    uris = [f"file://{p}" for p in paths]
    per = max(1, (16 << 20) // size)  # 16 MiB batches, as a loader's
    contenders = {
        "python open().read()": (python_loop, paths),
        "s3dlio get_many": (s3dlio_get_many, uris),
        f"python open().read(), batches of {per} dropped": (in_batches(python_loop, per), paths),
        f"s3dlio get_many, batches of {per} dropped": (in_batches(s3dlio_get_many, per), uris),
        f"s3dlio get_batch, batches of {per} dropped": (in_batches(s3dlio.get_batch, per), uris),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for fn, arg in contenders.values():  # warm-up (page cache, allocator)
        timed(fn, arg)
    for _ in range(runs):
        for name, (fn, arg) in contenders.items():
            times[name].append(timed(fn, arg))
    total = count * size
    result = {"objects": count, "object_bytes": size, "runs": runs, "contenders": {}}
    for name, ts in times.items():
        med = statistics.median(ts)
        result["contenders"][name] = {"median_s": med, "gb_per_s": total / med / 1e9, "times_s": ts}
    base = result["contenders"]["python open().read()"]["median_s"]
    for entry in result["contenders"].values():
        entry["speedup_vs_python"] = base / entry["median_s"]
    shutil.rmtree(case_dir, ignore_errors=True)
    return result


def table(results: list[dict]) -> str:
    lines = [
        "| workload | contender | median s | GB/s | vs Python |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in results:
        work = f"{r['objects']} x {r['object_bytes'] // 1024} KiB"
        for name, c in r["contenders"].items():
            lines.append(
                f"| {work} | {name} | {c['median_s']:.3f} | {c['gb_per_s']:.2f} "
                f"| {c['speedup_vs_python']:.2f}x |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny smoke configuration")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        cases, runs = [(64, 64 * 1024), (4, 1 << 20)], 2
    else:
        cases, runs = [(4000, 256 * 1024), (64, 16 << 20)], args.runs
    root = Path(tempfile.mkdtemp(prefix="s3dlio-bench-"))
    try:
        results = [run_case(root, count, size, runs) for count, size in cases]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    md = table(results)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    name = "get_many_local_quick" if args.quick else "get_many_local"
    (args.out / f"{name}.json").write_text(json.dumps(results, indent=2))
    (args.out / f"{name}.md").write_text(md + "\n")


if __name__ == "__main__":
    main()

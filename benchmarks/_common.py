"""Shared benchmark plumbing: generated data, interleaved timing, results."""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def make_files(root: Path, count: int, size: int) -> list[Path]:
    """``count`` files of ``size`` bytes (distinct contents) under ``root``."""
    paths = []
    block = os.urandom(size)
    for i in range(count):
        p = root / f"{i // 1000:03d}" / f"obj-{i:06d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(block[i % size :] + block[: i % size])
        paths.append(p)
    return paths


def interleaved(contenders: dict[str, Callable[[], object]], runs: int) -> dict[str, list[float]]:
    """Warm each contender up once, then time ``runs`` rounds, interleaved."""
    for fn in contenders.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            held = fn()
            times[name].append(time.perf_counter() - t0)
            del held
    return times


def summarise(times: dict[str, list[float]], units: float, baseline: str) -> dict[str, dict]:
    """Median seconds, rate (units per second) and speed-up vs ``baseline``."""
    out = {}
    base = statistics.median(times[baseline])
    for name, ts in times.items():
        med = statistics.median(ts)
        out[name] = {"median_s": med, "per_s": units / med, "vs_baseline": base / med}
        out[name]["times_s"] = ts
    return out


def write(out_dir: Path, name: str, results: object, table: str) -> None:
    """``<name>.json`` and ``<name>.md`` under ``out_dir``; the table is printed."""
    print(table)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(results, indent=2))
    (out_dir / f"{name}.md").write_text(table + "\n")

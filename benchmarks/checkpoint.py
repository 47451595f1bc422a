"""Checkpoint save/load throughput: a 1 GiB checkpoint in 4 shards through
CheckpointStore on file:// (and s3:// when AWS_ENDPOINT_URL points at a
server), vs torch.save/torch.load of the same tensors to a local file.
Median of ``--runs``; writes ``results/checkpoint.{json,md}``. ``--dcp``
then runs ``checkpoint_dcp.py`` (torch.distributed.checkpoint over 2 ranks,
ours against torch's and s3torchconnector's storage)."""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from _common import RESULTS, write

import s3dlio


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--s3", help="s3://bucket/prefix to include (needs a server)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--dcp", action="store_true", help="then checkpoint_dcp.py (DCP, 2 ranks, with peers)"
    )
    args = parser.parse_args()
    total = (16 << 20) if args.quick else (1 << 30)
    world = 4
    shards = [torch.randint(0, 255, (total // world,), dtype=torch.uint8) for _ in range(world)]
    root = Path(tempfile.mkdtemp(prefix="s3dlio-ckpt-bench-"))
    results: dict[str, dict] = {}
    try:
        torch_file = root / "torch.pt"
        state = {f"shard{i}": t for i, t in enumerate(shards)}

        def torch_save():
            torch.save(state, torch_file)
            os.sync()

        def torch_load():
            torch.load(torch_file, weights_only=True)

        targets = {"torch.save/load (local file)": (torch_save, torch_load)}
        bases = {"s3dlio CheckpointStore file://": f"file://{root}/store"}
        if args.s3:
            bases["s3dlio CheckpointStore s3://"] = args.s3
        for name, base in bases.items():
            store = s3dlio.CheckpointStore(base)
            step = {"n": 0}

            local = base.startswith("file://")

            def save(store=store, step=step, local=local):
                step["n"] += 1
                # The 4 ranks save at once, as in a job (the GIL is released).
                with ThreadPoolExecutor(world) as ranks:
                    list(
                        ranks.map(
                            lambda r: store.save(
                                step["n"], shards[r].numpy(), rank=r, world_size=world
                            ),
                            range(world),
                        )
                    )
                if local:
                    os.sync()

            def load(store=store):
                held = store.read_all_shards(store.latest_step())
                assert sum(len(v) for _, v in held) == total

            targets[name] = (save, load)
        for name, (save, load) in targets.items():
            saves = [timed(save) for _ in range(args.runs)]
            loads = [timed(load) for _ in range(args.runs)]
            results[name] = {
                "save_s": statistics.median(saves),
                "load_s": statistics.median(loads),
                "save_gb_s": total / statistics.median(saves) / 1e9,
                "load_gb_s": total / statistics.median(loads) / 1e9,
            }
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines = [
        f"| {total >> 20} MiB in {world} shards | save s | save GB/s | load s | load GB/s |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['save_s']:.2f} | {r['save_gb_s']:.2f} | "
            f"{r['load_s']:.2f} | {r['load_gb_s']:.2f} |"
        )
    write(args.out, "checkpoint_quick" if args.quick else "checkpoint", results, "\n".join(lines))
    if args.dcp:
        dcp = [sys.executable, str(Path(__file__).with_name("checkpoint_dcp.py"))]
        dcp += ["--out", str(args.out), "--runs", str(args.runs)]
        subprocess.run(dcp + (["--quick"] if args.quick else []), check=True)


if __name__ == "__main__":
    main()

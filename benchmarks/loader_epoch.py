"""Suite 4: one torch DataLoader epoch over N x 256 KiB local files (batch
64, num_workers 0 and 2): s3dlio_torch's map and iterable datasets vs a
plain files ``Dataset``; and a JaxLoader epoch vs a numpy file-reading
loop feeding ``jnp.asarray``. Medians of ``--runs`` after a warm-up,
contenders interleaved. Writes ``results/loader_epoch.{json,md}``."""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from _common import RESULTS, interleaved, make_files, summarise, write
from torch.utils.data import DataLoader, Dataset

# jax, s3dlio_jax and s3dlio_torch are imported where used, so that
# ``run.py``'s workers can reuse PlainFiles/epoch under either virtualenv.


class PlainFiles(Dataset):
    """What users write by hand: read each file, make a tensor."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(np.fromfile(self.paths[i], dtype=np.uint8))


def epoch(loader) -> int:
    n = 0
    for batch in loader:
        n += len(batch)
    return n


def numpy_jax_epoch(paths: list[Path], batch: int) -> int:
    import jax.numpy as jnp

    n = 0
    for start in range(0, len(paths), batch):
        arrays = [np.fromfile(p, dtype=np.uint8) for p in paths[start : start + batch]]
        n += jnp.asarray(np.stack(arrays)).shape[0]
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny smoke configuration")
    parser.add_argument("--objects", type=int, default=4000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    import s3dlio_jax
    import s3dlio_torch

    count, size, batch, runs = args.objects, 256 * 1024, 64, args.runs
    if args.quick:
        count, size, batch, runs = 64, 16 * 1024, 16, 1
    root = Path(tempfile.mkdtemp(prefix="s3dlio-bench-"))
    try:
        paths = make_files(root, count, size)
        prefix = f"file://{root}"
        plain = PlainFiles(paths)
        maps = s3dlio_torch.S3MapDataset(prefix)
        iterable = s3dlio_torch.S3IterableDataset(prefix, batch_fetch=batch)
        collate = s3dlio_torch.collate
        results = {"objects": count, "object_bytes": size, "batch": batch, "suites": {}}
        lines = [
            "| epoch | contender | median s | rate | vs baseline |",
            "| --- | --- | --- | --- | --- |",
        ]
        for workers in (0, 2):
            kw = {"batch_size": batch, "num_workers": workers}
            if workers:
                kw["persistent_workers"] = False
            contenders = {
                "plain files Dataset": lambda kw=kw: epoch(DataLoader(plain, **kw)),
                "s3dlio S3MapDataset": lambda kw=kw: epoch(
                    DataLoader(maps, collate_fn=collate, **kw)
                ),
                "s3dlio S3IterableDataset": lambda kw=kw: epoch(
                    DataLoader(iterable, collate_fn=collate, **kw)
                ),
            }
            suite = summarise(interleaved(contenders, runs), count, "plain files Dataset")
            results["suites"][f"torch num_workers={workers}"] = suite
        contenders = {
            "numpy loop + jnp.asarray": lambda: numpy_jax_epoch(paths, batch),
            "s3dlio_jax JaxLoader": lambda: epoch(s3dlio_jax.JaxLoader(prefix, batch_size=batch)),
        }
        suite = summarise(interleaved(contenders, runs), count / batch, "numpy loop + jnp.asarray")
        results["suites"]["jax batches"] = suite
        for name, suite in results["suites"].items():
            unit = "batches/s" if name.startswith("jax") else "samples/s"
            for contender, r in suite.items():
                lines.append(
                    f"| {name} | {contender} | {r['median_s']:.3f} | "
                    f"{r['per_s']:,.0f} {unit} | {r['vs_baseline']:.2f}x |"
                )
        name = "loader_epoch_quick" if args.quick else "loader_epoch"
        write(args.out, name, results, "\n".join(lines))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The s3dlio demo: generate a local dataset, run a PyTorch DataLoader epoch
over it through s3dlio_torch, and report what happened.

Run it with ``./scripts/demo.sh`` (which sets everything up first).
"""

import argparse
import shutil
import tempfile
import time

import numpy as np
import torch
from torch.utils.data import DataLoader

import s3dlio
import s3dlio_torch


def generate(root: str, count: int, size: int) -> str:
    """Write ``count`` objects of ``size`` bytes; each starts with its index."""
    rng = np.random.default_rng(0)
    prefix = f"file://{root}/train"
    batch = 256
    for start in range(0, count, batch):
        items = []
        for i in range(start, min(start + batch, count)):
            data = rng.integers(0, 256, size, dtype=np.uint8)
            data[:8] = np.frombuffer(np.int64(i).tobytes(), dtype=np.uint8)
            items.append((f"{prefix}/shard-{i // 1000:03d}/sample-{i:06d}.bin", data))
        s3dlio.put_many(items)
    return prefix


def run_epoch(name: str, loader: DataLoader, count: int, size: int) -> None:
    t0 = time.perf_counter()
    seen = [batch[:, :8].contiguous().view(torch.int64)[:, 0] for batch in loader]
    elapsed = time.perf_counter() - t0
    ids = torch.cat(seen)
    assert sorted(ids.tolist()) == list(range(count)), "every sample exactly once"
    print(
        f"  {name:<44} {count / elapsed:>9,.0f} samples/s  "
        f"{count * size / elapsed / 1e6:>8,.0f} MB/s  ({len(seen)} batches, all samples once)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size-kib", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the generated dataset")
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="s3dlio-demo-")
    size = args.size_kib * 1024
    try:
        t0 = time.perf_counter()
        prefix = generate(root, args.objects, size)
        print(f"dataset: {args.objects} objects x {args.size_kib} KiB under {prefix}")
        print(f"  written with s3dlio.put_many in {time.perf_counter() - t0:.2f} s")

        maps = s3dlio_torch.S3MapDataset(prefix)
        batch = maps.__getitems__(list(range(min(args.batch, len(maps)))))
        collated = s3dlio_torch.collate(batch)
        assert collated.data_ptr() == batch[0].data_ptr(), "one batch buffer, no collate copy"
        print(
            f"  a batch of {len(batch)} lands in one buffer: tensor {tuple(collated.shape)} "
            f"at 0x{collated.data_ptr():x}, {collated.data_ptr() % 64 == 0 and 'aligned'}"
        )

        print(f"DataLoader epochs (batch_size={args.batch}):")
        run_epoch(
            "S3MapDataset, num_workers=0",
            DataLoader(maps, batch_size=args.batch, collate_fn=s3dlio_torch.collate),
            args.objects,
            size,
        )
        iterable = s3dlio_torch.S3IterableDataset(prefix, shuffle=True, seed=0)
        iterable.set_epoch(1)
        run_epoch(
            f"S3IterableDataset shuffled, num_workers={args.workers}",
            DataLoader(iterable, batch_size=args.batch, num_workers=args.workers),
            args.objects,
            size,
        )
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

"""The s3dlio demo: generate a local dataset, load it with one parallel
``get_many`` per batch, and report what happened.

Run it with ``./scripts/demo.sh`` (which sets everything up first).
"""

import argparse
import hashlib
import shutil
import tempfile
import time

import numpy as np

import s3dlio


def generate(root: str, count: int, size: int) -> list[str]:
    """Write ``count`` objects of ``size`` random bytes under ``root`` via s3dlio."""
    rng = np.random.default_rng(0)
    uris = [f"file://{root}/train/shard-{i // 1000:03d}/sample-{i:06d}.bin" for i in range(count)]
    batch = 256
    for start in range(0, count, batch):
        chunk = uris[start : start + batch]
        s3dlio.put_many([(u, rng.integers(0, 256, size, dtype=np.uint8)) for u in chunk])
    return uris


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=2000)
    parser.add_argument("--size-kib", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--keep", action="store_true", help="keep the generated dataset")
    args = parser.parse_args()

    root = tempfile.mkdtemp(prefix="s3dlio-demo-")
    try:
        size = args.size_kib * 1024
        t0 = time.perf_counter()
        uris = generate(root, args.objects, size)
        t_gen = time.perf_counter() - t0
        listed = s3dlio.list(f"file://{root}/train")
        assert listed == sorted(uris), "list() must return every generated object"
        print(f"dataset: {len(listed)} objects x {args.size_kib} KiB under file://{root}/train")
        print(f"  written with put_many in {t_gen:.2f} s")

        digest = hashlib.blake2b(digest_size=16)
        total = 0
        aligned = 0
        t0 = time.perf_counter()
        held = []
        for start in range(0, len(listed), args.batch):
            batch = s3dlio.get_many(listed[start : start + args.batch])
            for _uri, view in batch:
                arr = np.frombuffer(view, dtype=np.uint8)
                assert arr.ctypes.data == view.address, "numpy must share the fetched memory"
                aligned += view.address % 64 == 0
                total += len(view)
            held.extend(batch)
        elapsed = time.perf_counter() - t0
        for _uri, view in held[:: max(1, len(held) // 16)]:
            digest.update(view)
        print(f"loaded: {len(held)} objects, {total / 2**20:.1f} MiB in {elapsed:.3f} s")
        print(f"  {len(held) / elapsed:,.0f} objects/s, {total / elapsed / 1e9:.2f} GB/s")
        print(f"  batches of {args.batch} via s3dlio.get_many, results held in memory")
        print(f"  zero-copy: numpy shares each view; {aligned}/{len(held)} 64-byte aligned")
        print(f"  sample digest {digest.hexdigest()}")
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()

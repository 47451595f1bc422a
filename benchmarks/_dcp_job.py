"""One rank of a DCP benchmark job, run under ``torch.distributed.run``
(2 ranks, gloo on a CPU mesh) by ``checkpoint_dcp.py``.

``python -m torch.distributed.run ... _dcp_job.py SPEC`` where SPEC is a
JSON file: ``op`` (save or load), ``contender``, ``uri`` (a local path for
torch's file system classes), ``rows``/``cols``/``tensors`` (the sharded
tensors' shape and count), ``out`` (a folder). Each rank builds its part of
the state dict (DTensors, ``Shard(0)``, plus small replicated tensors, a
bytes item and an int), waits at a barrier, times ``dcp.save`` or
``dcp.load`` (a save to a local folder includes fsyncing its files, so
every contender's save is durable), and writes ``<out>/<op>-<rank>.json``:
seconds, CPU seconds of the process, and the CRC32 of every item it holds.
A load compares its CRCs with the ones its save recorded and fails on any
difference."""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
import warnings
import zlib
from pathlib import Path

warnings.filterwarnings("ignore")

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.distributed.checkpoint as dcp  # noqa: E402
from torch.distributed.device_mesh import init_device_mesh  # noqa: E402
from torch.distributed.tensor import DTensor, Shard  # noqa: E402

SMALL = 16  # replicated 16 KiB tensors (biases, norms)
EXTRA = bytes(range(256)) * 4096  # a 1 MiB bytes item (saved through torch.save)


def state(spec: dict, mesh, rank: int, world: int, fill: bool) -> dict:
    rows, cols = spec["rows"], spec["cols"]
    local_rows = rows // world
    out: dict = {}
    for i in range(spec["tensors"]):
        local = torch.empty(local_rows, cols, dtype=torch.float32)
        if fill:
            local.uniform_(generator=torch.Generator().manual_seed(1000 * i + rank))
        else:
            local.zero_()
        out[f"layers.{i}.weight"] = DTensor.from_local(
            local, mesh, [Shard(0)], run_check=False, shape=(rows, cols), stride=(cols, 1)
        )
    for i in range(SMALL):
        small = torch.arange(cols, dtype=torch.float32) * (i + 1) if fill else torch.zeros(cols)
        out[f"layers.{i}.bias"] = small
    out["extra"] = EXTRA if fill else b""
    out["step"] = 100 if fill else 0
    return out


def crcs(sd: dict) -> dict[str, int | str]:
    got: dict[str, int | str] = {}
    for key, value in sd.items():
        if isinstance(value, DTensor):
            value = value.to_local()
        if isinstance(value, torch.Tensor):
            got[key] = zlib.crc32(value.contiguous().view(torch.uint8).reshape(-1).numpy())
        elif isinstance(value, bytes):
            got[key] = zlib.crc32(value)
        else:
            got[key] = repr(value)
    return got


def storage(spec: dict, save: bool):
    """The contender's StorageWriter (``save``) or StorageReader."""
    who, uri = spec["contender"], spec["uri"]
    if who == "ours":
        from s3dlio_torch.dcp import StorageReader, StorageWriter

        return StorageWriter(uri) if save else StorageReader(uri)
    if who.startswith("torch_fs"):
        from torch.distributed.checkpoint import FileSystemReader, FileSystemWriter

        if not save:
            return FileSystemReader(uri)
        return FileSystemWriter(uri, **spec.get("kwargs", {}))
    if who == "s3torch":
        from s3torchconnector import S3ClientConfig
        from s3torchconnector._s3client import S3Client
        from s3torchconnector.dcp import S3StorageReader, S3StorageWriter

        config = S3ClientConfig(force_path_style=True)
        kw = {"region": os.environ["AWS_REGION"], "path": uri, "s3client_config": config}
        io = S3StorageWriter(**kw, **spec.get("kwargs", {})) if save else S3StorageReader(**kw)
        # Its DCP classes take no endpoint: their file system gets a client
        # made as theirs is, with the server's endpoint.
        io.fs._client = S3Client(
            os.environ["AWS_REGION"],
            endpoint=os.environ["AWS_ENDPOINT_URL"],
            s3client_config=config,
        )
        return io
    if who == "fsspec":
        from torch.distributed.checkpoint._fsspec_filesystem import FsspecReader, FsspecWriter

        kw = {"endpoint_url": os.environ["AWS_ENDPOINT_URL"]}
        if not save:
            return FsspecReader(uri, **kw)
        return FsspecWriter(uri, **kw, **spec.get("kwargs", {}))
    raise ValueError(f"unknown contender {who!r}")


def fsync_tree(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    out = Path(spec["out"])
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group(
        "gloo",
        store=dist.FileStore(str(out / f"store-{spec['op']}"), world),
        rank=rank,
        world_size=world,
        timeout=datetime.timedelta(seconds=600),
    )
    mesh = init_device_mesh("cpu", (world,))
    save = spec["op"] == "save"
    sd = state(spec, mesh, rank, world, fill=save)
    io = storage(spec, save)
    local = "://" not in spec["uri"] or spec["uri"].startswith("file://")
    dist.barrier()
    cpu0, t0 = time.process_time(), time.perf_counter()
    if save:
        dcp.save(sd, storage_writer=io)
        if local:
            fsync_tree(Path(spec["uri"].removeprefix("file://")))
    else:
        dcp.load(sd, storage_reader=io)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    got = crcs(sd)
    report: dict = {"seconds": seconds, "cpu_s": cpu, "crcs": got}
    if not save:
        want = json.loads((out / f"save-{rank}.json").read_text())["crcs"]
        wrong = sorted(k for k in want if want[k] != got.get(k))
        if wrong:
            raise RuntimeError(f"rank {rank}: loaded data differs from the saved in {wrong[:5]}")
    (out / f"{spec['op']}-{rank}.json").write_text(json.dumps(report))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()

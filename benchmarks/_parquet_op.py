"""Suite 10's measurements in a worker process (``_worker.py`` ops
``parquet_read``, ``parquet_epoch`` and ``parquet_bytes``): a table of the
chosen columns of every file by one contender, one DataLoader epoch over
them, and our read of them through an nginx that counts what it sent.

Every result is checked, not just timed: the rows, the sum and the sum of
squares of ``id`` (exact: a file read twice or missed, or rows out of
place, change them), the bytes of ``text`` and the sum of the embedding's
first element (within 1e-6, float rounding); one that differs fails the
worker and the contender has no figure. A table is checked after the
clock stops (it is held until then); an epoch is tallied batch by batch
as it runs, as a training loop would touch every batch.
"""

from __future__ import annotations

import math
import os
import resource
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

REGION = "us-east-1"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def uris(spec: dict) -> list[str]:
    names = spec["names"]
    if spec["scheme"] == "s3":
        return [f"s3://{spec['bucket']}/{spec['prefix']}/{n}" for n in names]
    return [f"file://{spec['root']}/{n}" for n in names]


def _endpoint() -> str:
    return os.environ["AWS_ENDPOINT_URL"]


def pyarrow_paths(spec: dict) -> list[str]:
    """The files as a pyarrow filesystem names them: local paths, or
    ``bucket/key``."""
    if spec["scheme"] != "s3":
        return [str(Path(spec["root"], n)) for n in spec["names"]]
    return [f"{spec['bucket']}/{spec['prefix']}/{n}" for n in spec["names"]]


def pyarrow_fs(spec: dict):
    """``(filesystem, paths)`` for pyarrow: local paths, or pyarrow's own
    S3 client against the endpoint (path-style, plain HTTP)."""
    if spec["scheme"] != "s3":
        return None, pyarrow_paths(spec)
    from pyarrow import fs

    s3 = fs.S3FileSystem(
        endpoint_override=_endpoint().removeprefix("http://"),
        scheme="http",
        access_key=os.environ["AWS_ACCESS_KEY_ID"],
        secret_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region=REGION,
    )
    return s3, pyarrow_paths(spec)


def _s3fs(spec: dict):
    import s3fs

    s3 = s3fs.S3FileSystem(
        key=os.environ["AWS_ACCESS_KEY_ID"],
        secret=os.environ["AWS_SECRET_ACCESS_KEY"],
        client_kwargs={"endpoint_url": _endpoint(), "region_name": REGION},
    )
    return s3, pyarrow_paths(spec)


# --------------------------------------------------------------------------- checks


class Tally:
    """What a result held: rows, sum and sum of squares of ``id``, bytes of
    ``text``, the sum of the embedding's first element."""

    def __init__(self) -> None:
        self.rows = self.id_sum = self.id_squares = self.text_bytes = 0
        self.emb0 = 0.0

    def add(self, ids, emb0, text) -> None:
        """``ids`` a 1-D int64 numpy array or tensor, ``emb0`` the
        embedding's first element as float64, ``text`` a pyarrow string
        array (or chunked array)."""
        import pyarrow.compute as pc

        self.rows += len(ids)
        self.id_sum += int(ids.sum())
        self.id_squares += int((ids * ids).sum())
        self.emb0 += float(emb0.sum())
        self.text_bytes += pc.sum(pc.binary_length(text)).as_py() or 0

    def check(self, who: str, expect: dict) -> None:
        got = {
            "rows": self.rows,
            "id_sum": self.id_sum,
            "id_squares": self.id_squares,
            "text_bytes": self.text_bytes,
        }
        want = {k: expect[k] for k in got}
        close = math.isclose(self.emb0, expect["emb0"], rel_tol=1e-6, abs_tol=1e-3)
        if got != want or not close:
            raise SystemExit(
                f"{who}: read {got} (embedding[0] sum {self.emb0:.6g}), "
                f"not {want} (embedding[0] sum {expect['emb0']:.6g})"
            )


def table_tally(table, width: int) -> Tally:
    """A pyarrow table of the suite's columns, checked column by column."""
    import numpy as np

    t = Tally()
    ids = table.column("id").to_numpy().astype(np.int64)
    emb0 = [
        chunk.flatten().to_numpy().reshape(-1, width)[:, 0].astype(np.float64)
        for chunk in table.column("emb").chunks
    ]
    t.add(ids, np.concatenate(emb0) if emb0 else np.zeros(0), table.column("text"))
    return t


# --------------------------------------------------------------------------- table


def _table_reader(spec: dict) -> Callable[[], object]:
    """``read() -> pyarrow.Table`` of the spec's columns of every file."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    who, columns = spec["contender"], spec["columns"]
    if who == "ours_parquet":
        import s3dlio

        files = uris(spec)
        return lambda: pa.table(s3dlio.read_parquet(files, columns=columns))
    if who == "pyarrow_s3fs":
        filesystem, paths = _s3fs(spec)
    else:
        filesystem, paths = pyarrow_fs(spec)
    if who in ("pyarrow_pq", "pyarrow_s3fs"):
        return lambda: pq.read_table(paths, columns=columns, filesystem=filesystem)
    if who == "pyarrow_ds":
        return lambda: ds.dataset(paths, format="parquet", filesystem=filesystem).to_table(
            columns=columns
        )
    raise SystemExit(f"unknown contender {who!r}")


def parquet_read(spec: dict, measure: Callable) -> dict:
    """The columns of every file as one table, held, timed by ``measure``."""
    read = _table_reader(spec)
    held: dict = {}

    def keep():
        held["table"] = read()
        return held["table"]

    result = measure(keep, lambda table: table.num_rows)
    table_tally(held.pop("table"), spec["width"]).check(spec["contender"], spec["expect_sums"])
    return result


def parquet_bytes(spec: dict) -> dict:
    """One read of the columns (ours or pyarrow's S3 client) through an
    nginx that logs the body bytes it sends (the suite reads its log);
    ours also says what it counted itself."""
    read = _table_reader(spec)
    before = None
    if spec["contender"] == "ours_parquet":
        import s3dlio

        before = s3dlio.buffer_stats()["body_bytes"]
    t0 = time.perf_counter()
    table = read()
    seconds = time.perf_counter() - t0
    table_tally(table, spec["width"]).check(spec["contender"], spec["expect_sums"])
    out: dict = {"seconds": seconds, "rows": table.num_rows}
    if before is not None:
        import s3dlio

        out["client_body_bytes"] = s3dlio.buffer_stats()["body_bytes"] - before
    return out


# --------------------------------------------------------------------------- epoch


def _arrow_batches(spec: dict, files: list[str]) -> Iterator[dict]:
    """The peer's loop: ``ParquetFile.iter_batches`` per file, numeric
    columns through ``torch.from_numpy`` (no copy), the embedding a 2-D
    tensor over the list's values, the strings left a pyarrow array."""
    import pyarrow.parquet as pq
    import torch

    # Arrow's buffers are read-only: torch warns, once, that its tensors are.
    warnings.filterwarnings("ignore", "The given NumPy array is not writable", UserWarning)
    filesystem, _ = pyarrow_fs(spec)
    width = spec["width"]
    for path in files:
        source = path if filesystem is None else filesystem.open_input_file(path)
        with pq.ParquetFile(source) as pf:
            for batch in pf.iter_batches(batch_size=spec["batch"], columns=spec["columns"]):
                out = {}
                for name, column in zip(batch.schema.names, batch.columns, strict=True):
                    if name == "text":
                        out[name] = column
                    elif name == "emb":
                        values = column.flatten().to_numpy(zero_copy_only=True)
                        out[name] = torch.from_numpy(values.reshape(-1, width))
                    else:
                        out[name] = torch.from_numpy(column.to_numpy(zero_copy_only=True))
                yield out


def _arrow_dataset(spec: dict):
    """An ``IterableDataset`` over the peer's loop, the files dealt to
    DataLoader workers (``files[worker::workers]``), as an iterable
    dataset over files has to be for every file to be read once. Each
    reader makes its own S3 client (none is made before the fork)."""
    from torch.utils.data import IterableDataset, get_worker_info

    paths = pyarrow_paths(spec)

    class ArrowFiles(IterableDataset):
        def __iter__(self) -> Iterator[dict]:
            info = get_worker_info()
            mine = paths if info is None else paths[info.id :: info.num_workers]
            return _arrow_batches(spec, mine)

    return ArrowFiles()


def _loader(spec: dict):
    from torch.utils.data import DataLoader

    who = spec["contender"]
    if who in ("ours_pq_epoch", "ours_pq_shuffle"):
        import s3dlio_torch

        data = s3dlio_torch.S3ParquetDataset(
            uris(spec),
            columns=spec["columns"],
            batch_size=spec["batch"],
            shuffle=who == "ours_pq_shuffle",
            seed=0,
            shuffle_buffer=spec["buffer"],
        )
    elif who == "pyarrow_iter":
        data = _arrow_dataset(spec)
    else:
        raise SystemExit(f"unknown contender {who!r}")
    return DataLoader(data, batch_size=None, num_workers=spec["workers"])


def epoch_tally(batches: Iterable[dict]) -> Tally:
    t = Tally()
    for b in batches:
        t.add(b["id"], b["emb"][:, 0].double(), b["text"])
    return t


def parquet_epoch(spec: dict, measure: Callable) -> dict:
    """One DataLoader epoch, the dataset built (ours: the footers read)
    before the clock starts ("build s"), tallied as it runs."""
    import torch.utils.data  # noqa: F401  (imported first: "build s" is the dataset's alone)

    if spec["contender"] != "pyarrow_iter":
        import s3dlio_torch  # noqa: F401
    t0 = time.perf_counter()
    loader = _loader(spec)
    build_s = time.perf_counter() - t0
    children0 = _children_cpu()
    held: dict = {}

    def run() -> int:
        held["tally"] = epoch_tally(loader)
        return held["tally"].rows

    result = measure(run, lambda n: n)
    result["cpu_s"] += _children_cpu() - children0  # the DataLoader workers, joined by now
    held["tally"].check(spec["contender"], spec["expect_sums"])
    return {**result, "build_s": build_s}

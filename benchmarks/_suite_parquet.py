"""Suite 10 of BENCHMARKS.md: Parquet columns.

16 files (``--quick``: 2) of 16 columns, written once per run with pyarrow
(snappy, a few row groups per file; read from the page cache): ``id`` and
5 more int64, 3 float32 and 3 float64, an int32 ``label``, a bool, a
``text`` string and ``emb``, a 768-float32 fixed-size list of random
normals (quick: 16) that makes most of the bytes, about 1 GB in all. Four
columns are read, ``id``, ``f0``, ``emb`` and ``text``, on file:// and on
s3:// served by nginx on 127.0.0.1 (bucket ``bench``, see suite 7):

- a table of every file: ours ``s3dlio.read_parquet`` (then
  ``pyarrow.table``, zero-copy) against ``pyarrow.parquet.read_table`` and
  ``pyarrow.dataset.dataset(...).to_table`` (local paths, or pyarrow's own
  ``S3FileSystem``) and, on s3://, ``read_table`` over ``s3fs``;
- a torch ``DataLoader`` epoch (batches of ``Config.parquet``'s batch
  rows, ``num_workers`` 0 and 2): ours ``S3ParquetDataset`` in file order
  and shuffled (row groups and an 8192-row buffer) against a
  ``ParquetFile.iter_batches`` loop handing columns out through
  ``torch.from_numpy`` (strings as pyarrow arrays, as ours), each
  DataLoader worker its share of the files;
- the bytes ours fetches for the four columns through an nginx that logs
  what it sends, against the columns' compressed chunks in the footers
  plus the 64 KiB tail ours reads per file for the footer (pyarrow's S3
  client beside it).

Every result is checked (``_parquet_op``): a wrong one is an error, not a
number. Throughput is GB/s of the four columns' decoded Arrow bytes (as
pyarrow counts them when the data is made), the same for everyone.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from _bench import (
    BUCKET,
    KIB,
    OURS,
    Config,
    Dataset,
    Runner,
    bad,
    failed,
    fmt_ratio,
    interleave,
    log,
    md_table,
    speed_ratio,
    target,
)
from _suites_servers import _served, ensure_nginx, nginx_server

PREFIX = "parquet"  # under the data folder: s3://bench/parquet/ through nginx
COLUMNS = ["id", "f0", "emb", "text"]
BUFFER = 8192  # rows in ours' shuffle buffer (the dataset's default)
TAIL = 64 * KIB  # what ours reads of each file's end for its footer
GOALS = {"file": 1.0, "s3": 2.0}  # ours vs the faster pyarrow, x throughput
BYTES_GOAL = 1.1
READ = {
    "ours_parquet": "ours read_parquet",
    "pyarrow_pq": "pyarrow.parquet.read_table",
    "pyarrow_ds": "pyarrow.dataset to_table",
    "pyarrow_s3fs": "pyarrow.parquet.read_table over s3fs",
}
EPOCH = {
    "ours_pq_epoch": "ours S3ParquetDataset",
    "ours_pq_shuffle": "ours S3ParquetDataset(shuffle=True)",
    "pyarrow_iter": "pyarrow iter_batches + torch.from_numpy",
}
PYARROW = ("pyarrow_pq", "pyarrow_ds")


@dataclass
class ParquetSet:
    root: Path
    names: list[str]
    rows: int
    width: int
    groups: int  # row groups per file
    total_bytes: int  # the files, as stored
    decoded_bytes: int  # the chosen columns in Arrow memory
    chunk_bytes: int  # the chosen columns' compressed chunks, from the footers
    sums: dict = field(default_factory=dict)  # what a correct read holds (_parquet_op.Tally)


def _file_table(start: int, rows: int, width: int):
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(start)
    ids = np.arange(start, start + rows, dtype=np.int64)
    cols: dict = {"id": ids}
    for i in range(1, 6):
        cols[f"i{i}"] = rng.integers(0, 1 << 40, rows, dtype=np.int64)
    for i in range(6):
        cols[f"f{i}"] = rng.standard_normal(rows, dtype=np.float32 if i < 3 else np.float64)
    cols["label"] = (ids % 1000).astype(np.int32)
    cols["flag"] = ids % 3 == 0
    cols["text"] = pa.array([f"sample {g:09d} " + "x" * (g % 23) for g in ids.tolist()])
    values = rng.standard_normal(rows * width, dtype=np.float32)
    cols["emb"] = pa.FixedSizeListArray.from_arrays(pa.array(values), width)
    return pa.table(cols)


def _chunk_bytes(path: Path, columns: list[str]) -> int:
    """The compressed bytes of ``columns``' chunks (every leaf under them)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    total = 0
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if chunk.path_in_schema.split(".")[0] in columns:
                total += chunk.total_compressed_size
    return total


def make_parquet(root: Path, files: int, rows: int, width: int, group: int) -> ParquetSet:
    """``files`` files of ``rows`` rows (row groups of ``group``), ids
    running on across files."""
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    root.mkdir(parents=True, exist_ok=True)
    names, decoded, chunks = [], 0, 0
    sums = {"rows": 0, "id_sum": 0, "id_squares": 0, "text_bytes": 0, "emb0": 0.0}
    for f in range(files):
        name = f"part-{f:05d}.parquet"
        table = _file_table(f * rows, rows, width)
        pq.write_table(table, root / name, row_group_size=group, compression="snappy")
        names.append(name)
        chosen = table.select(COLUMNS)
        decoded += chosen.nbytes
        chunks += _chunk_bytes(root / name, COLUMNS)
        ids = table.column("id").to_numpy()
        emb = table.column("emb").combine_chunks().flatten().to_numpy().reshape(-1, width)
        sums["rows"] += rows
        sums["id_sum"] += int(ids.sum())
        sums["id_squares"] += int((ids * ids).sum())
        sums["text_bytes"] += pc.sum(pc.binary_length(table.column("text"))).as_py()
        sums["emb0"] += float(emb[:, 0].astype(np.float64).sum())
    total = sum((root / n).stat().st_size for n in names)
    groups = -(-rows // group)
    return ParquetSet(root, names, files * rows, width, groups, total, decoded, chunks, sums)


def _spec(data: ParquetSet, scheme: str) -> dict:
    return {
        "scheme": scheme,
        "root": str(data.root),
        "names": data.names,
        "bucket": BUCKET,
        "prefix": PREFIX,
        "columns": COLUMNS,
        "width": data.width,
        "expect": data.rows,
        "expect_sums": data.sums,
    }


def _read_contenders(data: ParquetSet, scheme: str, env: dict) -> dict[str, dict]:
    base = {"op": "parquet_read", "env": env, **_spec(data, scheme)}
    named = [c for c in READ if scheme == "s3" or c != "pyarrow_s3fs"]
    return {READ[c]: {**base, "contender": c} for c in named}


def _epoch_contenders(cfg: Config, data: ParquetSet, scheme: str, env: dict, workers: int):
    base = {
        "op": "parquet_epoch",
        "batch": cfg.parquet[4],
        "workers": workers,
        "buffer": BUFFER,
        "env": env,
        **_spec(data, scheme),
    }
    return {label: {**base, "contender": c} for c, label in EPOCH.items()}


def _bytes(runner: Runner, data: ParquetSet, root: Path) -> dict:
    """One read each (ours, pyarrow's S3 client) through an nginx of its
    own that logs the body bytes it sends."""
    out: dict = {}
    for who in ("ours_parquet", "pyarrow_pq"):
        workdir = runner.workdir / f"nginx-parquet-bytes-{who}"
        workdir.mkdir(exist_ok=True)
        spec = {"op": "parquet_bytes", "contender": who, **_spec(data, "s3")}
        del spec["expect"]  # checked by the op itself (rows and sums), not by the worker
        with nginx_server.serving(root, workdir, log_requests=True) as url:
            got = runner.work({**spec, "env": {"AWS_ENDPOINT_URL": url}})
        if "error" not in got:
            requests, sent = nginx_server.body_bytes_sent(workdir)
            got = {**got, "requests": requests, "server_bytes": sent}
        out[who] = got
    return out


def suite_parquet(runner: Runner, cfg: Config, sets: dict[str, Dataset]) -> dict:
    data = make_parquet(runner.workdir / "data" / PREFIX, *cfg.parquet[:4])
    log(
        f"  {len(data.names)} files, {data.rows:,} rows ({data.groups} row groups each), "
        f"{data.total_bytes:,} bytes; columns {COLUMNS}: {data.decoded_bytes:,} decoded, "
        f"{data.chunk_bytes:,} in chunks"
    )
    why = ensure_nginx()
    if why:
        log(f"  s3:// skipped: {why}")
    cases: list[dict] = []
    fetched: dict = {"error": f"not measured: {why}"} if why else {}
    with ExitStack() as servers:
        schemes: dict[str, dict] = {"file": {}}
        if not why:
            root = _served(runner)
            workdir = runner.workdir / "nginx-parquet"
            workdir.mkdir(exist_ok=True)
            url = servers.enter_context(nginx_server.serving(root, workdir, log_requests=False))
            schemes["s3"] = {"AWS_ENDPOINT_URL": url}
            log(f"  nginx on {url}; bytes fetched")
            fetched = _bytes(runner, data, root)
        for scheme, env in schemes.items():
            title = f"{scheme}://, table of {len(COLUMNS)} columns"
            log(f"  parquet: {title}")
            res = interleave(runner, _read_contenders(data, scheme, env), cfg.warmup, cfg.runs)
            cases.append({"workload": title, "backend": scheme, "kind": "read", "results": res})
            for workers in (0, 2):
                title = f"{scheme}://, DataLoader epoch, num_workers={workers}"
                log(f"  parquet: {title}")
                contenders = _epoch_contenders(cfg, data, scheme, env, workers)
                res = interleave(runner, contenders, cfg.warmup, cfg.runs)
                case = {"workload": title, "backend": scheme, "kind": "epoch", "results": res}
                cases.append(case)
    return _report(cfg, cases, fetched, data, why)


def _fastest(res: dict, names: list[str]) -> dict | None:
    ok = [res[n] for n in names if n in res and not bad(res[n])]
    return min(ok, key=lambda r: r["median_s"]) if ok else None


def _bytes_md(fetched: dict, data: ParquetSet) -> tuple[str, float | None]:
    if "error" in fetched:
        return f"Bytes fetched: {fetched['error']}.", None
    bound = data.chunk_bytes + len(data.names) * TAIL
    lines, share = [], None
    for who, got in fetched.items():
        if "error" in got:
            lines.append(f"- {READ[who]}: failed: {got['error']}")
            continue
        ratio = got["server_bytes"] / bound
        if who == "ours_parquet":
            share = ratio
        client = got.get("client_body_bytes")
        lines.append(
            f"- {READ[who]}: {got['requests']} GETs, {got['server_bytes']:,} body bytes sent "
            f"by nginx, {ratio:.3f}x the bound ({got['server_bytes'] / data.chunk_bytes:.3f}x "
            "the chunks alone)" + ("" if client is None else f"; the client counted {client:,}")
        )
    head = (
        f"Bytes fetched for {COLUMNS} over s3:// (nginx's log): the columns' compressed "
        f"chunks are {data.chunk_bytes:,} bytes of the files' {data.total_bytes:,}; the "
        f"bound is those plus a {TAIL // KIB} KiB tail per file for the footer, "
        f"{bound:,} bytes."
    )
    return "\n\n".join([head, "\n".join(lines)]), share


def _report(cfg: Config, cases: list[dict], fetched: dict, data: ParquetSet, why) -> dict:
    rows, charts, targets = [], [], []
    gb = data.decoded_bytes / 1e9
    for case in cases:
        res, title, scheme = case["results"], case["workload"], case["backend"]
        names = {v: k for k, v in (READ | EPOCH).items()}
        if case["kind"] == "read":
            peer = _fastest(res, [READ[c] for c in PYARROW])
            ours = res.get(READ["ours_parquet"])
            what = "read_table / dataset, the faster"
        else:
            peer = res.get(EPOCH["pyarrow_iter"])
            ours = res.get(EPOCH["ours_pq_epoch"])
            what = "iter_batches loop"
        bars = []
        for name, r in res.items():
            if bad(r):
                rows.append([title, name, failed(r), "", "", "", "", ""])
                continue
            rate = gb / r["median_s"]
            bars.append([name, rate])
            build = "-" if r.get("build_s") is None else f"{r['build_s']:.2f}"
            rows.append(
                [
                    title,
                    name,
                    f"{r['median_s']:.3f}",
                    f"{rate:.2f}",
                    f"{data.rows / r['median_s']:,.0f}",
                    f"{r['cpu_s']:.2f}",
                    build if names[name] in OURS else "-",
                    "-" if r is peer else fmt_ratio(speed_ratio(r, peer)),
                ]
            )
        charts.append({"title": f"{title} (GB/s of decoded columns)", "bars": bars})
        goal = GOALS[scheme]
        name = f"{title}: ours vs pyarrow {what} (x throughput)"
        targets.append(target(name, speed_ratio(ours, peer), goal, True))
    if why:
        for kind in ("table", "DataLoader epoch, num_workers=0", "num_workers=2"):
            name = f"s3:// {kind} (not measured: {why}): ours vs pyarrow"
            targets.append(target(name, None, GOALS["s3"], True))
    bytes_md, share = _bytes_md(fetched, data)
    name = f"s3:// bytes fetched for {len(COLUMNS)} columns vs their chunks + footers"
    targets.append(target(name, share, BYTES_GOAL, False))
    header = ["workload", "contender", "median s", "GB/s", "rows/s", "CPU s", "build s"]
    header.append("vs pyarrow")
    per = data.rows // len(data.names)
    md = "\n\n".join(
        [
            (
                f"{len(data.names)} Parquet files x {per:,} rows ({data.groups} row groups "
                f"each, snappy; 16 columns, a {data.width}-float32 embedding; "
                f"{data.total_bytes / 1e6:,.1f} MB). Read: {COLUMNS}, "
                f"{data.decoded_bytes / 1e6:,.1f} MB decoded (GB/s is of these, for "
                f"everyone). Epochs: batches of {cfg.parquet[4]} rows, strings as pyarrow "
                "arrays, numbers as tensors; ours shuffled: row groups and a "
                f"{BUFFER}-row buffer. Every result is checked (rows, sums of id, text "
                "bytes, embedding); ours read the footers when built ('build s'). CPU s "
                "includes DataLoader workers. s3:// is nginx on 127.0.0.1 (pyarrow "
                "through its own S3FileSystem, or s3fs where named); 'vs pyarrow' is "
                "against the faster of read_table and dataset, or the iter_batches loop."
            ),
            md_table(header, rows),
            bytes_md,
        ]
    )
    return {"cases": cases, "fetched": fetched, "targets": targets, "charts": charts, "md": md}

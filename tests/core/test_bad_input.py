"""Bad input to every public function: a typed error that names the input,
or the documented result; never a crash, a hang or a generic RuntimeError.

The tables below run each public function of ``s3dlio`` against malformed
and unknown-scheme URIs, empty strings, NUL bytes, URIs that are not valid
UTF-8 (surrogate-escaped ``str``) or not ``str`` at all, keys with ``..``
segments, zero/negative/huge concurrency bounds, bad ranges, data that is
not a buffer, and wrong argument types. Cases that only need to parse run
against ``file://``; ``s3://`` cases are refused before any request.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import s3dlio

SIZE = 64
DATA = bytes(range(SIZE))


@dataclass
class Ctx:
    root: str  # file:// prefix of a fresh directory
    obj: str  # an existing 64-byte object under it
    path: Path  # that directory on disk
    store: s3dlio.CheckpointStore  # a checkpoint store with step 1 saved


@pytest.fixture
def ctx(tmp_path, monkeypatch) -> Ctx:
    # A mis-parsed relative path could only land in this empty directory.
    monkeypatch.chdir(tmp_path)
    root = f"file://{tmp_path.resolve()}"
    obj = f"{root}/data.bin"
    s3dlio.put(obj, DATA)
    store = s3dlio.CheckpointStore(f"{root}/ckpt")
    store.save(1, DATA)
    return Ctx(root, obj, tmp_path, store)


def _run(call: Callable[[Ctx], Any], ctx: Ctx) -> Any:
    result = call(ctx)
    if asyncio.iscoroutine(result):
        return asyncio.run(result)
    return result


def _names(message: str, value: str) -> bool:
    """Whether `message` names `value`: every printable run of it appears
    (NUL bytes and surrogates are shown escaped, so they are skipped)."""
    pieces, current = [], ""
    for ch in value:
        if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF:
            current += ch
        else:
            pieces.append(current)
            current = ""
    pieces.append(current)
    return all(piece in message for piece in pieces if piece)


def _full_text(exc: BaseException) -> str:
    return " ".join([str(exc), *getattr(exc, "__notes__", [])])


# --- URIs -----------------------------------------------------------------------------

# Every public function that takes a URI, as `call(ctx, uri)`.
URI_FUNCS: dict[str, Callable[[Ctx, Any], Any]] = {
    "get": lambda c, u: s3dlio.get(u),
    "get_range": lambda c, u: s3dlio.get_range(u, 0, 1),
    "get_many": lambda c, u: s3dlio.get_many([c.obj, u]),
    "get_batch": lambda c, u: s3dlio.get_batch([u, c.obj]),
    "read_table_uris": lambda c, u: s3dlio.read_table([u]),
    "read_table_prefix": lambda c, u: s3dlio.read_table(u),
    "put": lambda c, u: s3dlio.put(u, b"x"),
    "put_many": lambda c, u: s3dlio.put_many([(f"{c.root}/ok", b"x"), (u, b"x")]),
    "stat": lambda c, u: s3dlio.stat(u),
    "exists": lambda c, u: s3dlio.exists(u),
    "list": lambda c, u: s3dlio.list(u),
    "list_meta": lambda c, u: s3dlio.list_meta(u),
    "delete": lambda c, u: s3dlio.delete(u),
    "get_async": lambda c, u: s3dlio.get_async(u),
    "get_many_async": lambda c, u: s3dlio.get_many_async([c.obj, u]),
    "read_tar": lambda c, u: s3dlio.read_tar(u),
    "tar_index": lambda c, u: s3dlio.tar_index(u),
    "CheckpointStore": lambda c, u: s3dlio.CheckpointStore(u),
}

# Bad URIs and the text the error must show (None: the URI itself).
BAD_URIS: dict[str, str] = {
    "empty": "",
    "no_scheme": "data/x.bin",
    "unknown_scheme": "ftp://host/x.bin",
    "scheme_only": "s3://",
    "no_bucket": "s3:///key",
    "bad_bucket": "s3://bu cket/key",
    "relative_file": "file://relative/x.bin",
    "nul_byte": "file:///tmp/a\0b.bin",
    "surrogate": "file:///tmp/\udcff\udcfe.bin",  # os.fsdecode of b"\xff\xfe"
    "s3_dotdot_key": "s3://bucket/a/../b.bin",
    "s3_dot_key": "s3://bucket/a/./b.bin",
}

# Keys S3 allows and s3dlio reads, lists and deletes, but does not write.
UNWRITABLE_URIS = {"s3_empty_segment": "s3://bucket/a//b.bin"}
WRITE_FUNCS = ["put", "put_many", "CheckpointStore"]


@pytest.mark.parametrize("func", list(URI_FUNCS))
@pytest.mark.parametrize("case", list(BAD_URIS))
def test_bad_uri_is_invalid_uri_error_naming_it(ctx, func, case):
    uri = BAD_URIS[case]
    with pytest.raises(s3dlio.InvalidUriError) as excinfo:
        _run(lambda c: URI_FUNCS[func](c, uri), ctx)
    exc = excinfo.value
    assert isinstance(exc, ValueError) and isinstance(exc, s3dlio.S3dlioError)
    assert _names(str(exc), uri), f"{str(exc)!r} does not name {uri!r}"
    assert {p.name for p in ctx.path.iterdir()} == {"data.bin", "ckpt"}, "nothing written"


@pytest.mark.parametrize("func", WRITE_FUNCS)
@pytest.mark.parametrize("case", list(UNWRITABLE_URIS))
def test_unwritable_uri_is_refused_before_any_write(ctx, func, case):
    uri = UNWRITABLE_URIS[case]
    with pytest.raises(s3dlio.InvalidUriError, match="empty segment") as excinfo:
        _run(lambda c: URI_FUNCS[func](c, uri), ctx)
    assert _names(str(excinfo.value), uri)
    assert {p.name for p in ctx.path.iterdir()} == {"data.bin", "ckpt"}, "nothing written"


# Values that are not a str at all.
NOT_STR = {"none": None, "int": 5, "bytes": b"file:///tmp/x.bin", "list": ["file:///x"]}


@pytest.mark.parametrize(
    ("func", "case"),
    [
        (func, case)
        for case in NOT_STR
        for func in URI_FUNCS
        # A list is read_table's other accepted form.
        if (func, case) != ("read_table_prefix", "list")
    ],
)
def test_uri_of_wrong_type_is_type_error(ctx, func, case):
    value = NOT_STR[case]
    with pytest.raises(TypeError) as excinfo:
        _run(lambda c: URI_FUNCS[func](c, value), ctx)
    shown = "None" if value is None else type(value).__name__
    assert shown in _full_text(excinfo.value)


def test_get_object_bad_buckets_and_keys(ctx):
    for bucket, key in [("", "k"), ("b/c", "k"), ("b", "a/../k"), ("b", "k\0")]:
        with pytest.raises(s3dlio.InvalidUriError) as excinfo:
            s3dlio.get_object(bucket, key)
        assert _names(str(excinfo.value), key) and _names(str(excinfo.value), bucket)
    for bucket, key in [(None, "k"), ("b", 5), (b"b", "k")]:
        with pytest.raises(TypeError):
            s3dlio.get_object(bucket, key)


def test_file_paths_with_dotdot_are_resolved_by_the_filesystem(ctx):
    """file:// paths are handed to the OS as written: `..` means what it
    means in a shell (cloud keys with `..` are refused, see above)."""
    sub = ctx.path / "sub"
    sub.mkdir()
    assert bytes(s3dlio.get(f"{ctx.root}/sub/../data.bin")) == DATA
    s3dlio.put(f"{ctx.root}/sub/../written.bin", b"up")
    assert (ctx.path / "written.bin").read_bytes() == b"up"
    assert s3dlio.exists(f"{ctx.root}/sub/../written.bin")


def test_surrogate_uri_names_the_escaped_input(ctx):
    with pytest.raises(s3dlio.InvalidUriError) as excinfo:
        s3dlio.get(f"{ctx.root}/\udcff.bin")
    message = str(excinfo.value)
    assert "udcff" in message and ctx.root in message and "UTF-8" in message


# --- concurrency bounds -----------------------------------------------------------------

IN_FLIGHT_FUNCS: dict[str, Callable[[Ctx, Any], Any]] = {
    "get_many": lambda c, n: s3dlio.get_many([c.obj, c.obj], n),
    "get_batch": lambda c, n: s3dlio.get_batch([c.obj, c.obj], n),
    "read_table": lambda c, n: s3dlio.read_table([c.obj], n),
    "put_many": lambda c, n: s3dlio.put_many([(f"{c.root}/w.bin", DATA)], n),
    "get_many_async": lambda c, n: s3dlio.get_many_async([c.obj, c.obj], n),
    "read_all_shards": lambda c, n: c.store.read_all_shards(1, n),
}


def _check_result(func: str, result: Any, ctx: Ctx) -> None:
    if func in ("get_many", "get_many_async"):
        assert [(u, bytes(v)) for u, v in result] == [(ctx.obj, DATA)] * 2
    elif func == "get_batch":
        assert len(result) == 2 and bytes(result[1]) == DATA
    elif func == "read_table":
        assert result.num_rows == 1
    elif func == "put_many":
        assert (ctx.path / "w.bin").read_bytes() == DATA
    else:
        assert [(rank, bytes(v)) for rank, v in result] == [(0, DATA)]


@pytest.mark.parametrize("func", list(IN_FLIGHT_FUNCS))
@pytest.mark.parametrize("n", [1, 10**9, 2**63 - 1, 10**30], ids=["1", "1e9", "2^63-1", "1e30"])
def test_any_positive_max_in_flight_works(ctx, func, n):
    start = time.monotonic()
    _check_result(func, _run(lambda c: IN_FLIGHT_FUNCS[func](c, n), ctx), ctx)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("func", list(IN_FLIGHT_FUNCS))
@pytest.mark.parametrize("n", [0, -1, -(10**30)], ids=["0", "-1", "-1e30"])
def test_max_in_flight_below_one_is_value_error(ctx, func, n):
    with pytest.raises(s3dlio.InvalidArgumentError) as excinfo:
        _run(lambda c: IN_FLIGHT_FUNCS[func](c, n), ctx)
    assert "max_in_flight must be at least 1" in str(excinfo.value)


@pytest.mark.parametrize("func", list(IN_FLIGHT_FUNCS))
@pytest.mark.parametrize("n", ["8", 2.5, None], ids=["str", "float", "none"])
def test_max_in_flight_of_wrong_type_is_type_error(ctx, func, n):
    with pytest.raises(TypeError):
        _run(lambda c: IN_FLIGHT_FUNCS[func](c, n), ctx)


# --- ranges -----------------------------------------------------------------------------

# (offset, length) -> expected bytes, or the exception type.
RANGES: dict[str, tuple[Any, Any, Any]] = {
    "zero_length": (0, 0, b""),
    "zero_length_at_end": (SIZE, 0, b""),
    "at_end": (SIZE, None, b""),
    "to_end": (10, None, DATA[10:]),
    "past_end_is_cut": (60, 100, DATA[60:]),
    "huge_length_is_cut": (1, 2**70, DATA[1:]),
    "negative_offset": (-1, 4, s3dlio.InvalidArgumentError),
    "negative_length": (0, -4, s3dlio.InvalidArgumentError),
    "huge_negative_offset": (-(2**70), 4, s3dlio.InvalidArgumentError),
    "offset_past_end": (SIZE + 1, 4, s3dlio.InvalidArgumentError),
    "offset_far_past_end": (2**40, None, s3dlio.InvalidArgumentError),
    "offset_beyond_64_bits": (2**70, 1, s3dlio.InvalidArgumentError),
    "float_offset": (1.5, 4, TypeError),
    "str_length": (0, "4", TypeError),
    "none_offset": (None, 4, TypeError),
}


@pytest.mark.parametrize("case", list(RANGES))
def test_get_range_edges(ctx, case):
    offset, length, expected = RANGES[case]
    if isinstance(expected, bytes):
        assert bytes(s3dlio.get_range(ctx.obj, offset, length)) == expected
        return
    with pytest.raises(expected) as excinfo:
        s3dlio.get_range(ctx.obj, offset, length)
    if expected is s3dlio.InvalidArgumentError:
        assert ctx.obj in str(excinfo.value)


# --- data that is not a buffer -----------------------------------------------------------

NOT_BUFFERS = {
    "int": 5,
    "str": "text is not bytes",
    "object": object(),
    "none": None,
    "list": [1, 2, 3],
    "strided_array": np.arange(16, dtype=np.uint8)[::2],
}

PUT_FUNCS: dict[str, Callable[[Ctx, str, Any], Any]] = {
    "put": lambda c, u, d: s3dlio.put(u, d),
    "put_many": lambda c, u, d: s3dlio.put_many([(f"{c.root}/fine.bin", b"ok"), (u, d)]),
    "CheckpointStore.save": lambda c, u, d: c.store.save(2, d),
}


@pytest.mark.parametrize("func", list(PUT_FUNCS))
@pytest.mark.parametrize("case", list(NOT_BUFFERS))
def test_data_that_is_not_a_buffer_is_type_error_naming_the_uri(ctx, func, case):
    uri = f"{ctx.root}/target.bin"
    with pytest.raises(TypeError) as excinfo:
        PUT_FUNCS[func](ctx, uri, NOT_BUFFERS[case])
    message = str(excinfo.value)
    named = ctx.store.uri if func == "CheckpointStore.save" else uri
    assert named in message and type(NOT_BUFFERS[case]).__name__ in message
    assert not (ctx.path / "target.bin").exists() and not (ctx.path / "fine.bin").exists()
    assert ctx.store.latest_step() == 1


# --- checkpoint arguments ------------------------------------------------------------------

CHECKPOINT_CASES: dict[str, tuple[Callable[[s3dlio.CheckpointStore], Any], type, str]] = {
    "negative_step": (lambda s: s.save(-1, DATA), s3dlio.InvalidArgumentError, "-1"),
    "step_beyond_64_bits": (lambda s: s.save(2**64, DATA), s3dlio.InvalidArgumentError, "2**64"),
    "rank_not_in_world": (
        lambda s: s.save(2, DATA, rank=3, world_size=2),
        s3dlio.InvalidArgumentError,
        "rank 3",
    ),
    "world_size_zero": (
        lambda s: s.save(2, DATA, rank=0, world_size=0),
        s3dlio.InvalidArgumentError,
        "world of 0",
    ),
    "negative_rank": (lambda s: s.save(2, DATA, rank=-1), s3dlio.InvalidArgumentError, "-1"),
    "huge_world_size": (
        lambda s: s.save(2, DATA, world_size=2**40),
        s3dlio.InvalidArgumentError,
        str(2**40),
    ),
    "user_meta_not_json": (lambda s: s.save(2, DATA, user_meta=object()), TypeError, "JSON"),
    "step_as_str": (lambda s: s.save("2", DATA), TypeError, "str"),
    "missing_step": (lambda s: s.read_shard_by_rank(7, 0), FileNotFoundError, "step-000000000007"),
    "rank_beyond_world": (lambda s: s.read_shard_by_rank(1, 5), s3dlio.InvalidArgumentError, "5"),
    "read_all_missing": (lambda s: s.read_all_shards(9), FileNotFoundError, "step-000000000009"),
    "delete_missing": (lambda s: s.delete(8), FileNotFoundError, "step-000000000008"),
    "load_latest_negative_rank": (
        lambda s: s.load_latest(-1),
        s3dlio.InvalidArgumentError,
        "-1",
    ),
    "load_latest_rank_beyond_world": (
        lambda s: s.load_latest(3),
        s3dlio.InvalidArgumentError,
        "rank 3",
    ),
}


@pytest.mark.parametrize("case", list(CHECKPOINT_CASES))
def test_checkpoint_bad_arguments(ctx, case):
    call, expected, needle = CHECKPOINT_CASES[case]
    needle = str(2**64) if needle == "2**64" else needle
    with pytest.raises(expected) as excinfo:
        call(ctx.store)
    assert needle in _full_text(excinfo.value)
    # The store is untouched: step 1 is still the latest, and intact.
    assert ctx.store.latest_step() == 1
    assert bytes(ctx.store.load_latest()) == DATA


def test_checkpoint_store_repr_and_empty_store(ctx):
    empty = s3dlio.CheckpointStore(f"{ctx.root}/empty")
    assert empty.latest_step() is None and empty.load_latest() is None
    assert empty.list_checkpoints() == []
    assert repr(empty) == f"CheckpointStore({ctx.root + '/empty'!r})".replace("'", '"')


# --- other wrong types ---------------------------------------------------------------------

WRONG_TYPES: dict[str, Callable[[Ctx], Any]] = {
    "get_many_of_a_str": lambda c: s3dlio.get_many(c.obj),
    "get_many_of_none": lambda c: s3dlio.get_many(None),
    "get_many_with_a_none": lambda c: s3dlio.get_many([c.obj, None]),
    "get_batch_of_an_int": lambda c: s3dlio.get_batch(5),
    "read_table_of_none": lambda c: s3dlio.read_table(None),
    "put_many_of_a_str": lambda c: s3dlio.put_many(c.obj),
    "put_many_of_bare_uris": lambda c: s3dlio.put_many([c.obj]),
    "options_not_a_dict": lambda c: s3dlio.get(c.obj, options="AWS_REGION=x"),
    "options_non_str_value": lambda c: s3dlio.get(c.obj, options={"AWS_REGION": 5}),
    "list_recursive_not_bool": lambda c: s3dlio.list(c.root, recursive="yes"),
    "get_many_async_of_none": lambda c: s3dlio.get_many_async(None),
}


@pytest.mark.parametrize("case", list(WRONG_TYPES))
def test_wrong_argument_types_are_type_errors(ctx, case):
    with pytest.raises(TypeError):
        _run(WRONG_TYPES[case], ctx)
    assert bytes(s3dlio.get(ctx.obj)) == DATA  # still usable


@pytest.mark.parametrize(
    "call",
    [
        lambda c: s3dlio.put_many([(c.obj,)]),
        lambda c: s3dlio.put_many([(c.obj, b"x", b"y")]),
    ],
    ids=["one_element", "three_elements"],
)
def test_put_many_items_must_be_pairs(ctx, call):
    with pytest.raises((TypeError, ValueError)):
        call(ctx)
    assert bytes(s3dlio.get(ctx.obj)) == DATA


def test_bad_option_value_names_the_option(ctx):
    uri = "s3://bucket/x"
    with pytest.raises(s3dlio.InvalidArgumentError) as excinfo:
        s3dlio.get(uri, options={"S3DLIO_MAX_RETRIES": "many"})
    assert "S3DLIO_MAX_RETRIES" in str(excinfo.value) and "many" in str(excinfo.value)


BAD_PROCESS_ENV = [
    ("S3DLIO_THREADS", "auto"),
    ("S3DLIO_THREADS", "0"),
    ("S3DLIO_BLOCKING_THREADS", "-4"),
    ("S3DLIO_POOL_BYTES", "lots"),
    ("S3DLIO_POOL_IDLE_MS", "10s"),
    ("S3DLIO_HUGE_PAGES", "maybe"),
    ("S3DLIO_OPLOG_QUEUE", "lots"),
    ("S3DLIO_OPLOG_QUEUE", "0"),
]


IMPORT_PROBE = """
try:
    import s3dlio
except ValueError as e:
    print(type(e).__name__, e)
else:
    print("imported")
"""


def _import_with(env: dict[str, str], cwd: Path) -> str:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("S3DLIO_")}
    return subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE],
        env={**clean, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()


@pytest.mark.parametrize(("name", "value"), BAD_PROCESS_ENV)
def test_malformed_process_variable_fails_the_import_naming_it(name, value, tmp_path):
    """Variables read once per process (runtime, pool) are checked when the
    module loads, since no later call could report them."""
    out = _import_with({name: value}, tmp_path)
    assert out.startswith("InvalidArgumentError"), out
    assert name in out and value in out, out


def test_good_or_empty_process_variables_import(tmp_path):
    good = {
        "S3DLIO_THREADS": "3",
        "S3DLIO_BLOCKING_THREADS": "",
        "S3DLIO_POOL_BYTES": "64MiB",
        "S3DLIO_POOL_IDLE_MS": "0",
        "S3DLIO_HUGE_PAGES": "off",
    }
    assert _import_with(good, tmp_path) == "imported"


def test_directory_is_not_an_object(ctx):
    with pytest.raises(ValueError) as excinfo:
        s3dlio.get(f"{ctx.root}/")
    assert ctx.root in str(excinfo.value)
    with pytest.raises(FileNotFoundError) as excinfo:
        s3dlio.get(f"{ctx.root}/ckpt")
    assert f"{ctx.root}/ckpt" in str(excinfo.value)


# --- 100k URIs over a few files ----------------------------------------------------------


def _vm_rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise KeyError("VmRSS")


@pytest.mark.timeout(60)
def test_100k_uris_over_8_files_fetch_each_once(ctx):
    size = 16 << 10  # without de-duplication 100k copies would be 1.6 GB
    distinct = []
    for i in range(8):
        (ctx.path / f"dup-{i}.bin").write_bytes(bytes([i]) * size)
        distinct.append(f"{ctx.root}/dup-{i}.bin")
    uris = [distinct[i % 8] for i in range(100_000)]
    gc.collect()  # buffers other tests left to the collector
    buffers_before = s3dlio.buffer_stats()["buffers"]
    rss_before = _vm_rss()
    start = time.monotonic()
    result = s3dlio.get_many(uris)
    elapsed = time.monotonic() - start
    assert elapsed < 20, f"100k URIs took {elapsed:.1f} s"
    assert len(result) == 100_000
    assert [u for u, _ in result] == uris
    assert all(view[0] == i % 8 and len(view) == size for i, (_, view) in enumerate(result))
    assert s3dlio.buffer_stats()["buffers"] - buffers_before == 8, "each file fetched once"
    assert result[0][1].address == result[8][1].address, "duplicates share one buffer"
    grown = _vm_rss() - rss_before
    assert grown < 150 << 20, f"RSS grew {grown >> 20} MiB"
    del result
    assert s3dlio.buffer_stats()["buffers"] == buffers_before


# --- the risky values in a child process -----------------------------------------------------

CHILD = r"""
import asyncio, sys
import s3dlio

obj, root = sys.argv[1], sys.argv[2]
store = s3dlio.CheckpointStore(root + "/ck")
store.save(1, b"shard")
for n in (10**9, 2**63 - 1, 2**64, 10**30, 10**100):
    assert len(s3dlio.get_many([obj] * 3, n)) == 3
    assert len(s3dlio.get_batch([obj] * 3, n)) == 3
    assert s3dlio.read_table(root, n).num_rows >= 1
    s3dlio.put_many([(root + "/w.bin", b"w")], n)
    assert len(asyncio.run(s3dlio.get_many_async([obj], n))) == 1
    assert len(store.read_all_shards(1, n)) == 1
    assert len(s3dlio.get_range(obj, 0, n)) == 64
for bad in ("file:///a\0b", "file:///\udcff", "s3://b/../k", "\0", "\udcff://x"):
    for call in (s3dlio.get, s3dlio.stat, s3dlio.exists, s3dlio.list, s3dlio.delete):
        try:
            call(bad)
        except s3dlio.InvalidUriError:
            pass
        else:
            raise AssertionError(f"{call.__name__}({bad!r}) did not raise")
print("survived")
"""


@pytest.mark.timeout(60)
def test_huge_and_malformed_values_do_not_crash_the_interpreter(ctx):
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, ctx.obj, ctx.root],
        cwd=ctx.path,
        capture_output=True,
        text=True,
        timeout=50,
        env=dict(os.environ),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "survived"


# --- sizes and indices ------------------------------------------------------------------


@pytest.mark.parametrize("given", [SIZE - 1, SIZE + 1, 0])
def test_a_wrong_size_given_to_get_batch_names_both_sizes(ctx, given):
    """Not a "truncated transfer": the object is not the size given."""
    with pytest.raises(s3dlio.InvalidArgumentError) as excinfo:
        s3dlio.get_batch([ctx.obj], sizes=given)
    text = str(excinfo.value)
    assert ctx.obj in text and f"expected {given} bytes" in text, text
    assert f"the object is {SIZE} bytes" in text and "given" in text, text
    assert "truncated" not in text, text


@pytest.mark.parametrize("index", [2**70, -(2**70), 2**63, SIZE, -SIZE - 1])
def test_an_index_past_any_end_is_an_index_error(ctx, index):
    view = s3dlio.get(ctx.obj)
    with pytest.raises(IndexError):
        view[index]
    with pytest.raises(IndexError):
        s3dlio.get_batch([ctx.obj])[index]
    assert view[np.int64(1)] == DATA[1]  # any integer type still indexes
    with pytest.raises(TypeError):
        view[1.0]
    with pytest.raises(TypeError):
        s3dlio.get_batch([ctx.obj])["0"]

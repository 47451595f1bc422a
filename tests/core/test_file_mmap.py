"""Zero copies from the page cache: with `S3DLIO_FILE_MMAP=true` (or the
per-call `file_mmap` option) a file:// object is a view over its mapped
pages, told apart from a copy by /proc/self/maps; batches still copy."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pyarrow as pa
import pytest
import torch

import s3dlio

MAP = {"file_mmap": "true"}
PAGE = os.sysconf("SC_PAGESIZE")
MiB = 1024 * 1024


def mappings_of(path: Path) -> list[tuple[int, int]]:
    """(start, end) of every mapping of the file at `path` in this process,
    also once it is deleted."""
    name = str(path)
    found = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.split(maxsplit=5)
            if len(fields) == 6 and fields[5].rstrip("\n") in (name, f"{name} (deleted)"):
                start, end = (int(a, 16) for a in fields[0].split("-"))
                found.append((start, end))
    return found


def in_a_mapping_of(path: Path, address: int) -> bool:
    return any(start <= address < end for start, end in mappings_of(path))


@pytest.fixture
def obj(tmp_path) -> tuple[Path, str, bytes]:
    """A 1 MiB file: its path, its URI, its bytes."""
    path = tmp_path.resolve() / "object.bin"
    data = np.random.default_rng(3).bytes(MiB)
    path.write_bytes(data)
    return path, f"file://{path}", data


def test_a_mapped_view_is_the_page_cache_by_address(obj):
    path, uri, data = obj
    v = s3dlio.get(uri, options=MAP)
    assert bytes(v) == data
    assert v.address % PAGE == 0 and (v.address, v.address + MiB) in mappings_of(path)
    assert np.frombuffer(v, dtype=np.uint8).ctypes.data == v.address
    assert v.numpy().ctypes.data == v.address and not v.numpy().flags.writeable
    assert torch.from_dlpack(v).data_ptr() == v.address
    assert jnp.from_dlpack(v).unsafe_buffer_pointer() == v.address
    assert pa.array(v).buffers()[1].address == v.address
    assert torch.from_dlpack(v[4096:8192]).data_ptr() == v.address + 4096
    with pytest.raises(ValueError):
        np.frombuffer(v, dtype=np.uint8)[0] = 1
    # A second view is a second mapping of the same file.
    again = s3dlio.get(uri, options=MAP)
    assert again.address != v.address and in_a_mapping_of(path, again.address)
    assert len(mappings_of(path)) == 2


def test_without_the_option_the_bytes_are_a_copy(obj):
    path, uri, data = obj
    v = s3dlio.get(uri)
    many = s3dlio.get_many([uri], options={"file_mmap": "false"})
    assert bytes(v) == data == bytes(many[0][1])
    assert v.address % 64 == 0
    assert mappings_of(path) == []


def test_get_many_get_range_and_the_async_forms_map_too(obj):
    path, uri, data = obj
    [(_, whole)] = s3dlio.get_many([uri], options=MAP)
    assert bytes(whole) == data and whole.address % PAGE == 0
    assert in_a_mapping_of(path, whole.address)
    part = s3dlio.get_range(uri, 3 * PAGE + 640, 10_000, options=MAP)
    assert bytes(part) == data[3 * PAGE + 640 :][:10_000]
    assert part.address % PAGE == 640 and in_a_mapping_of(path, part.address)
    one = asyncio.run(s3dlio.get_async(uri, options=MAP))
    [(_, also)] = asyncio.run(s3dlio.get_many_async([uri], options=MAP))
    assert in_a_mapping_of(path, one.address) and in_a_mapping_of(path, also.address)
    # A range off the 64-byte alignment is read into an aligned buffer.
    odd = s3dlio.get_range(uri, 100, 50, options=MAP)
    assert bytes(odd) == data[100:150] and odd.address % 64 == 0
    assert not in_a_mapping_of(path, odd.address)


def test_the_environment_variable_turns_it_on(obj, monkeypatch):
    path, uri, data = obj
    monkeypatch.setenv("S3DLIO_FILE_MMAP", "true")
    v = s3dlio.get(uri)
    [(_, w)] = s3dlio.get_many([uri])
    assert bytes(v) == bytes(w) == data
    assert in_a_mapping_of(path, v.address) and in_a_mapping_of(path, w.address)
    off = s3dlio.get(uri, options={"file_mmap": "false"})
    assert not in_a_mapping_of(path, off.address), "the per-call option wins"


@pytest.mark.parametrize("where", ["env", "option"])
def test_a_bad_value_is_a_typed_error_naming_it(obj, monkeypatch, where):
    _, uri, _ = obj
    options = None
    if where == "env":
        monkeypatch.setenv("S3DLIO_FILE_MMAP", "sometimes")
    else:
        options = {"file_mmap": "sometimes"}
    for call in (
        lambda: s3dlio.get(uri, options=options),
        lambda: s3dlio.get_many([uri], options=options),
    ):
        with pytest.raises(s3dlio.InvalidArgumentError, match="FILE_MMAP=") as err:
            call()
        assert '"sometimes"' in str(err.value) and uri in str(err.value)


def test_batches_still_copy_into_contiguous_rows(tmp_path):
    root = tmp_path.resolve()
    paths = [root / f"row-{i}.bin" for i in range(4)]
    rows = [bytes([i]) * 10_000 for i in range(4)]
    for path, row in zip(paths, rows, strict=True):
        path.write_bytes(row)
    uris = [f"file://{p}" for p in paths]
    spare = np.empty(4 * 10_000 + 64, dtype=np.uint8)
    skip = -spare.ctypes.data % 64
    landing = spare[skip : skip + 4 * 10_000]
    for kwargs in ({}, {"pinned": True}, {"out": landing}):
        batch = s3dlio.get_batch(uris, options=MAP, **kwargs)
        assert [bytes(batch[i]) for i in range(4)] == rows
        assert [batch[i].address for i in range(4)] == [
            batch.address + i * 10_000 for i in range(4)
        ]
        assert all(mappings_of(p) == [] for p in paths), kwargs


def test_direct_io_ignores_the_option(obj):
    path, _, data = obj
    v = s3dlio.get(f"direct://{path}", options={**MAP, "S3DLIO_DIRECT_FALLBACK": "true"})
    assert bytes(v) == data and mappings_of(path) == []


def test_an_empty_file_is_an_empty_view_and_no_mapping(tmp_path):
    path = tmp_path.resolve() / "empty.bin"
    path.write_bytes(b"")
    v = s3dlio.get(f"file://{path}", options=MAP)
    assert len(v) == 0 and bytes(v) == b"" and mappings_of(path) == []


def test_a_file_replaced_by_rename_keeps_the_old_bytes_in_old_views(obj):
    path, uri, data = obj
    old = s3dlio.get(uri, options=MAP)
    new = path.with_name("incoming.bin")
    new.write_bytes(b"the new object")
    os.replace(new, path)
    assert bytes(old) == data, "the old inode stays mapped"
    assert bytes(s3dlio.get(uri, options=MAP)) == b"the new object"
    s3dlio.put(uri, b"put by s3dlio")  # its own writes rename too
    assert bytes(old) == data
    assert bytes(s3dlio.get(uri, options=MAP)) == b"put by s3dlio"


def test_a_deleted_file_lives_until_the_last_view_goes(obj):
    path, uri, data = obj
    v = s3dlio.get(uri, options=MAP)
    t = torch.from_dlpack(v[PAGE:])
    path.unlink()
    assert bytes(v) == data
    del v
    gc.collect()
    assert len(mappings_of(path)) == 1, "the tensor keeps the mapping"
    assert bytes(t.numpy()) == data[PAGE:]
    del t
    gc.collect()
    assert mappings_of(path) == []


def test_a_write_through_torch_stays_out_of_the_file(obj):
    """torch ignores the read-only flag (see test_zero_copy.py): the write
    lands in the view, as with a copy, and never in the file (the mapping
    is private)."""
    path, uri, data = obj
    v = s3dlio.get(uri, options=MAP)
    t = torch.from_dlpack(v)
    t[0] = (data[0] + 1) % 256
    assert v[0] == (data[0] + 1) % 256
    assert path.read_bytes() == data
    assert s3dlio.get(uri, options=MAP)[0] == data[0]


def test_bytes_rewritten_in_place_show_through(obj):
    path, uri, data = obj
    v = s3dlio.get(uri, options=MAP)
    with open(path, "r+b") as f:
        f.seek(PAGE)
        f.write(b"rewritten")
    assert bytes(v[PAGE : PAGE + 9]) == b"rewritten"
    assert bytes(v[:PAGE]) == data[:PAGE]


TRUNCATE = r"""
import os, sys
import s3dlio
path = sys.argv[1]
v = s3dlio.get("file://" + path, options={"file_mmap": "true"})
print(v[0], flush=True)
os.truncate(path, 0)
print("truncated", flush=True)
print(v[0], flush=True)  # the page is past the new end
print("survived", flush=True)
"""


def test_a_file_truncated_in_place_raises_sigbus_on_access(obj):
    """What the README says: touching a page past the new end of a mapped
    file truncated in place ends the process with SIGBUS."""
    path, _, data = obj
    proc = subprocess.run(
        [sys.executable, "-c", TRUNCATE, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == -signal.SIGBUS, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.split() == [str(data[0]), "truncated"]

"""``S3dlioFileSystem``'s methods on every backend: paths are full URIs,
reads are ranged gets (``cat_ranges`` one ``get_ranges`` call), files
are seekable and ``readinto`` lands a large read in the caller's buffer
from one ranged get; prefixes are directories; ``register`` makes fsspec
use it for a scheme."""

from __future__ import annotations

import fsspec
import numpy as np
import pytest
from fsspec.registry import _registry

import s3dlio
import s3dlio.fsspec
from s3dlio import _core
from s3dlio.fsspec import S3dlioFileSystem

DATA = bytes(range(256)) * 64  # 16 KiB


@pytest.fixture
def fs():
    return S3dlioFileSystem()


@pytest.fixture
def registered_s3():
    """``register("s3")``, undone afterwards."""
    before = _registry.get("s3")
    yield s3dlio.fsspec.register("s3")
    if before is None:
        _registry.pop("s3", None)
    else:
        _registry["s3"] = before


def test_reads_listings_and_deletes_on_every_backend(fs, backend_prefix, seed):
    seed(f"{backend_prefix}/d/a.bin", DATA)
    seed(f"{backend_prefix}/d/sub/b.bin", b"bee")
    a = f"{backend_prefix}/d/a.bin"
    assert fs.cat_file(a) == DATA
    assert fs.cat_file(a, 10, 20) == DATA[10:20]
    assert fs.cat_file(a, -5) == DATA[-5:]
    assert fs.cat_file(a, None, -1) == DATA[:-1]
    assert fs.cat_ranges([a, a], [0, 100], [3, None]) == [DATA[:3], DATA[100:]]
    info = fs.info(a)
    assert (info["name"], info["size"], info["type"]) == (a, len(DATA), "file")
    assert fs.info(f"{backend_prefix}/d")["type"] == "directory"
    assert fs.info(f"{backend_prefix}/d/")["name"] == f"{backend_prefix}/d"
    listed = fs.ls(f"{backend_prefix}/d")
    assert [(e["name"], e["type"]) for e in listed] == [
        (a, "file"),
        (f"{backend_prefix}/d/sub", "directory"),
    ]
    assert fs.ls(f"{backend_prefix}/d", detail=False) == [a, f"{backend_prefix}/d/sub"]
    assert fs.find(f"{backend_prefix}/d") == [a, f"{backend_prefix}/d/sub/b.bin"]
    assert fs.glob(f"{backend_prefix}/d/**/*.bin") == [a, f"{backend_prefix}/d/sub/b.bin"]
    assert fs.exists(a) and fs.exists(f"{backend_prefix}/d")
    assert not fs.exists(f"{backend_prefix}/d/nope")
    assert fs.isfile(a) and fs.isdir(f"{backend_prefix}/d/sub")
    with fs.open(a) as f:
        f.seek(1000)
        assert f.read(4) == DATA[1000:1004]
        f.seek(-2, 2)
        assert f.read() == DATA[-2:]
        assert f.tell() == len(DATA)
    fs.rm(f"{backend_prefix}/d", recursive=True)
    assert not fs.exists(a)
    assert fs.find(backend_prefix) == []


@pytest.mark.parametrize("scheme", ["file", "direct", "s3", "az"])
def test_writes_round_trip(request, scheme, fs, tmp_path):
    prefix = request.getfixturevalue(f"{scheme}_prefix")
    fs.pipe_file(f"{prefix}/p.bin", DATA)
    assert fs.cat_file(f"{prefix}/p.bin") == DATA
    local = tmp_path / "local.bin"
    local.write_bytes(DATA[::-1])
    fs.put_file(str(local), f"{prefix}/up.bin")
    fs.get_file(f"{prefix}/up.bin", str(tmp_path / "down" / "x.bin"))
    assert (tmp_path / "down" / "x.bin").read_bytes() == DATA[::-1]
    fs.cp_file(f"{prefix}/p.bin", f"{prefix}/copy.bin")
    assert fs.cat_file(f"{prefix}/copy.bin") == DATA
    assert fs.modified(f"{prefix}/copy.bin") is not None


def test_cat_ranges_is_one_get_ranges_call(fs, s3_prefix, monkeypatch):
    uris = [f"{s3_prefix}/r{i}" for i in range(5)]
    s3dlio.put_many([(u, DATA) for u in uris])
    calls = []
    real = _core.get_ranges

    def counted(requests, *args, **kwargs):
        calls.append(list(requests))
        return real(requests, *args, **kwargs)

    monkeypatch.setattr(_core, "get_ranges", counted)
    got = fs.cat_ranges(uris * 2, [i * 7 for i in range(10)], [i * 7 + 5 for i in range(10)])
    assert got == [DATA[i * 7 : i * 7 + 5] for i in range(10)]
    assert len(calls) == 1 and len(calls[0]) == 10


def test_cat_ranges_returns_the_error_of_a_missing_object(fs, s3_prefix):
    s3dlio.put(f"{s3_prefix}/here", DATA)
    got = fs.cat_ranges([f"{s3_prefix}/here", f"{s3_prefix}/gone"], 0, 4)
    assert got[0] == DATA[:4]
    assert isinstance(got[1], FileNotFoundError)
    with pytest.raises(FileNotFoundError, match="gone"):
        fs.cat_ranges([f"{s3_prefix}/gone"], 0, 4, on_error="raise")


def test_readinto_of_a_large_read_is_one_ranged_get_into_the_buffer(fs, prefix, monkeypatch):
    data = np.random.default_rng(3).integers(0, 256, 3 << 20, dtype=np.uint8)
    s3dlio.put(f"{prefix}/big", data)
    calls = []
    real = _core.get_range

    def counted(uri, offset, length=None, **kwargs):
        calls.append((offset, length))
        return real(uri, offset, length, **kwargs)

    monkeypatch.setattr(_core, "get_range", counted)
    out = np.zeros(2 << 20, dtype=np.uint8)
    with fs.open(f"{prefix}/big", block_size=1 << 20) as f:
        f.seek(100)
        assert f.readinto(out) == len(out)
        assert calls == [(100, 2 << 20)]  # straight, not through the cache
        assert np.array_equal(out, data[100 : 100 + len(out)])
        small = bytearray(10)
        assert f.readinto(small) == 10
        assert bytes(small) == data[100 + len(out) :][:10].tobytes()
        f.seek(len(data) - 3)
        assert f.readinto(out) == 3
        assert f.readinto(out) == 0


def test_info_of_nothing_is_not_found_and_other_errors_raise(fs, s3_prefix, unreachable_s3_options):
    with pytest.raises(FileNotFoundError, match="nothing"):
        fs.info(f"{s3_prefix}/nothing")
    broken = S3dlioFileSystem(options=unreachable_s3_options, skip_instance_cache=True)
    with pytest.raises(s3dlio.S3dlioError):
        broken.exists(f"{s3_prefix}/x")  # not False: the store was not asked


def test_mkdir_writes_nothing_to_an_object_store(fs, s3_prefix):
    fs.makedirs(f"{s3_prefix}/empty/dir", exist_ok=True)
    fs.mkdir(f"{s3_prefix}/empty2")
    assert s3dlio.list(s3_prefix) == []
    assert not fs.exists(f"{s3_prefix}/empty")


def test_mkdir_makes_a_local_directory(fs, file_prefix):
    fs.mkdir(f"{file_prefix}/made/here")
    assert fs.info(f"{file_prefix}/made/here")["type"] == "directory"
    assert fs.ls(f"{file_prefix}/made", detail=False) == [f"{file_prefix}/made/here"]


def test_an_unsupported_mode_is_refused_naming_the_uri(fs, file_prefix):
    with pytest.raises(ValueError, match=r"x\.bin.*'ab'"):
        fs.open(f"{file_prefix}/x.bin", "ab")


def test_register_makes_fsspec_use_s3dlio(registered_s3, s3_prefix):
    s3dlio.put(f"{s3_prefix}/k.txt", b"via fsspec")
    fs = fsspec.filesystem("s3")
    assert isinstance(fs, S3dlioFileSystem)
    with fsspec.open(f"{s3_prefix}/k.txt", "rb") as f:
        assert f.read() == b"via fsspec"
    with fsspec.open(f"{s3_prefix}/t.txt", "w") as f:  # text mode over the writer
        f.write("written")
    assert s3dlio.get(f"{s3_prefix}/t.txt").to_bytes() == b"written"
    bare = s3_prefix.removeprefix("s3://")
    assert fs.cat_file(f"{bare}/k.txt") == b"via fsspec"  # bucket/key: s3:// by default
    assert fs.ls(bare, detail=False) == [f"{s3_prefix}/k.txt", f"{s3_prefix}/t.txt"]
    fs2, path = fsspec.core.url_to_fs(f"{s3_prefix}/k.txt", aws_endpoint_url="http://x")
    assert isinstance(fs2, S3dlioFileSystem) and path == f"{s3_prefix}/k.txt"
    assert fs2.options == {"aws_endpoint_url": "http://x"}  # storage_options are options


def test_register_refuses_a_scheme_s3dlio_cannot_serve():
    with pytest.raises(ValueError, match="hdfs"):
        s3dlio.fsspec.register("hdfs")


def test_a_prefix_is_a_directory_from_one_delimited_listing(fs, s3_prefix, monkeypatch):
    s3dlio.put_many([(f"{s3_prefix}/big/{i // 10}/{i}", b"x") for i in range(40)])
    calls = []
    for name in ("list", "list_meta", "list_dir"):
        real = getattr(_core, name)

        def counted(*args, _real=real, _name=name, **kwargs):
            calls.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(_core, name, counted)
    assert fs.info(f"{s3_prefix}/big")["type"] == "directory"
    assert fs.ls(f"{s3_prefix}/big", detail=False) == [f"{s3_prefix}/big/{d}" for d in range(4)]
    assert calls == ["list_dir", "list_dir"]  # no listing of the 40 objects below


def test_import_s3dlio_does_not_import_fsspec_until_asked():
    import subprocess
    import sys

    code = (
        "import sys, s3dlio\n"
        "assert 'fsspec' not in sys.modules\n"
        "assert s3dlio.fsspec.S3dlioFileSystem.protocol == ('s3dlio',)\n"
        "assert 'fsspec' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)

"""Tar shards: `read_tar` hands out the regular files of a shard as slices
of the one buffer it was fetched into, `tar_index` finds them from the
headers alone. Shards are written by Python's `tarfile` (the reader
WebDataset uses), which is also the reference for names, offsets and
sizes."""

import io
import pickle
import tarfile

import numpy as np
import pytest

import s3dlio

LONG = "deep/" * 25 + "sample.with.a.long.name.jpg"  # 152 characters


def _tar(fmt: int, entries) -> bytes:
    """A tar archive in format `fmt`: entries are (name, bytes) for files,
    (name, "dir"), (name, ("symlink", target)) or (name, ("hardlink", target))."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, what in entries:
            info = tarfile.TarInfo(name)
            if what == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(what, tuple):
                info.type = tarfile.SYMTYPE if what[0] == "symlink" else tarfile.LNKTYPE
                info.linkname = what[1]
                tar.addfile(info)
            else:
                info.size = len(what)
                tar.addfile(info, io.BytesIO(what))
    return out.getvalue()


def _entries(fmt: int):
    entries = [
        ("a/", "dir"),
        ("a/000.jpg", b"\xff\xd8jpeg" * 100),
        ("a/000.cls", b""),
        ("a/000.json", b'{"k": 1}'),
        ("a/link.jpg", ("symlink", "000.jpg")),
        ("a/hard.jpg", ("hardlink", "a/000.jpg")),
        ("__meta__", b"no key"),
        ("nodot", b"x" * 513),
        # ustar keeps a name over 100 characters in its prefix field.
        (LONG, bytes(range(256)) * 7),
    ]
    if fmt != tarfile.USTAR_FORMAT:
        entries.append(("x" * 180 + "/y.txt", b"long name, no slash to split at"))
        entries.append(("caf\u00e9/\u65e5\u672c.txt", "d\u00e4ta".encode()))
    return entries


def _regular(shard: bytes):
    """What tarfile lists as regular files: (name, data offset, size, data)."""
    with tarfile.open(fileobj=io.BytesIO(shard), mode="r:") as tar:
        return [
            (m.name, m.offset_data, m.size, tar.extractfile(m).read())
            for m in tar.getmembers()
            if m.isreg()
        ]


def _check_read(uri: str, shard: bytes):
    expected = _regular(shard)
    members = s3dlio.read_tar(uri)
    assert [name for name, _ in members] == [e[0] for e in expected]
    assert [bytes(view) for _, view in members] == [e[3] for e in expected]
    # One allocation: every member's view starts at base + its data offset.
    first = members[0][1]
    base = first.address - expected[0][1]
    assert np.frombuffer(first, dtype=np.uint8).ctypes.data == first.address
    for (name, view), (_, offset, size, _) in zip(members, expected, strict=True):
        if size:
            assert view.address == base + offset, name
            assert base <= view.address and view.address + size <= base + len(shard)


def _check_index(uri: str, shard: bytes):
    expected = [(name, offset, size) for name, offset, size, _ in _regular(shard)]
    index = s3dlio.tar_index(uri)
    assert all(isinstance(m, s3dlio.TarMember) for m in index)
    assert [(m.name, m.offset, m.size) for m in index] == expected


def _check_listing(uri: str, shard: bytes):
    """The listing of a shard already fetched, from any buffer, is the index's."""
    expected = [(name, offset, size) for name, offset, size, _ in _regular(shard)]
    for data in (s3dlio.get(uri), shard):
        assert [(m.name, m.offset, m.size) for m in s3dlio.tar_listing(data, uri)] == expected


FORMATS = {"ustar": tarfile.USTAR_FORMAT, "gnu": tarfile.GNU_FORMAT, "pax": tarfile.PAX_FORMAT}


@pytest.mark.parametrize("fmt", FORMATS)
def test_members_match_tarfile_in_every_format(file_prefix, fmt):
    shard = _tar(FORMATS[fmt], _entries(FORMATS[fmt]))
    uri = f"{file_prefix}/{fmt}.tar"
    s3dlio.put(uri, shard)
    _check_read(uri, shard)
    _check_index(uri, shard)
    _check_listing(uri, shard)
    names = [name for name, _ in s3dlio.read_tar(uri)]
    assert "a" not in names and "a/link.jpg" not in names and "a/hard.jpg" not in names
    assert "__meta__" in names and "nodot" in names


def test_every_backend(backend_prefix, seed):
    shard = _tar(tarfile.PAX_FORMAT, _entries(tarfile.PAX_FORMAT))
    uri = f"{backend_prefix}/shard-000.tar"
    seed(uri, shard)
    _check_read(uri, shard)
    _check_index(uri, shard)


@pytest.mark.parametrize("scheme", ["s3", "az", "gs"])
def test_the_index_reads_a_small_share_of_a_shard(request, seed, scheme):
    prefix = request.getfixturevalue(f"{scheme}_prefix")
    rng = np.random.default_rng(0)
    # The benchmark's shard: 256 samples of a ~100 KiB image and a label.
    entries = [
        (f"{i:06d}.{ext}", rng.bytes(100_000 + i) if ext == "jpg" else str(i).encode())
        for i in range(256)
        for ext in ("jpg", "cls")
    ]
    shard = _tar(tarfile.PAX_FORMAT, entries)
    uri = f"{prefix}/big.tar"
    seed(uri, shard)
    before = s3dlio.buffer_stats()["body_bytes"]
    _check_index(uri, shard)
    read = s3dlio.buffer_stats()["body_bytes"] - before
    assert 0 < read <= 0.02 * len(shard), f"read {read} of {len(shard)} bytes"


def test_an_empty_shard_and_an_empty_archive_have_no_members(prefix):
    for name, shard in [("zero.tar", b""), ("empty.tar", _tar(tarfile.PAX_FORMAT, []))]:
        uri = f"{prefix}/{name}"
        s3dlio.put(uri, shard)
        assert s3dlio.read_tar(uri) == []
        assert s3dlio.tar_index(uri) == []


def test_a_base_256_size_is_read(file_prefix):
    shard = bytearray(_tar(tarfile.GNU_FORMAT, [("a.bin", b"abc" * 300), ("b.bin", b"z")]))
    # The size field in GNU base-256, checksum redone: tarfile reads it too.
    shard[124:136] = b"\x80" + (900).to_bytes(11, "big")
    shard[148:156] = b" " * 8
    shard[148:156] = b"%06o\0 " % sum(shard[:512])
    uri = f"{file_prefix}/b256.tar"
    s3dlio.put(uri, bytes(shard))
    _check_read(uri, bytes(shard))
    _check_index(uri, bytes(shard))


def _headers(shard: bytes):
    """tarfile's header offsets of the regular files."""
    with tarfile.open(fileobj=io.BytesIO(shard), mode="r:") as tar:
        return [(m.offset, m.offset_data, m.size) for m in tar.getmembers() if m.isreg()]


def _shard_for_errors() -> bytes:
    return _tar(
        tarfile.PAX_FORMAT,
        [(f"{i}.bin", bytes([i]) * 3000) for i in range(4)] + [(LONG, b"pax" * 700)],
    )


def _listing(uri: str) -> list:
    return s3dlio.tar_listing(s3dlio.get(uri), uri)


@pytest.mark.parametrize("read", [s3dlio.read_tar, s3dlio.tar_index, _listing])
def test_a_truncated_or_corrupt_shard_names_the_uri_and_the_header(prefix, read):
    shard = _shard_for_errors()
    headers = _headers(shard)
    header, data, size = headers[2]
    cases = {
        "header": (shard[: header + 200], header),
        "data": (shard[: data + size // 2], header),
        # tarfile's offset is that of the PAX header; the error names the
        # entry's own header, where the size it cannot hold was read.
        "last data": (shard[: headers[-1][1] + 10], headers[-1][1] - 512),
    }
    corrupt = bytearray(shard)
    corrupt[header + 3] ^= 0x01  # in the name: the checksum no longer matches
    cases["checksum"] = (bytes(corrupt), header)
    for i, (case, (data_, offset)) in enumerate(cases.items()):
        uri = f"{prefix}/case-{i}.tar"
        s3dlio.put(uri, data_)
        with pytest.raises(s3dlio.FormatError) as caught:
            read(uri)
        text = str(caught.value)
        assert uri in text and f"at byte {offset}:" in text, (case, text)
        assert ("checksum" in text) == (case == "checksum"), text


def test_a_jump_past_the_end_of_a_cut_shard_is_an_error(prefix):
    shard = _tar(tarfile.PAX_FORMAT, [("a.bin", b"a" * 200_000), ("b.bin", b"b" * 200_000)])
    header, data, _ = _headers(shard)[1]
    uri = f"{prefix}/cut-big.tar"
    s3dlio.put(uri, shard[: data + 1000])
    for read in (s3dlio.read_tar, s3dlio.tar_index):
        with pytest.raises(s3dlio.FormatError, match=f"at byte {header}: truncated"):
            read(uri)


def test_a_pax_header_cut_short_is_an_error(file_prefix):
    shard = _shard_for_errors()
    pax_header = _headers(shard)[-1][0]  # tarfile's offset: the 'x' header
    uri = f"{file_prefix}/pax-cut.tar"
    s3dlio.put(uri, shard[: pax_header + 600])
    for read in (s3dlio.read_tar, s3dlio.tar_index):
        with pytest.raises(s3dlio.FormatError, match=f"at byte {pax_header}:"):
            read(uri)


def test_format_error_is_an_s3dlio_error():
    assert issubclass(s3dlio.FormatError, s3dlio.S3dlioError)


def test_tar_members_pickle_and_compare():
    m = s3dlio.TarMember("a/b.jpg", 1536, 100)
    assert (m.name, m.offset, m.size) == ("a/b.jpg", 1536, 100)
    again = pickle.loads(pickle.dumps([m]))[0]
    assert again == m and hash(again) == hash(m) and again is not m
    assert m != s3dlio.TarMember("a/b.jpg", 1536, 101)
    assert repr(m) == "TarMember(name='a/b.jpg', offset=1536, size=100)"


def test_a_missing_shard_is_not_found(prefix):
    for read in (s3dlio.read_tar, s3dlio.tar_index):
        with pytest.raises(s3dlio.ObjectNotFoundError):
            read(f"{prefix}/missing.tar")

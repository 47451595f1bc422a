"""Cold reads: drop a dataset's files from the page cache and check that
none of them stayed (``posix_fadvise(DONTNEED)`` per file, then
``mincore`` over a mapping of it), as the C floor does before its fetches."""

from __future__ import annotations

import ctypes
import mmap
import os
from pathlib import Path

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mmap.restype = ctypes.c_void_p
_libc.mmap.argtypes = [
    ctypes.c_void_p,
    ctypes.c_size_t,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_int,
    ctypes.c_long,
]
_libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
_libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
_FAILED = ctypes.c_void_p(-1).value


def cached_pages(path: Path) -> int:
    """How many of the file's pages are in the page cache."""
    size = path.stat().st_size
    if not size:
        return 0
    pages = (size + mmap.PAGESIZE - 1) // mmap.PAGESIZE
    vec = ctypes.create_string_buffer(pages)
    fd = os.open(path, os.O_RDONLY)
    try:
        at = _libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        if at in (None, _FAILED):
            raise OSError(ctypes.get_errno(), f"mmap of {path}")
        try:
            if _libc.mincore(at, size, vec) != 0:
                raise OSError(ctypes.get_errno(), f"mincore of {path}")
        finally:
            _libc.munmap(at, size)
    finally:
        os.close(fd)
    return sum(b & 1 for b in vec.raw)


def evict(root: str, keys: list[str]) -> None:
    """Evict every file; a file still cached afterwards is an error."""
    for key in keys:
        path = Path(root) / key
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fdatasync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        if cached_pages(path):
            raise SystemExit(f"{path} is still in the page cache after eviction")

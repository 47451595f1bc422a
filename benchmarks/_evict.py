"""Cold reads: drop a dataset's files from the page cache and check that
none of them stayed (``posix_fadvise(DONTNEED)`` per file, then
``mincore``, with the tests' ``page_cache`` helpers), as the C floor does
before its fetches."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from page_cache import evict as evict_file
from page_cache import resident_pages


def evict(root: str, keys: list[str]) -> None:
    """Evict every file; a file still cached afterwards is an error."""
    for key in keys:
        path = Path(root) / key
        evict_file(path)
        if resident_pages(path):
            raise SystemExit(f"{path} is still in the page cache after eviction")

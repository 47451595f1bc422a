"""The glob edge cases of fsspec's abstract suite (32 per operation, each
building and copying a tree) run in full on file://; on s3:// each glob
pattern runs once (its first recursive/maxdepth variant), which checks
the listing and copying underneath, and keeps this folder's run short
(each s3:// case costs ~0.5 s of emulator round trips)."""

from __future__ import annotations

import pytest

GLOB_EDGE_CASES = (
    "test_copy_glob_edge_cases",
    "test_get_glob_edge_cases",
    "test_put_glob_edge_cases",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    seen: set[tuple[str, str, str]] = set()
    keep, drop = [], []
    for item in items:
        name = getattr(item, "originalname", "")
        cls = item.cls.__name__ if getattr(item, "cls", None) else ""
        if name in GLOB_EDGE_CASES and cls.startswith("TestS3"):
            key = (cls, name, str(item.callspec.params["path"]))  # type: ignore[attr-defined]
            if key in seen:
                drop.append(item)
                continue
            seen.add(key)
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep

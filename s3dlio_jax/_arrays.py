"""numpy arrays over fetched memory, shared by the Grain sources."""

from __future__ import annotations

import numpy as np

import s3dlio


def array_over(view: s3dlio.BytesView) -> np.ndarray:
    """A read-only uint8 array over the view's memory (no copy)."""
    # numpy's stubs accept only concrete buffer types, not the buffer protocol.
    array: np.ndarray = np.frombuffer(view, dtype=np.uint8)  # type: ignore[call-overload]
    return array

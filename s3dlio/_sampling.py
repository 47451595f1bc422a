"""What a data loader reads and in which order, shared by the torch and JAX
adapters: URI sources, the per-epoch order, and the split across
processes (ranks/hosts). Needs numpy (both frameworks bring it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from s3dlio import _core

if TYPE_CHECKING:
    import numpy as np


def resolve(
    uris: Sequence[str] | str, options: Mapping[str, str] | None
) -> tuple[list[str], list[int] | None]:
    """The URIs to read and, when a prefix was listed, their sizes.

    A ``str`` is a prefix: it is listed once (sorted) and the listing's
    sizes are kept, so batches can be fetched into one buffer without a
    stat per object. A sequence is taken as is (sizes unknown).
    """
    if isinstance(uris, str):
        metas = _core.list_meta(uris, options=dict(options) if options else None)
        if not metas:
            raise _core.ObjectNotFoundError(f"no objects under {uris}")
        return [m.uri for m in metas], [m.size for m in metas]
    uris = list(uris)
    if not all(isinstance(u, str) for u in uris):
        raise TypeError("uris must be a prefix string or a sequence of URI strings")
    return uris, None


def epoch_order(n: int, *, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """Indices ``0..n`` in this epoch's order: a permutation that depends only
    on ``(seed, epoch)`` when shuffling (the same in every process)."""
    import numpy as np

    if not shuffle:
        return np.arange(n, dtype=np.int64)
    return np.random.default_rng([seed, epoch]).permutation(n)


def shard(order: np.ndarray, index: int, count: int, *, even: bool) -> np.ndarray:
    """Process ``index`` of ``count``'s share of ``order``: every sample goes
    to exactly one process. With ``even`` the tail that does not divide
    evenly is dropped, so every process gets the same count (what
    collective training steps need); otherwise counts may differ by one
    and nothing is repeated."""
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"invalid shard {index} of {count}")
    if even:
        order = order[: len(order) // count * count]
    return order[index::count]


class EpochProgress:
    """The epoch a loader is in and how far into it it is, with the
    ``set_epoch``/``state_dict``/``load_state_dict`` protocol the torch and
    JAX loaders share. ``_unit`` names what is counted in the state
    (samples or batches); a subclass sets ``seed``."""

    _unit = "yielded"
    seed: int

    def __init__(self) -> None:
        self.epoch = 0
        self._done = 0  # units handed out this epoch
        self._resume_from = 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch (and so the shuffle order). Starts it from the
        beginning, unless a loaded state resumes this very epoch."""
        if epoch != self.epoch:
            self._resume_from = 0
        self.epoch = epoch
        self._done = self._resume_from

    def state_dict(self) -> dict[str, Any]:
        """Where the loader stands: epoch, seed and units already handed out."""
        return {"epoch": self.epoch, "seed": self.seed, self._unit: self._done}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume: the next iteration starts after the units already handed out."""
        if state.get("seed", self.seed) != self.seed:
            raise ValueError("state was saved with a different seed")
        self.epoch = int(state["epoch"])
        self._resume_from = self._done = int(state[self._unit])

    def _begin(self) -> int:
        """Start an iteration; returns how many units to skip."""
        skip, self._resume_from = self._resume_from, 0
        self._done = skip
        return skip

    def _handed_out(self) -> None:
        self._done += 1

"""Page-locked ("pinned") host memory for batches bound for a GPU.

``get_batch(..., pinned=True)`` fills a slab of the process's default
:class:`~s3dlio.PinnedPool`: host memory registered with CUDA once per slab
(``cudaHostRegister``), so the host-to-device copy is a DMA straight from
where the objects landed, with no staging copy into a pinned buffer. CUDA
is found at run time: ``torch.cuda.cudart()`` when torch is imported, else
libcudart loaded with ctypes. Where no GPU is usable (none present, no CUDA
runtime, or a child forked after the parent used CUDA) ``default_pool()``
is None and batches land in ordinary memory: ``Batch.pinned`` says which.

Lifetime rules:

- A slab goes back to its pool when the last thing sharing the batch's
  memory is gone: the ``Batch``, its views, numpy arrays, tensors and DLPack
  capsules. The next pinned batch that fits reuses it (no new registration).
- A copy issued with ``non_blocking=True`` reads the slab after the call
  returns. Keep the host batch until that copy has completed;
  :class:`HostHold` does it with the copy's event, and the torch and JAX
  device loaders use it. Dropping the host batch earlier lets the slab be
  refilled under the copy.
- Hold on to host tensors of a pinned batch only as long as you need them:
  a slab held is a slab the pool cannot reuse, and the pool registers a new
  one instead (registration is slow: about a millisecond per 16 MiB).
- Slabs are unregistered and freed by ``PinnedPool.trim()`` and when the
  pool itself is gone; idle slabs otherwise stay registered for reuse.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from s3dlio._core import PinnedPool

CUDA_HOST_REGISTER_PORTABLE = 1  # registered for every CUDA context of the process


class Fence(Protocol):
    """What marks device work done: ``torch.cuda.Event`` has this shape."""

    def query(self) -> bool: ...
    def synchronize(self) -> None: ...


class HostHold:
    """Host batches kept alive until the device work reading them is done.

    ``hold(host, fence)`` keeps ``host`` (anything: a Batch, tensors, a
    tuple of them) until ``fence.query()`` is true. ``release()`` drops, in
    order, every host whose fence has completed (fences of one stream
    complete in order, so it stops at the first pending one); ``wait()``
    blocks on the rest and drops them all. Dropping the last reference
    returns a pinned slab to its pool.
    """

    def __init__(self) -> None:
        self._held: deque[tuple[Any, Fence]] = deque()

    def __len__(self) -> int:
        return len(self._held)

    def hold(self, host: Any, fence: Fence) -> None:
        self._held.append((host, fence))

    def release(self) -> int:
        """Drop the hosts whose work is done; returns how many."""
        n = 0
        while self._held and self._held[0][1].query():
            self._held.popleft()
            n += 1
        return n

    def wait(self) -> None:
        """Block until all held work is done, then drop every host."""
        while self._held:
            _, fence = self._held[0]
            fence.synchronize()
            self._held.popleft()


Register = Callable[[int, int], None]
Unregister = Callable[[int], None]


def _torch_cudart() -> tuple[Register, Unregister] | None:
    torch = sys.modules.get("torch")
    if torch is None:
        return None
    cuda = torch.cuda
    if cuda._is_in_bad_fork() or not cuda.is_available():
        return None
    cudart = cuda.cudart()

    def register(address: int, nbytes: int) -> None:
        rc = cudart.cudaHostRegister(address, nbytes, CUDA_HOST_REGISTER_PORTABLE)
        if int(rc) != 0:
            raise RuntimeError(f"cudaHostRegister({nbytes} bytes) failed: {rc}")

    def unregister(address: int) -> None:
        cudart.cudaHostUnregister(address)

    return register, unregister


def _cudart_candidates() -> list[str]:
    found: list[str] = []
    for entry in sys.path:
        for sub in ("nvidia/cuda_runtime/lib", "nvidia/cu13/lib", "nvidia/cu12/lib"):
            found += sorted(glob.glob(os.path.join(entry, sub, "libcudart.so*")), reverse=True)
    system = ctypes.util.find_library("cudart")
    if system:
        found.append(system)
    return [*found, "libcudart.so", "libcudart.so.13", "libcudart.so.12"]


def _ctypes_cudart() -> tuple[Register, Unregister] | None:
    for name in _cudart_candidates():
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if lib.cudaGetDeviceCount(ctypes.byref(count)) != 0 or count.value == 0:
            return None  # a runtime, but no usable device here
        lib.cudaHostRegister.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint]
        lib.cudaHostUnregister.argtypes = [ctypes.c_void_p]

        def register(address: int, nbytes: int, lib: Any = lib) -> None:
            rc = lib.cudaHostRegister(address, nbytes, CUDA_HOST_REGISTER_PORTABLE)
            if rc != 0:
                raise RuntimeError(f"cudaHostRegister({nbytes} bytes) failed: CUDA error {rc}")

        def unregister(address: int, lib: Any = lib) -> None:
            lib.cudaHostUnregister(address)

        return register, unregister
    return None


def cuda_registrar() -> tuple[Register, Unregister] | None:
    """``(register, unregister)`` for CUDA in this process, or None."""
    return _torch_cudart() or _ctypes_cudart()


_DEFAULT: dict[int, PinnedPool | None] = {}


def default_pool() -> PinnedPool | None:
    """This process's pool of CUDA-registered slabs (made on first use, again
    in a forked child), or None where no GPU is usable."""
    pid = os.getpid()
    if pid not in _DEFAULT:
        found = cuda_registrar()
        _DEFAULT[pid] = PinnedPool(*found) if found else None
    return _DEFAULT[pid]


def set_default_pool(pool: PinnedPool | None) -> None:
    """Use ``pool`` for ``pinned=True`` in this process (None: ordinary memory)."""
    _DEFAULT[os.getpid()] = pool


def resolve(pinned: object) -> PinnedPool | None:
    """The pool a ``pinned=`` argument names: a PinnedPool as given, the
    default pool for any other true value (None where no GPU is usable),
    None for None or a false value."""
    if isinstance(pinned, PinnedPool):
        return pinned
    return default_pool() if pinned else None

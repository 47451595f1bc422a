"""Finishing the operation log when a process ends.

The log's writer thread drains its queue and closes the file (a ``.zst`` one
finished) in ``stop_oplog``. A normal exit of the main process runs it
(``atexit``). A multiprocessing worker (a DataLoader worker, forked or
spawned) ends with ``os._exit``, which runs no ``atexit`` handler, so a
finalizer is registered in each worker as it starts: multiprocessing runs it
when the worker's target returns.
"""

from __future__ import annotations

import atexit
import multiprocessing.util

from s3dlio import _core


def _finish_at_worker_exit(_: object) -> None:
    multiprocessing.util.Finalize(None, _core.stop_oplog, exitpriority=0)


class _Hook:
    """An object for multiprocessing's after-fork registry (held weakly)."""


_HOOK = _Hook()
multiprocessing.util.register_after_fork(_HOOK, _finish_at_worker_exit)
atexit.register(_core.stop_oplog)

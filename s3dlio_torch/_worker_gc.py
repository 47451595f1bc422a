"""A DataLoader worker keeps the cyclic garbage collector off what it
inherited.

A forked worker starts with every object of the main process (torch
alone makes ~190k). Python's collector walks all of them in each full
collection, and a worker making samples (dicts of tensors, which the
collector tracks) runs one every few thousand samples: in a file://
WebDataset epoch over 2 workers that was 30% of the CPU, and every walk
wrote the objects' headers, copying the pages that were shared with the
main process. ``gc.freeze()`` moves the objects alive at the worker's
first batch to a generation the collector never visits (a list splice,
no walk); what the worker makes afterwards is collected as before. The
main process is left as it is.
"""

from __future__ import annotations

import gc
import os

from torch.utils.data import get_worker_info

_settled_pid: int | None = None


def settle() -> None:
    """In a DataLoader worker, once per process: ``gc.freeze()``."""
    global _settled_pid
    pid = os.getpid()
    if _settled_pid != pid and get_worker_info() is not None:
        gc.freeze()
        _settled_pid = pid

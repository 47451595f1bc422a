"""PyTorch datasets over s3dlio: map-style and iterable, on any backend.

``S3MapDataset`` fetches each DataLoader batch with one parallel call;
``S3IterableDataset`` shards across ranks and workers, shuffles per epoch
and prefetches. Items are ``torch.uint8`` tensors sharing the fetched
memory. ``collate`` hands equal-size rows of one batch buffer on as the
``[B, size]`` tensor without stacking. ``DeviceLoader`` moves batches to
the GPU from pinned memory, overlapping each copy with the previous step.
"""

from s3dlio_torch.checkpoint import launch_attempt, load_state_dict, save_state_dict
from s3dlio_torch.collate import collate
from s3dlio_torch.device_loader import DeviceLoader, to_device
from s3dlio_torch.iterable_dataset import S3IterableDataset
from s3dlio_torch.map_dataset import S3MapDataset

__all__ = [
    "DeviceLoader",
    "S3IterableDataset",
    "S3MapDataset",
    "collate",
    "launch_attempt",
    "load_state_dict",
    "save_state_dict",
    "to_device",
]

"""PyTorch datasets over s3dlio: map-style and iterable, on any backend.

``S3MapDataset`` fetches each DataLoader batch with one parallel call;
``S3IterableDataset`` shards across ranks and workers, shuffles per epoch
and prefetches. Items are ``torch.uint8`` tensors sharing the fetched
memory. ``S3WebDataset`` and ``S3TarMapDataset`` read the samples of
WebDataset tar shards, streamed shard by shard or by index;
``S3ParquetDataset`` batches of Parquet columns as tensors. ``collate``
hands equal-size rows of one batch buffer on as the
``[B, size]`` tensor without stacking. ``DeviceLoader`` moves batches to
the GPU from pinned memory, overlapping each copy with the previous step.
``io_report`` times a loader per epoch: how long the loop waited for data.
"""

from s3dlio_torch.checkpoint import launch_attempt, load_state_dict, save_state_dict
from s3dlio_torch.collate import collate, collate_samples
from s3dlio_torch.device_loader import DeviceLoader, to_device
from s3dlio_torch.epoch_io import EpochIO, IOReport, io_report
from s3dlio_torch.iterable_dataset import S3IterableDataset
from s3dlio_torch.map_dataset import S3MapDataset
from s3dlio_torch.parquet_dataset import S3ParquetDataset
from s3dlio_torch.tar_map_dataset import S3TarMapDataset
from s3dlio_torch.webdataset import S3WebDataset

__all__ = [
    "DeviceLoader",
    "EpochIO",
    "IOReport",
    "S3IterableDataset",
    "S3MapDataset",
    "S3ParquetDataset",
    "S3TarMapDataset",
    "S3WebDataset",
    "collate",
    "collate_samples",
    "io_report",
    "launch_attempt",
    "load_state_dict",
    "save_state_dict",
    "to_device",
]

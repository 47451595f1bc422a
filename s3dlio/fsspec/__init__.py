"""An fsspec filesystem over s3dlio, for pandas, pyarrow, Dask,
``torch.distributed.checkpoint`` and anything else that takes fsspec URLs.

    fs = s3dlio.fsspec.S3dlioFileSystem()     # paths are full URIs of any scheme
    s3dlio.fsspec.register("s3")             # fsspec.open("s3://...") now uses s3dlio
"""

from __future__ import annotations

from typing import cast

import fsspec

from s3dlio.fsspec._files import S3dlioReadFile, S3dlioWriteFile
from s3dlio.fsspec._filesystem import S3dlioFileSystem
from s3dlio.fsspec._paths import SCHEMES

__all__ = ["S3dlioFileSystem", "S3dlioReadFile", "S3dlioWriteFile", "register"]


def register(scheme: str) -> type[S3dlioFileSystem]:
    """Make fsspec use s3dlio for ``scheme`` (``"s3"``, ``"gs"``, ``"az"``,
    ``"file"``): ``fsspec.filesystem(scheme)``, ``fsspec.open(...)`` and
    ``storage_options`` callers (pandas, pyarrow) get an
    :class:`S3dlioFileSystem` in which a path without a scheme
    (``bucket/key``) is of this one. Replaces any implementation fsspec
    had for it; returns the class registered."""
    if scheme not in SCHEMES:
        raise ValueError(f"s3dlio cannot serve {scheme!r}:// (schemes: {', '.join(SCHEMES)})")
    cls = cast(
        type[S3dlioFileSystem],
        type(
            f"S3dlioFileSystem_{scheme}",
            (S3dlioFileSystem,),
            {"protocol": (scheme, "s3dlio"), "default_scheme": scheme},
        ),
    )
    fsspec.register_implementation(scheme, cls, clobber=True)
    return cls

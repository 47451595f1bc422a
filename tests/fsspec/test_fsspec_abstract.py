"""fsspec's own abstract test suite (``fsspec.tests.abstract``: copy, get,
put, open, pipe) over ``S3dlioFileSystem`` on file:// and s3:// (moto).

Paths are full URIs, joined with ``/``. Object stores have no empty
directories (``supports_empty_directories`` is False for s3://: a
"directory" is a prefix some object sits under, and ``mkdir`` writes
nothing); file:// has real ones, which ``mkdir`` makes and ``ls``,
``find`` and ``info`` show."""

from __future__ import annotations

import pytest
from fsspec.tests.abstract import (
    AbstractCopyTests,
    AbstractFixtures,
    AbstractGetTests,
    AbstractOpenTests,
    AbstractPipeTests,
    AbstractPutTests,
)

from s3dlio.fsspec import S3dlioFileSystem


def _join(*parts: str) -> str:
    return "/".join([parts[0].rstrip("/"), *(p.strip("/") for p in parts[1:])]) + (
        "/" if parts[-1].endswith("/") and len(parts) > 1 else ""
    )


class _Fixtures(AbstractFixtures):
    @pytest.fixture
    def fs(self):
        return S3dlioFileSystem(skip_instance_cache=True)

    @pytest.fixture
    def fs_join(self):
        return _join

    @pytest.fixture
    def supports_empty_directories(self):
        return False


class _FileFixtures(_Fixtures):
    @pytest.fixture
    def fs_path(self, file_prefix):
        return file_prefix

    @pytest.fixture
    def supports_empty_directories(self):
        return True


class _S3Fixtures(_Fixtures):
    @pytest.fixture
    def fs_path(self, s3_prefix):
        return s3_prefix


class TestFileCopy(AbstractCopyTests, _FileFixtures):
    pass


class TestFileGet(AbstractGetTests, _FileFixtures):
    pass


class TestFilePut(AbstractPutTests, _FileFixtures):
    pass


class TestFileOpen(AbstractOpenTests, _FileFixtures):
    pass


class TestFilePipe(AbstractPipeTests, _FileFixtures):
    pass


class TestS3Copy(AbstractCopyTests, _S3Fixtures):
    pass


class TestS3Get(AbstractGetTests, _S3Fixtures):
    pass


class TestS3Put(AbstractPutTests, _S3Fixtures):
    pass


class TestS3Open(AbstractOpenTests, _S3Fixtures):
    pass


class TestS3Pipe(AbstractPipeTests, _S3Fixtures):
    pass

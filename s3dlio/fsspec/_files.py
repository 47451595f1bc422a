"""The file objects ``S3dlioFileSystem.open`` returns.

Reading (``"rb"``): fsspec's buffered, seekable file over ranged gets;
``readinto`` of a block or more fetches exactly the bytes asked for and
lands them in the caller's buffer with one copy (from the fetched view),
bypassing the read-ahead cache.

Writing (``"wb"``): the object is streamed as it is written
(``s3dlio.ObjectWriter``: a multipart upload, or a temporary file beside
a local destination) and appears only when the file is closed. A
``with`` block that raises aborts it, as does a file collected unclosed:
nothing half-written becomes visible.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from fsspec.spec import AbstractBufferedFile

from s3dlio import _core

if TYPE_CHECKING:
    from typing_extensions import Buffer


class S3dlioReadFile(AbstractBufferedFile):  # type: ignore[misc]
    """An object opened for reading: buffered, seekable, ranged gets."""

    def __init__(self, fs: Any, path: str, options: Mapping[str, str] | None, **kwargs: Any):
        self._options = options
        super().__init__(fs, path, mode="rb", **kwargs)

    def _fetch_range(self, start: int, end: int) -> bytes:
        if end <= start:
            return b""
        return _core.get_range(self.path, start, end - start, options=self._options).to_bytes()

    def readinto(self, b: Buffer) -> int:
        """Read into ``b``: one ranged get straight for a block or more
        (one copy, from the fetched view into ``b``), else through the
        read-ahead cache."""
        out = memoryview(b).cast("B")
        want = min(len(out), max(self.size - self.loc, 0))
        if want <= 0:
            return 0
        if want < self.blocksize:
            data = self.read(want)
            out[: len(data)] = data
            return len(data)
        view = _core.get_range(self.path, self.loc, want, options=self._options)
        got = len(view)
        out[:got] = view.memoryview()
        self.loc += got
        return got


class S3dlioWriteFile(io.RawIOBase):
    """An object opened for writing, streamed and published on close."""

    def __init__(self, path: str, options: Mapping[str, str] | None):
        super().__init__()
        self.path = path
        self.mode = "wb"
        self._writer = _core.ObjectWriter(path, options=options)

    def writable(self) -> bool:
        return True

    def write(self, b: Buffer) -> int:
        if self.closed:
            raise ValueError(f"{self.path}: write to a closed file")
        return self._writer.write(b)

    def tell(self) -> int:
        return self._writer.written

    def close(self) -> None:
        """Publish the object (once; later calls do nothing)."""
        if self.closed:
            return
        try:
            self._writer.close()
        finally:
            super().close()

    def abort(self) -> None:
        """Discard what was written; nothing appears under the path."""
        self._writer.abort()
        super().close()

    def discard(self) -> None:
        """fsspec's name for :meth:`abort` (transactions)."""
        self.abort()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()

    def __del__(self) -> None:
        # Collected unclosed: abort, never publish a partial object.
        writer = getattr(self, "_writer", None)
        if writer is not None and not self.closed:
            writer.abort()

    def __repr__(self) -> str:
        return f"<S3dlioWriteFile {self.path!r}>"

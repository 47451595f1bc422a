"""``S3dlioFileSystem``: an ``fsspec.AbstractFileSystem`` whose paths are
full URIs of any scheme s3dlio reads (``file://``, ``direct://``,
``s3://``, ``az://``, ``gs://``), every call one of s3dlio's.

Object stores have no directories: a "directory" is a prefix that some
object sits under, ``mkdir`` writes nothing, and an empty one does not
exist. Locally (``file://``) directories are real and ``mkdir`` makes them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from fsspec.spec import AbstractFileSystem

from s3dlio import _core
from s3dlio.fsspec import _paths
from s3dlio.fsspec._files import S3dlioReadFile, S3dlioWriteFile

Info = dict[str, Any]
s3dlio_error = _core.S3dlioError


def _file_info(meta: _core.ObjectMeta) -> Info:
    return {
        "name": meta.uri,
        "size": meta.size,
        "type": "file",
        "last_modified": meta.last_modified,
        "etag": meta.etag,
    }


def _dir_info(uri: str) -> Info:
    return {"name": uri, "size": 0, "type": "directory"}


class S3dlioFileSystem(AbstractFileSystem):  # type: ignore[misc]
    """An fsspec filesystem over s3dlio: paths are full URIs of any scheme.

    ``options`` (and any other keyword, as ``storage_options`` pass them)
    are s3dlio options: the names of the environment variables, in lower
    case (``aws_endpoint_url``, ...), which win over the environment.
    """

    protocol: ClassVar[tuple[str, ...]] = ("s3dlio",)
    root_marker = ""
    #: The scheme of a path given without one (``bucket/key``): set by
    #: :func:`s3dlio.fsspec.register`; ``None`` reads it as a local path.
    default_scheme: ClassVar[str | None] = None

    def __init__(self, options: Mapping[str, str] | None = None, **storage_options: Any):
        super().__init__(**storage_options)
        merged = {k: str(v) for k, v in storage_options.items() if isinstance(v, str)}
        merged.update(options or {})
        self.options: dict[str, str] | None = merged or None

    # -- paths ---------------------------------------------------------

    @classmethod
    def _strip_protocol(cls, path: Any) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return _paths.to_uri(str(path), cls.default_scheme)

    def unstrip_protocol(self, name: str) -> str:
        return str(self._strip_protocol(name))

    @classmethod
    def _parent(cls, path: str) -> str:
        return _paths.parent(cls._strip_protocol(path))

    # -- metadata ------------------------------------------------------

    def info(self, path: str, **kwargs: Any) -> Info:
        uri = self._strip_protocol(path)
        if _paths.is_local(uri):
            if os.path.isdir(_paths.local_path(uri)):
                return _dir_info(uri)
        elif _paths.is_root(uri):
            _core.list_dir(_paths.prefix_of(uri), options=self.options)  # the bucket exists
            return _dir_info(uri)
        try:
            return _file_info(_core.stat(uri, options=self.options))
        except FileNotFoundError:
            pass
        if not _paths.is_local(uri) and self._has_children(uri):
            return _dir_info(uri)
        raise FileNotFoundError(f"no such object or prefix: {uri}")

    def _has_children(self, uri: str) -> bool:
        try:
            objects, prefixes = _core.list_dir(_paths.prefix_of(uri), options=self.options)
        except FileNotFoundError:
            return False
        return bool(objects or prefixes)

    def exists(self, path: str, **kwargs: Any) -> bool:
        """False only for "not found"; other errors raise."""
        try:
            self.info(path)
        except FileNotFoundError:
            return False
        return True

    def modified(self, path: str) -> Any:
        info = self.info(path)
        if info["type"] != "file" or info.get("last_modified") is None:
            raise FileNotFoundError(f"no modification time for {info['name']}")
        return info["last_modified"]

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        uri = self._strip_protocol(path)
        objects, prefixes = _core.list_dir(_paths.prefix_of(uri), options=self.options)
        if not objects and not prefixes:  # a file, an empty directory, or nothing
            info = self.info(uri)
            listed = [info] if info["type"] == "file" else []
            return listed if detail else [e["name"] for e in listed]
        entries = {p: _dir_info(p) for p in prefixes}
        entries.update((m.uri, _file_info(m)) for m in objects)
        listed = [entries[k] for k in sorted(entries)]
        return listed if detail else [e["name"] for e in listed]

    def find(
        self,
        path: str,
        maxdepth: int | None = None,
        withdirs: bool = False,
        detail: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Every object under ``path`` from one recursive listing (and
        the prefixes between, with ``withdirs``)."""
        if maxdepth is not None and maxdepth < 1:
            raise ValueError("maxdepth must be at least 1")
        uri = self._strip_protocol(path)
        found: dict[str, Info] = {}
        try:
            info = self.info(uri)
        except FileNotFoundError:
            info = None
        if info is not None and info["type"] == "file":
            found[uri] = info
        elif info is not None:
            if withdirs:
                found[uri] = info
            prefix = _paths.prefix_of(uri)
            for meta in _core.list_meta(prefix, recursive=True, options=self.options):
                parts = meta.uri[len(prefix) :].split("/")
                if maxdepth is not None and len(parts) > maxdepth:
                    if withdirs:
                        self._add_dirs(found, prefix, parts[:maxdepth])
                    continue
                found[meta.uri] = _file_info(meta)
                if withdirs:
                    self._add_dirs(found, prefix, parts[:-1])
            if withdirs and _paths.is_local(uri):
                self._add_local_dirs(found, uri, maxdepth)
        names = sorted(found)
        return {n: found[n] for n in names} if detail else names

    @staticmethod
    def _add_dirs(found: dict[str, Info], prefix: str, parts: Sequence[str]) -> None:
        for i in range(1, len(parts) + 1):
            d = prefix + "/".join(parts[:i])
            found.setdefault(d, _dir_info(d))

    @staticmethod
    def _add_local_dirs(found: dict[str, Info], uri: str, maxdepth: int | None) -> None:
        root = _paths.local_path(uri)
        scheme = _paths.split(uri)[0]
        for here, dirs, _ in os.walk(root):
            depth = 0 if here == root else os.path.relpath(here, root).count(os.sep) + 1
            if maxdepth is not None and depth >= maxdepth:
                dirs.clear()
                continue
            for d in dirs:
                name = f"{scheme}://{os.path.join(here, d)}"
                found.setdefault(name, _dir_info(name))

    # -- reading -------------------------------------------------------

    def cat_file(
        self, path: str, start: int | None = None, end: int | None = None, **kwargs: Any
    ) -> bytes:
        uri = self._strip_protocol(path)
        if start is None and end is None:
            return _core.get(uri, options=self.options).to_bytes()
        offset, length = self._range(uri, start, end)
        if length == 0:
            return b""
        return _core.get_range(uri, offset, length, options=self.options).to_bytes()

    def _range(self, uri: str, start: int | None, end: int | None) -> tuple[int, int | None]:
        """``(offset, length)`` of ``[start:end]``, as Python slices them."""
        if (start is not None and start < 0) or (end is not None and end < 0):
            size = self.info(uri)["size"]
            start, end, _ = slice(start, end).indices(size)
        offset = start or 0
        if end is None:
            return offset, None
        return offset, max(end - offset, 0)

    def cat_ranges(
        self,
        paths: list[str],
        starts: int | list[int] | None,
        ends: int | list[int] | None,
        max_gap: int | None = None,
        on_error: str = "return",
        **kwargs: Any,
    ) -> list[Any]:
        """Every range in one parallel ``get_ranges`` call."""
        n = len(paths)
        starts_ = starts if isinstance(starts, list) else [starts] * n
        ends_ = ends if isinstance(ends, list) else [ends] * n
        if len(starts_) != n or len(ends_) != n:
            raise ValueError("paths, starts and ends must be of the same length")
        uris = [self._strip_protocol(p) for p in paths]
        requests = [
            (u, *self._range(u, s, e)) for u, s, e in zip(uris, starts_, ends_, strict=True)
        ]
        try:
            views = _core.get_ranges(requests, options=self.options)
        except Exception:
            if on_error != "return":
                raise
            return [self._one_range(u, o, length) for u, o, length in requests]
        return [v.to_bytes() for v in views]

    def _one_range(self, uri: str, offset: int, length: int | None) -> Any:
        try:
            return _core.get_range(uri, offset, length, options=self.options).to_bytes()
        except Exception as e:
            return e

    def _open(
        self,
        path: str,
        mode: str = "rb",
        block_size: Any = None,
        autocommit: bool = True,
        cache_options: Any = None,
        **kwargs: Any,
    ) -> Any:
        uri = self._strip_protocol(path)
        if mode == "rb":
            return S3dlioReadFile(
                self,
                uri,
                self.options,
                block_size=block_size or "default",
                cache_options=cache_options,
                **kwargs,
            )
        if mode == "xb":
            # Checked, not atomic: another writer may create it meanwhile.
            if self.exists(uri):
                raise FileExistsError(f"{uri} exists (mode 'xb')")
            mode = "wb"
        if mode == "wb":
            return S3dlioWriteFile(uri, self.options)
        raise ValueError(f"{uri}: mode {mode!r} is not supported (only 'rb', 'wb', 'xb')")

    def get_file(self, rpath: str, lpath: Any, callback: Any = None, **kwargs: Any) -> None:
        """Save an object as a local file, streamed (never whole in memory);
        the file appears whole or not at all."""
        uri = self._strip_protocol(rpath)
        if not isinstance(lpath, str | os.PathLike):  # a file-like object
            lpath.write(self.cat_file(uri))
            return
        dest = _paths.to_uri(os.fspath(lpath), None)
        try:
            _core.get_to_file(uri, dest, options=self.options)
        except (FileNotFoundError, IsADirectoryError, s3dlio_error):
            if not self.isdir(uri):
                raise
            os.makedirs(lpath, exist_ok=True)  # a directory, as a local one

    # -- writing -------------------------------------------------------

    def pipe_file(self, path: str, value: Any, mode: str = "overwrite", **kwargs: Any) -> None:
        uri = self._strip_protocol(path)
        if mode == "create" and self.exists(uri):
            raise FileExistsError(uri)
        _core.put(uri, value, options=self.options)

    def put_file(self, lpath: Any, rpath: str, callback: Any = None, **kwargs: Any) -> None:
        """Store a local file as an object, streamed (a large one as a
        multipart upload whose parts are read as they are sent)."""
        uri = self._strip_protocol(rpath)
        if os.path.isdir(lpath):
            self.makedirs(uri, exist_ok=True)
            return
        _core.put_from_file(_paths.to_uri(os.fspath(lpath), None), uri, options=self.options)

    def cp_file(self, path1: str, path2: str, **kwargs: Any) -> None:
        src, dst = self._strip_protocol(path1), self._strip_protocol(path2)
        try:
            data = _core.get(src, options=self.options)
        except (FileNotFoundError, IsADirectoryError, s3dlio_error):
            if not self.isdir(src):
                raise
            self.makedirs(dst, exist_ok=True)  # a directory: made locally, else nothing
            return
        _core.put(dst, data, options=self.options)

    def mkdir(self, path: str, create_parents: bool = True, **kwargs: Any) -> None:
        """Locally, make the directory; object stores have none (no-op)."""
        uri = self._strip_protocol(path)
        if _paths.is_local(uri):
            if create_parents:
                os.makedirs(_paths.local_path(uri), exist_ok=True)
            else:
                os.mkdir(_paths.local_path(uri))

    def makedirs(self, path: str, exist_ok: bool = False) -> None:
        """Locally, make the directory and its parents; else a no-op."""
        uri = self._strip_protocol(path)
        if _paths.is_local(uri):
            os.makedirs(_paths.local_path(uri), exist_ok=exist_ok)

    def rm_file(self, path: str) -> None:
        _core.delete(self._strip_protocol(path), options=self.options)

    def rm(self, path: Any, recursive: bool = False, maxdepth: int | None = None) -> None:
        """Delete objects (and, with ``recursive``, all under a prefix)."""
        for uri in reversed(self.expand_path(path, recursive=recursive, maxdepth=maxdepth)):
            if _paths.is_local(uri):
                local = _paths.local_path(uri)
                if os.path.isdir(local):
                    shutil.rmtree(local)
                elif os.path.lexists(local):
                    _core.delete(uri, options=self.options)
                continue  # else inside a folder already removed
            with contextlib.suppress(FileNotFoundError):  # a prefix, gone with its objects
                _core.delete(uri, options=self.options)
        self.invalidate_cache()

"""Paths of ``S3dlioFileSystem``: full URIs of any scheme, as s3dlio takes
them. A path without a scheme is read in the filesystem's default scheme
(``bucket/key`` once registered for ``s3``), or as a local path."""

from __future__ import annotations

import os

SCHEMES = ("file", "direct", "s3", "az", "gs")


def to_uri(path: str, default_scheme: str | None) -> str:
    """``path`` as a full URI without a trailing slash (a bucket's root
    keeps none either: ``s3://bucket``)."""
    path = os.fspath(path)
    path = path.removeprefix("s3dlio://")
    if "://" in path:
        scheme, rest = path.split("://", 1)
        if scheme in ("file", "direct"):
            rest = "/" + rest.lstrip("/")
            return f"{scheme}://{rest.rstrip('/') or '/'}"
        return f"{scheme}://{rest.rstrip('/')}"
    if default_scheme in (None, "file", "direct"):
        scheme = default_scheme or "file"
        absolute = os.path.abspath(os.path.expanduser(path))
        return f"{scheme}://{absolute.rstrip('/') or '/'}"
    return f"{default_scheme}://{path.strip('/')}"


def split(uri: str) -> tuple[str, str]:
    """``(scheme, rest)`` of a full URI."""
    scheme, rest = uri.split("://", 1)
    return scheme, rest


def is_local(uri: str) -> bool:
    """Whether ``uri`` is a local file (``file://`` or ``direct://``)."""
    return split(uri)[0] in ("file", "direct")


def local_path(uri: str) -> str:
    """The filesystem path of a local URI."""
    return split(uri)[1]


def is_root(uri: str) -> bool:
    """Whether ``uri`` is a bucket or container (or ``/`` locally)."""
    scheme, rest = split(uri)
    if scheme in ("file", "direct"):
        return rest == "/"
    return "/" not in rest


def parent(uri: str) -> str:
    """The URI one level up; a root is its own parent."""
    if is_root(uri):
        return uri
    scheme, rest = split(uri)
    up = rest.rsplit("/", 1)[0]
    return f"{scheme}://{up or '/'}"


def prefix_of(uri: str) -> str:
    """``uri`` as a listing prefix: objects *under* it, not beside it."""
    return uri if uri.endswith("/") else uri + "/"

"""WebDataset's conventions, shared by the torch and JAX adapters: which
shards a pattern names, and how the members of a shard form samples.

- ``expand("s3://b/train-{000000..000063}.tar")``: the shards of a
  brace pattern (``{a,b}`` alternatives, ``{0..9}`` / ``{a..z}`` ranges
  with an optional step, zero-padded when a bound is; nested), as
  WebDataset's ``braceexpand`` gives them.
- A member's key is its path up to the first dot of its base name and its
  field the rest, lowercased (``a/b.seg.PNG`` -> ``a/b``, ``seg.png``);
  consecutive members of one key form one sample. As in WebDataset, a
  member whose base name has no dot (or only a leading one) belongs to no
  sample, nor does ``__meta__``-style metadata (a top-level ``__x__``, or a
  path starting with a ``__x__/`` folder); two members with the same key
  and field in one sample are an error.
"""

from __future__ import annotations

import itertools
import os
import re
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from s3dlio import _core

T = TypeVar("T")

# WebDataset 1.0's own rules (webdataset/tariterators.py), so that the same
# shard gives the same samples here and there.
_KEY_FIELD = re.compile(r"^((?:.*/|)[^.]+)[.]([^/]*)$")
_META = re.compile(r"__[^/]*__($|/)")


def whole_shard_options(options: Mapping[str, str] | None) -> Mapping[str, str] | None:
    """The options of a whole-shard read, as ``read_tar`` takes them: a
    ``file://`` shard is mapped, not read, unless ``options`` or the
    environment (``S3DLIO_FILE_MMAP``) say whether to map it."""
    told = {k.lower() for k in options or {}} & {"file_mmap", "s3dlio_file_mmap"}
    if told or "S3DLIO_FILE_MMAP" in os.environ:
        return options
    return {**(options or {}), "file_mmap": "true"}


def key_field(name: str) -> tuple[str, str] | None:
    """``(key, field)`` of a member name, or None when it is in no sample."""
    if "/" not in name and name.startswith("__") and name.endswith("__"):
        return None
    if _META.match(name):
        return None
    match = _KEY_FIELD.match(name)
    if match is None:
        return None
    return match.group(1), match.group(2).lower()


def group(members: Iterable[tuple[str, T]], url: str) -> Iterator[tuple[str, list[tuple[str, T]]]]:
    """The samples of one shard's members, in order: ``(key, [(field,
    payload), ...])`` for each run of consecutive members with one key.
    Raises ValueError naming ``url`` for a field given twice in a sample."""
    key: str | None = None
    fields: list[tuple[str, T]] = []
    seen: set[str] = set()
    for name, payload in members:
        split = key_field(name)
        if split is None:
            continue
        k, field = split
        if k != key:
            if key is not None:
                yield key, fields
            key, fields, seen = k, [], set()
        if field in seen:
            raise ValueError(f"{url}: member {name!r} repeats field {field!r} of sample {k!r}")
        seen.add(field)
        fields.append((field, payload))
    if key is not None:
        yield key, fields


def shards_of(
    shards: Sequence[str] | str, options: Mapping[str, str] | None, suffix: str = ".tar"
) -> list[str]:
    """The shard URIs: a list as it is, a brace pattern expanded, or a
    prefix ending in ``/`` listed for its objects ending in ``suffix`` (sorted)."""
    if isinstance(shards, str):
        if shards.endswith("/"):
            found = [
                u
                for u in _core.list(shards, options=dict(options) if options else None)
                if u.endswith(suffix)
            ]
            if not found:
                raise _core.ObjectNotFoundError(f"no {suffix} objects under {shards}")
            return found
        return expand(shards)
    out = list(shards)
    if not all(isinstance(u, str) for u in out):
        raise TypeError("shards must be a URI pattern or a sequence of URI strings")
    return out


_LETTERS = string.ascii_uppercase + string.ascii_lowercase  # as braceexpand orders them
_RANGE = re.compile(r"^(-?\d+|[A-Za-z])\.\.(-?\d+|[A-Za-z])(?:\.\.-?(\d+))?$")


def expand(pattern: str) -> list[str]:
    """Every string a brace pattern names, in order (see the module's docstring)."""
    return _expand(pattern, pattern)


def _expand(pattern: str, whole: str) -> list[str]:
    start = pattern.find("{")
    if start < 0:
        if "}" in pattern:
            raise ValueError(f"unbalanced braces in {whole!r}")
        return [pattern]
    depth, end, commas = 0, -1, []
    for i in range(start, len(pattern)):
        c = pattern[i]
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                end = i
                break
        elif c == "," and depth == 1:
            commas.append(i)
    if end < 0:
        raise ValueError(f"unbalanced braces in {whole!r}")
    head, body, tail = pattern[:start], pattern[start + 1 : end], pattern[end + 1 :]
    if "}" in head:
        raise ValueError(f"unbalanced braces in {whole!r}")
    if commas:
        cuts = [start, *commas, end]
        choices = [
            alt for a, b in itertools.pairwise(cuts) for alt in _expand(pattern[a + 1 : b], whole)
        ]
    else:
        match = _RANGE.match(body)
        if match is None:  # not a sequence: the braces stay, as in bash
            return [
                head + "{" + b + "}" + t for b in _expand(body, whole) for t in _expand(tail, whole)
            ]
        choices = _range(*match.groups())
    rest = _expand(tail, whole)
    return [head + c + t for c in choices for t in rest]


def _range(first: str, last: str, step: str | None) -> list[str]:
    by = (int(step) or 1) if step else 1
    if first.isalpha() != last.isalpha():
        raise ValueError(f"a range mixes letters and numbers: {first}..{last}")
    if first.isalpha():
        a, b = _LETTERS.index(first), _LETTERS.index(last)
        picked = range(a, b + 1, by) if a <= b else range(a, b - 1, -by)
        return [_LETTERS[i] for i in picked]
    a, b = int(first), int(last)
    padded = any(s.startswith(("0", "-0")) for s in (first, last) if s not in ("0", "-0"))
    width = max(len(first), len(last)) if padded else 0
    values = range(a, b + 1, by) if a <= b else range(a, b - 1, -by)
    return [f"{v:0{width}d}" for v in values]

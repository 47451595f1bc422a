"""The plain-HTTP GET client against two real servers: moto and nginx
(static files, a Content-Length on every response, keep-alive, ranges;
see nginx_server.py). The same checks pass on both, so the client is not
tuned to one server's habits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import nginx_server
import numpy as np
import pytest

import s3dlio

MiB = 1 << 20
SIZES = [0, 1, 4097, MiB + 3, 9 * MiB + 1]
Seed = Callable[[str, bytes], None]


@pytest.fixture(scope="module")
def nginx(tmp_path_factory) -> Iterator[tuple[str, Path, Path]]:
    """nginx over a folder holding bucket ``bkt``: (endpoint, root, workdir)."""
    root = tmp_path_factory.mktemp("nginx-root")
    (root / "bkt").mkdir()
    workdir = tmp_path_factory.mktemp("nginx")
    with nginx_server.serving(root, workdir) as endpoint:
        yield endpoint, root, workdir


@pytest.fixture(params=["moto", "nginx"])
def server(request) -> tuple[str, dict[str, str] | None, Seed]:
    """A prefix on one of the servers, the options that reach it, and a
    function that puts an object there."""
    if request.param == "moto":
        prefix = request.getfixturevalue("s3_prefix")
        return prefix, None, lambda uri, data: s3dlio.put(uri, data)
    endpoint, root, _ = request.getfixturevalue("nginx")
    name = request.node.name.replace("[", "-").replace("]", "")

    def seed(uri: str, data: bytes) -> None:
        path = root / uri.removeprefix("s3://")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return f"s3://bkt/{name}", {"aws_endpoint_url": endpoint}, seed


def _body_bytes() -> tuple[int, int]:
    stats = s3dlio.buffer_stats()
    return stats["body_bytes"], stats["body_bytes_in_place"]


def test_bodies_arrive_whole_and_in_place(server):
    prefix, options, seed = server
    uris = [f"{prefix}/size-{n}.bin" for n in SIZES]
    data = [np.random.default_rng(n).bytes(n) for n in SIZES]
    for uri, payload in zip(uris, data, strict=True):
        seed(uri, payload)

    before = _body_bytes()
    singles = [s3dlio.get(uri, options=options) for uri in uris]
    many = s3dlio.get_many(uris, options=options)
    batch = s3dlio.get_batch(uris, sizes=SIZES, options=options)
    taken, in_place = (now - then for now, then in zip(_body_bytes(), before, strict=True))
    assert [bytes(v) for v in singles] == data
    assert [bytes(v) for _, v in many] == data
    assert [bytes(batch[i]) for i in range(len(batch))] == data
    assert taken == 3 * sum(SIZES)
    assert in_place == taken  # every body received straight into its buffer


def test_ranges(server):
    prefix, options, seed = server
    uri = f"{prefix}/ranged.bin"
    data = np.random.default_rng(7).bytes(10_000)
    seed(uri, data)
    assert bytes(s3dlio.get_range(uri, 100, 50, options=options)) == data[100:150]
    assert bytes(s3dlio.get_range(uri, 9_990, options=options)) == data[9_990:]
    assert bytes(s3dlio.get_range(uri, 9_990, 100, options=options)) == data[9_990:]
    assert bytes(s3dlio.get_range(uri, 0, 10_000, options=options)) == data
    with pytest.raises(ValueError, match=r"ranged\.bin"):
        s3dlio.get_range(uri, 10_001, 5, options=options)


def test_a_missing_object_is_named(server):
    prefix, options, seed = server
    seed(f"{prefix}/present.bin", b"here")
    missing = f"{prefix}/absent.bin"
    with pytest.raises(s3dlio.ObjectNotFoundError, match=r"absent\.bin"):
        s3dlio.get(missing, options=options)
    with pytest.raises(s3dlio.ObjectNotFoundError, match=r"absent\.bin"):
        s3dlio.get_many([f"{prefix}/present.bin", missing], options=options)


def test_connections_are_reused_on_a_keep_alive_server(nginx):
    endpoint, root, workdir = nginx
    (root / "bkt" / "small").mkdir(parents=True, exist_ok=True)
    uris = []
    for i in range(300):
        (root / "bkt" / "small" / f"{i:03d}").write_bytes(i.to_bytes(2, "little") * 2048)
        uris.append(f"s3://bkt/small/{i:03d}")
    options = {"aws_endpoint_url": endpoint}
    before = nginx_server.requests_per_connection(workdir)
    got = s3dlio.get_many(uris, max_in_flight=16, options=options)
    assert [bytes(v)[:2] for _, v in got] == [i.to_bytes(2, "little") for i in range(300)]
    after = nginx_server.requests_per_connection(workdir)
    new = {c: n - before.get(c, 0) for c, n in after.items() if n > before.get(c, 0)}
    assert sum(new.values()) >= 300
    assert len(new) <= 2 * 16, f"{len(new)} connections for 300 requests, 16 in flight"

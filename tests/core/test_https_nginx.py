"""HTTPS GETs against nginx with a self-signed certificate made at start:
the client trusts it only when told to (``S3DLIO_CA_BUNDLE``, or the AWS
name ``AWS_CA_BUNDLE``), and then reads whole objects, ranges, large
objects in parts and batches exactly as over plain HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nginx_server
import numpy as np
import pytest

import s3dlio

MiB = 1 << 20
SIZES = [0, 1, 4097, MiB + 3, 9 * MiB + 1]


@pytest.fixture(scope="module")
def https(tmp_path_factory) -> Iterator[tuple[str, Path, Path]]:
    """nginx over HTTPS with bucket ``bkt``: (endpoint, root, certificate)."""
    root = tmp_path_factory.mktemp("nginx-tls-root")
    workdir = tmp_path_factory.mktemp("nginx-tls")
    objects = root / "bkt" / "tls"
    objects.mkdir(parents=True)
    for n in SIZES:
        (objects / f"size-{n}.bin").write_bytes(np.random.default_rng(n).bytes(n))
    with nginx_server.serving(root, workdir, tls=True) as endpoint:
        yield endpoint, objects, nginx_server.certificate(workdir)


def test_an_endpoint_with_a_trusted_certificate_serves_every_read(https):
    endpoint, objects, cert = https
    assert endpoint.startswith("https://127.0.0.1:")
    options = {"aws_endpoint_url": endpoint, "s3dlio_ca_bundle": str(cert)}
    uris = [f"s3://bkt/tls/size-{n}.bin" for n in SIZES]
    data = [(objects / f"size-{n}.bin").read_bytes() for n in SIZES]
    assert [bytes(s3dlio.get(u, options=options)) for u in uris] == data
    assert [bytes(v) for _, v in s3dlio.get_many(uris, options=options)] == data
    batch = s3dlio.get_batch(uris, sizes=SIZES, options=options)
    assert [bytes(batch[i]) for i in range(len(batch))] == data
    big = uris[-1]
    assert bytes(s3dlio.get_range(big, MiB, 100, options=options)) == data[-1][MiB : MiB + 100]


def test_the_aws_name_of_the_bundle_is_read_too(https):
    endpoint, objects, cert = https
    options = {"aws_endpoint_url": endpoint, "aws_ca_bundle": str(cert)}
    got = s3dlio.get("s3://bkt/tls/size-4097.bin", options=options)
    assert bytes(got) == (objects / "size-4097.bin").read_bytes()


def test_an_untrusted_certificate_is_refused_naming_the_uri(https):
    endpoint, _, _ = https
    options = {"aws_endpoint_url": endpoint, "s3dlio_max_retries": "0"}
    with pytest.raises(s3dlio.S3dlioError, match=r"s3://bkt/tls/size-1\.bin"):
        s3dlio.get("s3://bkt/tls/size-1.bin", options=options)


def test_a_bundle_that_is_no_certificate_is_refused_by_name(https, tmp_path):
    endpoint, _, _ = https
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    for path, why in ((junk, "no PEM certificate"), (tmp_path / "absent.pem", "cannot read")):
        options = {"aws_endpoint_url": endpoint, "s3dlio_ca_bundle": str(path)}
        with pytest.raises(ValueError, match=rf"S3DLIO_CA_BUNDLE={path}: {why}"):
            s3dlio.get("s3://bkt/tls/size-1.bin", options=options)

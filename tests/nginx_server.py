"""nginx on 127.0.0.1 serving a folder as an S3-style endpoint: path-style
``GET /bucket/key`` maps to ``root/bucket/key``. It answers GET, HEAD and
ranges from static files (a ``Content-Length``, never chunked), keeps
connections alive, and ignores request signatures: a real HTTP server that
is not moto, so the plain-HTTP GET client is not tuned to one server.

With ``tls=True`` it serves HTTPS instead, with a self-signed certificate
for 127.0.0.1 made at start (``certificate(workdir)``: the PEM file a
client is told to trust).

Each request is logged with its connection's serial number and request
count, so a test can tell whether connections were reused, and with the
bytes of body nginx sent, so a benchmark can tell how much was read.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from processes import stop

CONFIG = """
{user}
daemon off;
master_process on;
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    log_format requests '$connection $connection_requests $status $body_bytes_sent $request';
    access_log {access_log};
    client_body_temp_path {dir}/tmp;
    proxy_temp_path {dir}/tmp;
    fastcgi_temp_path {dir}/tmp;
    uwsgi_temp_path {dir}/tmp;
    scgi_temp_path {dir}/tmp;
    sendfile on;
    keepalive_timeout 60s;
    keepalive_requests 100000;
    default_type application/octet-stream;{http_extra}
    server {{
        listen 127.0.0.1:{port}{ssl};
        root {root};{certificate}{server_extra}
    }}
}}
"""


def executable() -> str | None:
    return shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


TLS = """
        ssl_certificate {dir}/cert.pem;
        ssl_certificate_key {dir}/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:tls:1m;"""


def certificate(workdir: Path) -> Path:
    """The certificate to trust for an HTTPS server run in ``workdir``: the
    self-signed authority that signed the server's certificate."""
    return workdir / "ca.pem"


def _make_certificate(workdir: Path) -> None:
    """A throwaway authority and, signed by it, a certificate for 127.0.0.1
    (TLS clients refuse an authority's certificate used as a server's)."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=workdir)

    openssl(
        *("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
        *("-keyout", "ca-key.pem", "-out", "ca.pem", "-subj", "/CN=s3dlio test authority"),
    )
    openssl(
        *("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "key.pem", "-out", "cert.csr"),
        *("-subj", "/CN=127.0.0.1"),
    )
    (workdir / "cert.ext").write_text(
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
    )
    openssl(
        *("x509", "-req", "-in", "cert.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem"),
        *("-CAcreateserial", "-days", "1", "-out", "cert.pem", "-extfile", "cert.ext"),
    )


def config_text(
    root: Path,
    workdir: Path,
    port: int,
    *,
    tls: bool = False,
    log_requests: bool = True,
    http_extra: str = "",
    server_extra: str = "",
) -> str:
    """nginx.conf for ``serving``: ``http_extra`` and ``server_extra`` are
    lines added to its ``http`` and ``server`` blocks (a rate limit, say)."""
    # As root, nginx's workers would run as nobody, who cannot read the
    # test's private temporary folders.
    user = "user root;" if os.geteuid() == 0 else ""
    return CONFIG.format(
        user=user,
        dir=workdir,
        port=port,
        root=root,
        ssl=" ssl" if tls else "",
        access_log=f"{workdir}/access.log requests" if log_requests else "off",
        certificate=TLS.format(dir=workdir) if tls else "",
        http_extra=http_extra,
        server_extra=server_extra,
    )


@contextmanager
def serving(
    root: Path,
    workdir: Path,
    timeout_s: float = 20.0,
    tls: bool = False,
    log_requests: bool = True,
    port: int | None = None,
    http_extra: str = "",
    server_extra: str = "",
) -> Iterator[str]:
    """Run nginx over ``root`` until the block ends; yields its endpoint
    (``https://`` with ``tls``, trusting ``certificate(workdir)``). Without
    ``log_requests`` (benchmarks) nothing is written per request. ``port``:
    listen there (an endpoint brought back where it was) instead of on a
    free port. ``http_extra``, ``server_extra``: see ``config_text``."""
    nginx = executable()
    if nginx is None:
        raise RuntimeError("nginx is not installed (scripts/setup.sh installs nginx-light)")
    port = port or _free_port()
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    if tls:
        _make_certificate(workdir)
    extra = {"http_extra": http_extra, "server_extra": server_extra}
    text = config_text(root, workdir, port, tls=tls, log_requests=log_requests, **extra)
    conf = workdir / "nginx.conf"
    conf.write_text(text)
    proc = subprocess.Popen(
        [nginx, "-c", str(conf), "-p", str(workdir)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            if proc.poll() is not None:
                log = (workdir / "error.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"nginx exited with status {proc.returncode}:\n{log}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not listen on port {port}") from None
                time.sleep(0.05)
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        stop(proc)


def requests_per_connection(workdir: Path) -> dict[int, int]:
    """How many requests each connection served, from the access log."""
    counts: dict[int, int] = {}
    for line in (workdir / "access.log").read_text().splitlines():
        connection, served = line.split()[:2]
        counts[int(connection)] = max(counts.get(int(connection), 0), int(served))
    return counts


def body_bytes_sent(workdir: Path) -> tuple[int, int]:
    """Requests logged and the response body bytes nginx sent for them."""
    lines = (workdir / "access.log").read_text().splitlines()
    return len(lines), sum(int(line.split()[3]) for line in lines)

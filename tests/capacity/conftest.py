"""A target with a known limit of our own making: nginx's limit_req.

Debian's nginx-light (installed by the test set-up when missing), started on a free
loopback port for the module, answers every POST with a fixed OPSCOM-like plate
validation (``{"error":0,...}``) and, above ``LIMIT_RPS`` requests/s (with a burst of
``BURST``), 503: the harness's outcome ``http_503``, a load error.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.debian import ensure_package

LIMIT_RPS = 100
BURST = 20
ANSWER = '{"error":0,"message":"","data":{"plate":"ABC123","response":"","responseJSON":{}}}'

# user root: the workers must read the answer under pytest's private temporary
# directory (mode 0700); a master not running as root ignores the directive.
CONF = """\
user root;
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {d}/body;
  proxy_temp_path {d}/proxy;
  fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi;
  scgi_temp_path {d}/scgi;
  limit_req_zone $server_name zone=capacity:1m rate={limit}r/s;
  server {{
    listen 127.0.0.1:{port};
    server_name capacity;
    keepalive_requests 1000000;
    location / {{
      limit_req zone=capacity burst={burst} nodelay;
      limit_req_status 503;
      root {d}/www;
      # Static files refuse POST (405); answering it with the file is the usual trick.
      # The redirect is a GET of /answer.json, after limit_req has judged the request.
      try_files /answer.json =404;
      error_page 405 =200 /answer.json;
    }}
    location = /answer.json {{ internal; root {d}/www; default_type application/json; }}
  }}
}}
"""


@dataclass
class Nginx:
    url: str
    limit_rps: int
    burst: int


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nginx did not listen on 127.0.0.1:{port} within {timeout}s")


@pytest.fixture(scope="module")
def limited_nginx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nginx]:
    try:
        binary = ensure_package("nginx", "nginx-light")
    except RuntimeError as exc:
        pytest.fail(str(exc))
    d: Path = tmp_path_factory.mktemp("nginx")
    (d / "www").mkdir()
    (d / "www" / "answer.json").write_text(ANSWER)
    for attempt in range(3):
        port = _free_port()
        (d / "nginx.conf").write_text(CONF.format(d=d, port=port, limit=LIMIT_RPS, burst=BURST))
        proc = subprocess.Popen([binary, "-p", str(d), "-c", str(d / "nginx.conf"), "-e", str(d / "error.log")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait_listening(port, proc)
            break
        except RuntimeError:
            proc.kill()
            proc.wait()
            if attempt == 2:
                raise
    try:
        yield Nginx(url=f"http://127.0.0.1:{port}", limit_rps=LIMIT_RPS, burst=BURST)
    finally:
        proc.terminate()
        proc.wait(timeout=10)

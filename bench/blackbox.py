"""Debian's ``prometheus-blackbox-exporter`` as the benchmark's reference: install, configure, run, meter.

``ensure_installed`` installs the package with apt when it is missing and we are root; otherwise it
says why the blackbox column is skipped. ``Blackbox`` writes a config with one module per probe
kind (DNS over UDP, TCP connect, HTTP 2xx, HTTPS trusting the lab CA), starts the exporter on a
free 127.0.0.1 port and reads its CPU time from ``/proc/<pid>/stat`` (every thread, so the
``/probe`` request handling and metric rendering — "its scrape" — are included).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

import requests

BINARY = "prometheus-blackbox-exporter"
PACKAGE = "prometheus-blackbox-exporter"
MODULES = {"dns": "nw_dns", "tcp": "nw_tcp", "http": "nw_http", "https": "nw_https"}


def ensure_installed() -> tuple[str | None, str]:
    """The exporter's path, or None and the reason it is unavailable."""
    path = shutil.which(BINARY) or (f"/usr/bin/{BINARY}" if os.path.exists(f"/usr/bin/{BINARY}") else None)
    if path is not None:
        return path, ""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return None, f"{BINARY} is not installed and we are not root with apt-get: blackbox column skipped"
    print(f"installing {PACKAGE} with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", PACKAGE],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    path = shutil.which(BINARY)
    if result.returncode != 0 or path is None:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["?"]
        return None, f"apt-get install {PACKAGE} failed ({tail[0]}): blackbox column skipped"
    return path, ""


def config_text(ca_file: str, query_name: str) -> str:
    """Modules equivalent to the netwatch targets: IPv4, 10 s timeout, lab CA for HTTPS."""
    return f"""\
modules:
  {MODULES["dns"]}:
    prober: dns
    timeout: 10s
    dns:
      transport_protocol: udp
      preferred_ip_protocol: ip4
      query_name: "{query_name}"
      query_type: A
      valid_rcodes: [NOERROR]
  {MODULES["tcp"]}:
    prober: tcp
    timeout: 10s
    tcp:
      preferred_ip_protocol: ip4
  {MODULES["http"]}:
    prober: http
    timeout: 10s
    http:
      preferred_ip_protocol: ip4
      method: GET
  {MODULES["https"]}:
    prober: http
    timeout: 10s
    http:
      preferred_ip_protocol: ip4
      method: GET
      fail_if_not_ssl: true
      tls_config:
        ca_file: "{ca_file}"
"""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of every thread of ``pid`` so far (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rpartition(")")[2].split()
    # After the ")" that ends comm: fields[0] is state (field 3), so utime (14) is [11], stime (15) [12].
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Blackbox:
    """A running exporter on 127.0.0.1; ``probe_url(kind, target)`` builds its ``/probe`` URL."""

    def __init__(self, binary: str, workdir: Path, ca_file: str, query_name: str) -> None:
        self.config = workdir / "blackbox.yml"
        self.config.write_text(config_text(ca_file, query_name), encoding="utf-8")
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._log = (workdir / "blackbox.log").open("wb")
        self._process = subprocess.Popen(
            [
                binary,
                f"--config.file={self.config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=error",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    @property
    def pid(self) -> int:
        return self._process.pid

    def cpu_s(self) -> float:
        return process_cpu_s(self._process.pid)

    def probe_url(self, kind: str, target: str) -> str:
        return f"{self.base}/probe?module={MODULES[kind]}&target={target}"

    def _wait_ready(self, timeout_s: float = 15.0) -> None:
        give_up = time.monotonic() + timeout_s
        while time.monotonic() < give_up:
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"blackbox_exporter exited with {self._process.returncode}; see {self._log.name}"
                )
            try:
                if requests.get(f"{self.base}/-/healthy", timeout=1).ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"blackbox_exporter did not start on {self.base}")

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        self._log.close()

    def __enter__(self) -> Blackbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

"""The loopback servers the probe benchmark measures against, run as a process of their own.

Run by ``bench/probe_throughput.py`` (never by hand, though it works)::

    python bench/loopback_servers.py --delay 0.2 --ca-out /tmp/x/ca.pem [--names 4000]

It starts, on 127.0.0.1 only: a DNS server answering at once and one answering ``--delay``
seconds late (``DnsFault.SLOW``), HTTP and HTTPS servers answering at once and ``--delay`` late
(``SlowHeaders``), and a TCP listener that accepts and closes. It prints one JSON line with the
ports, then serves until its stdin closes (the benchmark exits or dies) or ``--max-seconds``
pass, so it always stops by itself. Living in its own process keeps its CPU out of the prober's.

A TCP handshake to loopback cannot be delayed from user space (the kernel answers the SYN before
``accept``; that takes netem, which this kernel lacks), so there is no slow TCP server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import selectors
import socket
import sys
import threading
import time
from pathlib import Path

from netwatch.lab.dns_server import DnsFault, DnsServer
from netwatch.lab.pki import LabPKI
from netwatch.lab.web_server import Ok, SlowHeaders, WebServer

HOST = "127.0.0.1"
BENCH_NAME = "bench.kz."


def dns_records(names: int) -> dict[tuple[str, str], list[str]]:
    """``bench.kz`` and ``site<N>.bench.kz`` (N < ``names``) all point at ``HOST``."""
    records: dict[tuple[str, str], list[str]] = {(BENCH_NAME, "A"): [HOST]}
    for index in range(names):
        records[(f"site{index}.{BENCH_NAME}", "A")] = [HOST]
    return records


class AcceptAndClose:
    """A TCP listener that accepts every connection and closes it at once, on one selector thread."""

    def __init__(self, host: str = HOST) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, 0))
        self._listener.listen(4096)
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="accept-and-close", daemon=True)

    def start(self) -> AcceptAndClose:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self._listener.close()

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._listener, selectors.EVENT_READ)
        while not self._stop.is_set():
            if not selector.select(0.2):
                continue
            while True:
                try:
                    sock, _ = self._listener.accept()
                except OSError:
                    break
                sock.close()
        selector.close()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--delay", type=float, default=0.2, help="lateness of the slow servers, seconds")
    parser.add_argument("--ca-out", type=Path, required=True, help="write the lab CA's PEM here")
    parser.add_argument("--names", type=int, default=0, help="site<N>.bench.kz names to serve")
    parser.add_argument("--max-seconds", type=float, default=3600.0, help="exit after this long anyway")
    args = parser.parse_args()

    pki = LabPKI()
    pki.write_ca_file(args.ca_out)
    records = dns_records(args.names)
    dns_fast = DnsServer(records, host=HOST).start()
    dns_slow = DnsServer(records, host=HOST, delay_s=args.delay)
    dns_slow.set_fault(DnsFault.SLOW)
    dns_slow.start()
    slow = SlowHeaders(args.delay)
    web = {
        "http": WebServer(HOST, default=Ok()),
        "http_slow": WebServer(HOST, default=slow),
        "https": WebServer(HOST, tls=pki.server_context([HOST, "bench.kz", "*.bench.kz"]), default=Ok()),
        "https_slow": WebServer(HOST, tls=pki.server_context([HOST, "bench.kz", "*.bench.kz"]), default=slow),
    }
    for server in web.values():
        server.start()
    tcp = AcceptAndClose().start()
    ports = {"dns": dns_fast.port, "dns_slow": dns_slow.port, "tcp": tcp.port}
    ports.update({name: server.port for name, server in web.items()})
    print(json.dumps({"host": HOST, "delay_s": args.delay, "ports": ports}), flush=True)

    # Serve until stdin closes (the parent went away) or the time limit passes.
    done = threading.Event()

    def watch_stdin() -> None:
        with contextlib.suppress(OSError, ValueError):
            while sys.stdin.buffer.read(1):
                pass
        done.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    done.wait(args.max_seconds)
    started = time.monotonic()
    tcp.stop()
    for server in web.values():
        server.stop()
    dns_fast.stop()
    dns_slow.stop()
    print(f"servers stopped in {time.monotonic() - started:.1f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

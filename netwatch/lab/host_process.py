"""A child process that speaks JSON lines on stdin/stdout (``server_host``, ``nfqueue_delay``).

The child lives exactly as long as its stdin pipe: closing it (``stop``), or this process dying
for any reason, makes it exit. It runs in its own session so a Ctrl-C at the terminal reaches
only the lab process, whose teardown then stops the children in order.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import netwatch

_PROJECT_ROOT = str(Path(netwatch.__file__).resolve().parent.parent)
READY_TIMEOUT_S = 30.0
REPLY_TIMEOUT_S = 10.0


class HostError(RuntimeError):
    """The child failed to start, answered with an error, or did not answer in time."""


class HostProcess:
    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self._lock = threading.Lock()

    @classmethod
    def start(cls, argv: Sequence[str], first_line: dict[str, Any] | None = None) -> HostProcess:
        """Start ``argv`` (it must import netwatch: the project root is put on PYTHONPATH) and send
        ``first_line`` (the spec) if given."""
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_PROJECT_ROOT, env.get("PYTHONPATH", "")) if p)
        process = subprocess.Popen(
            list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
            start_new_session=True,
        )
        host = cls(process)
        if first_line is not None:
            host._send(first_line)
        return host

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self, name: str) -> None:
        reply = self._read(READY_TIMEOUT_S)
        if not reply.get("ready"):
            raise HostError(f"server host {name} failed to start: {reply.get('error', reply)}")

    def command(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Send one command and return its reply; raises ``HostError`` on an error reply."""
        with self._lock:
            self._send(payload)
            reply = self._read(REPLY_TIMEOUT_S)
        if not reply.get("ok"):
            raise HostError(f"command {payload.get('op', payload)} failed: {reply.get('error', reply)}")
        return reply

    def stop(self, timeout_s: float = 3.0) -> None:
        """Close stdin (the child exits on EOF); kill it if it has not exited after ``timeout_s``."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()

    def _send(self, payload: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(json.dumps(payload) + "\n")
            self.process.stdin.flush()
        except OSError as exc:
            raise HostError(f"child {self.pid} is gone: {exc}") from None

    def _read(self, timeout_s: float) -> dict[str, Any]:
        stdout = self.process.stdout
        assert stdout is not None
        ready, _, _ = select.select([stdout], [], [], timeout_s)
        line = stdout.readline() if ready else ""
        if not line:
            status = self.process.poll()
            raise HostError(f"child {self.pid} did not answer within {timeout_s} s (exit status {status})")
        reply: dict[str, Any] = json.loads(line)
        return reply

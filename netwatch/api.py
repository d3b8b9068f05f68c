"""The agent's HTTP server: ``/metrics``, ``/healthz`` (and, later, the read-only ``/api/v1``).

``create_api`` builds the FastAPI application from callables, so it holds no state of its own;
further routers are added with ``app.include_router``. ``ApiServer`` runs it under uvicorn in a
thread of the agent process; the listening socket is bound in the constructor, so a busy port
fails at start and port 0 picks a free one (read it back from ``ApiServer.port``).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence

import uvicorn
from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

import netwatch
from netwatch.metrics import CONTENT_TYPE

log = logging.getLogger(__name__)


class Health(BaseModel):
    """``/healthz``: ``ok`` is true while the scheduler runs; ``last_measurement_age_s`` is the age
    in seconds of the newest measurement (null before the first); ``config_source`` the config file."""

    ok: bool
    scheduler_running: bool
    last_measurement_age_s: float | None
    config_source: str | None
    targets: int


def create_api(
    render_metrics: Callable[[], bytes],
    health: Callable[[], Health],
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The application: ``GET /metrics`` (Prometheus text format) and ``GET /healthz``
    (200 when healthy, 503 otherwise), plus ``routers`` (e.g. ``api_v1.build_router``)."""
    app = FastAPI(title="netwatch", version=netwatch.__version__)
    for router in routers:
        app.include_router(router)

    @app.get("/metrics", response_class=Response, summary="Prometheus metrics")
    def metrics() -> Response:
        return Response(render_metrics(), media_type=CONTENT_TYPE)

    @app.get("/healthz", response_model=Health, summary="Agent health")
    def healthz() -> JSONResponse:
        state = health()
        return JSONResponse(state.model_dump(), status_code=200 if state.ok else 503)

    return app


class ApiServer:
    """Serve ``app`` on ``host:port`` from a background thread."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._socket.bind((host, port))
        except OSError:
            self._socket.close()
            raise
        self.host = host
        self.port: int = self._socket.getsockname()[1]
        config = uvicorn.Config(
            app,
            host=host,
            port=self.port,
            log_config=None,
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._serve, name="http-server", daemon=True)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self, timeout_s: float = 10.0) -> None:
        """Start serving; returns once the server accepts connections. Raises ``RuntimeError``
        if it has not started within ``timeout_s`` seconds."""
        self._thread.start()
        give_up = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > give_up:
                raise RuntimeError(f"HTTP server did not start on {self.url}")
            time.sleep(0.01)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop accepting, let requests in progress finish (up to ``timeout_s`` seconds)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        self._socket.close()

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except Exception:
            log.exception("HTTP server stopped with an error")

"""/healthz and Prometheus /metrics on their own port, in polling and webhook mode alike.

A self-contained component: `start(deps, receiving=...)` binds `[health] listen:port` on the
running event loop and returns the server (None when the port is 0); `stop(server)` closes it.
The application starts it from post_init and stops it from post_shutdown.

/healthz answers 200 when all is well and 503 otherwise, with a small JSON body:
- database: reachable (a `SELECT 1` within a few seconds);
- updates: whether updates are being received (the poller or webhook runs) and how long ago
  the last one was processed (informative: a quiet night is not a failure);
- due_work: tasks due and waiting, and how long the oldest has waited; failing beyond
  `[health] max_due_lag_minutes` (the sweep is stuck or far behind).
No ids, names or message text ever appear in either answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from prometheus_client.exposition import choose_encoder
from sqlalchemy import text
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from bot import metrics, startup
from bot.context import Deps
from storage.repositories.tasks import TaskRepository

log = logging.getLogger(__name__)

# A database that does not answer within this long counts as unreachable.
DATABASE_TIMEOUT_SECONDS = 3.0


class HealthServer:
    """The HTTP server behind /healthz and /metrics."""

    def __init__(self, deps: Deps, *, receiving: Callable[[], bool]) -> None:
        self.deps = deps
        self.receiving = receiving
        self.port = 0
        self._http: HTTPServer | None = None

    async def start(self) -> None:
        listen, port = self.deps.settings.health.listen, self.deps.settings.health.port
        try:
            sockets = bind_sockets(port, address=listen)
        except OSError as error:
            raise startup.listen_failure(
                "/healthz and /metrics", listen, port, error, "[health] port (0 turns it off)"
            ) from error
        routes = [(r"/healthz", _Healthz, {"server": self}), (r"/metrics", _Metrics, {"server": self})]
        self._http = HTTPServer(Application(routes, log_function=_log_failures_only))
        self._http.add_sockets(sockets)
        self.port = sockets[0].getsockname()[1]
        log.info("health and metrics on http://%s:%d/healthz and /metrics", listen, self.port)

    async def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            await self._http.close_all_connections()
            self._http = None

    async def check(self) -> tuple[int, dict[str, Any]]:
        """The status code and body of /healthz; also refreshes the database-backed gauges."""
        database = await self._database()
        due_work = await self._due_work() if database["ok"] else {"ok": False, "error": "database unreachable"}
        checks = {"database": database, "updates": self._updates(), "due_work": due_work}
        healthy = all(check["ok"] for check in checks.values())
        return (200 if healthy else 503), {"status": "ok" if healthy else "fail", "checks": checks}

    async def _database(self) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(DATABASE_TIMEOUT_SECONDS):
                async with self.deps.db.engine.connect() as connection:
                    await connection.execute(text("SELECT 1"))
        except Exception as error:  # any failure is "unreachable"; its type says why
            metrics.set_database_up(False)
            return {"ok": False, "error": type(error).__name__}
        metrics.set_database_up(True)
        return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}

    def _updates(self) -> dict[str, Any]:
        last = metrics.ACTIVITY.last_update_at
        ago = None if last is None else round(max(0.0, (self.deps.clock() - last).total_seconds()), 1)
        receiving = bool(self.receiving())
        return {"ok": receiving, "receiving": receiving, "last_received_seconds_ago": ago}

    async def _due_work(self) -> dict[str, Any]:
        now = self.deps.clock()
        async with self.deps.db.transaction() as session:
            backlog, oldest = await TaskRepository(session).backlog(now)
        lag = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        metrics.set_due_work(backlog, lag)
        limit = self.deps.settings.health.max_due_lag_minutes * 60
        return {"ok": lag <= limit, "backlog": backlog, "lag_seconds": round(lag, 1), "max_lag_seconds": limit}


async def start(deps: Deps, *, receiving: Callable[[], bool]) -> HealthServer | None:
    """Serve /healthz and /metrics unless `[health] port` is 0."""
    if deps.settings.health.port == 0:
        return None
    server = HealthServer(deps, receiving=receiving)
    await server.start()
    return server


async def stop(server: HealthServer | None) -> None:
    if server is not None:
        await server.stop()


class _Healthz(RequestHandler):
    def initialize(self, server: HealthServer) -> None:
        self.server = server

    async def get(self) -> None:
        status, body = await self.server.check()
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(body))


class _Metrics(RequestHandler):
    def initialize(self, server: HealthServer) -> None:
        self.server = server

    async def get(self) -> None:
        # The database-backed gauges are read now, so a scrape sees the current backlog.
        await self.server.check()
        encoder, content_type = choose_encoder(self.request.headers.get("Accept", ""))
        self.set_header("Content-Type", content_type)
        self.finish(encoder(metrics.REGISTRY))


def _log_failures_only(handler: RequestHandler) -> None:
    """Probes and scrapes every few seconds would drown the log; only server errors are worth a line."""
    if handler.get_status() >= 500 and handler.get_status() != 503:
        log.warning("%s %s answered %d", handler.request.method, handler.request.path, handler.get_status())

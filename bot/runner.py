"""`jianfu run`: the application's life from start to stop, with updates taken by bot.intake."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import tornado.httpserver
import tornado.web

from bot import gc_tuning
from bot.app import ALLOWED_UPDATES, JianfuApplication
from bot.intake import Intake, webhook_body
from bot.settings import Settings

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


async def serve(
    app: JianfuApplication,
    settings: Settings,
    *,
    stop: asyncio.Event | None = None,
    freeze_after_start: bool = False,
) -> None:
    """Run until SIGINT/SIGTERM (or `stop`): start, take updates, then stop cleanly.

    `freeze_after_start`: the process is the bot's own (`jianfu run`), so what it holds after
    the start is its long-lived state (bot/gc_tuning.py); not for a test's process."""
    stop = stop or asyncio.Event()
    _stop_on_signals(stop)
    intake = Intake(app)
    await app.initialize()
    try:
        if app.post_init:
            await app.post_init(app)
        await app.start()
        if freeze_after_start:
            gc_tuning.freeze_long_lived(asyncio.get_running_loop())
        app.create_task(run_jobs_now(app), name="jobs at start")
        app.bot_data.receiving = True
        if settings.telegram.mode == "webhook":
            await _serve_webhook(app, intake, settings, stop)
        else:
            await intake.poll(stop)
    finally:
        app.bot_data.receiving = False
        await intake.drain()
        if app.running:
            await app.stop()
        await app.shutdown()
        if app.post_shutdown:
            await app.post_shutdown(app)


# Repeating jobs to run once right at start: APScheduler cannot start a job "now" (PTB's
# JobQueue.run_repeating docs), and work that fell due while the bot was down must not wait
# a whole interval.
JOBS_AT_START = ("replica_beat", "sweep", "forget_old_records", "digest_schedule")


async def run_jobs_now(app: JianfuApplication) -> None:
    for name in JOBS_AT_START:
        for job in app.job_queue.get_jobs_by_name(name):
            await job.run(app)


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)


async def _serve_webhook(app: JianfuApplication, intake: Intake, settings: Settings, stop: asyncio.Event) -> None:
    hook = settings.telegram.webhook
    server = start_webhook_server(intake, hook.secret.get_secret_value(), hook.listen, hook.port, hook.path)
    try:
        await app.bot.set_webhook(
            f"{hook.url.rstrip('/')}/{hook.path}",
            secret_token=hook.secret.get_secret_value(),
            allowed_updates=ALLOWED_UPDATES,
            max_connections=settings.updates.concurrent_chats,
        )
        log.info("webhook set; listening on %s:%s/%s", hook.listen, hook.port, hook.path)
        await stop.wait()
    finally:
        server.stop()
        await server.close_all_connections()


class UpdateHandler(tornado.web.RequestHandler):
    """Telegram's POST: answered 200 only once the update committed (or was set aside)."""

    def initialize(self, intake: Intake, secret: str) -> None:
        self.intake, self.secret = intake, secret

    async def post(self) -> None:
        if self.request.headers.get(SECRET_HEADER) != self.secret:
            self.set_status(403)
            return
        data = webhook_body(self.request.body)
        if data is None:
            self.set_status(400)
            return
        update = await self.intake.parse(data)
        # 500 makes Telegram deliver it again later; a failing one is set aside after a few tries.
        done = update is None or (await self.intake.commit(update))[0]
        self.set_status(200 if done else 500)

    def log_exception(self, *args: Any) -> None:
        # Tornado's own log line would quote the request; Jianfu logs by update id only.
        log.error("webhook request failed")


def start_webhook_server(
    intake: Intake, secret: str, listen: str, port: int, path: str
) -> tornado.httpserver.HTTPServer:
    routes = [(rf"/{path.strip('/')}/?", UpdateHandler, {"intake": intake, "secret": secret})]
    # No access log: a request line says nothing an operator needs, and logs stay small.
    application = tornado.web.Application(routes, log_function=lambda _handler: None)
    server = tornado.httpserver.HTTPServer(application, xheaders=True)
    server.listen(port, address=listen)
    return server

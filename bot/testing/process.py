"""`jianfu run` as a real process against the HTTP Bot API double, for crash, restart and replica tests.

`BotProcess` writes a bot.toml for the test (token, base_url, database, mode, short job intervals,
short Telegram timeouts), starts `python -m bot.cli --config FILE run`, waits until it polls (or
its webhook is set and its port answers), and stops it with SIGTERM or SIGKILL. `ChildProcess`
does the same for any other bot (the benchmark's reference bot). Every wait has a
deadline; on a deadline, or when the process dies early, the child is killed and an
AssertionError carries its exit code and the end of its stderr. Each run's stderr goes to a file
of its own. Every address is 127.0.0.1.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Self

import bot
from bot.settings import merge_tables
from bot.testing.http_double import HOST, HttpTelegram

PUBLIC_URL = "https://jianfu.test"
WEBHOOK_PATH = "telegram"
WEBHOOK_SECRET = "test-secret-0123456789"
REPOSITORY = Path(bot.__file__).resolve().parents[1]
_LIVE: set[subprocess.Popen[bytes]] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def port_answers(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:port."""
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((HOST, port)) == 0


def toml_text(values: Mapping[str, Any], prefix: str = "") -> str:
    """Settings as TOML: scalars and lists first, then each table under its dotted name."""
    scalars = {key: value for key, value in values.items() if not isinstance(value, Mapping)}
    lines = [f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in scalars.items()]
    for key, value in values.items():
        if isinstance(value, Mapping):
            name = f"{prefix}{key}"
            lines += ["", f"[{name}]", toml_text(value, f"{name}.")]
    return "\n".join(lines).strip("\n") + "\n"


def process_settings(
    double: HttpTelegram, database_url: str, *, mode: str = "polling", webhook_port: int = 0
) -> dict[str, Any]:
    """bot.toml for a test: the double's token and address, short timeouts and job intervals."""
    return {
        "telegram": {
            "token": double.token,
            "base_url": double.base_url,
            "mode": mode,
            "connect_timeout": 1.0,
            "read_timeout": 1.0,
            "webhook": {
                "listen": HOST, "port": webhook_port or 8443, "url": PUBLIC_URL, "path": WEBHOOK_PATH,
                "secret": WEBHOOK_SECRET,
            },
        },
        "database": {"url": database_url},
        "jobs": {"sweep_seconds": 1, "lease_seconds": 10},
        # No health server: parallel and restarted processes would compete for its port.
        "health": {"port": 0},
    }  # fmt: skip


class ChildProcess:
    """A bot under test as a process: started, made ready, stopped and killed, each within a deadline.

    Subclasses say what to run (`command`); readiness follows the mode: polling means a getUpdates
    call reached the double, webhook means setWebhook succeeded and the port answers."""

    def __init__(self, double: HttpTelegram, directory: Path, *, mode: str = "polling", name: str = "bot") -> None:
        if mode not in ("polling", "webhook"):
            raise ValueError(f"mode must be polling or webhook, not {mode!r}")
        self.double = double
        self.directory = Path(directory)
        self.name = name
        self.mode = mode
        self.webhook_port = free_port() if mode == "webhook" else 0
        self.runs: list[Path] = []
        self.process: subprocess.Popen[bytes] | None = None
        self._mark = 0
        self._started_at = 0.0

    def command(self) -> list[str]:
        """The command line of one run."""
        raise NotImplementedError

    @property
    def webhook_backend(self) -> str:
        """Where this process's webhook server listens."""
        return f"http://{HOST}:{self.webhook_port}"

    @property
    def webhook_url(self) -> str:
        """The public address the bot registers with setWebhook."""
        return f"{PUBLIC_URL}/{WEBHOOK_PATH}"

    # --- starting --------------------------------------------------------------------------

    def start(self, *, timeout: float = 60.0, wait: bool = True) -> Self:
        """Start a run; by default wait until it takes updates."""
        if self.alive:
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        log = self.directory / f"{self.name}-run{len(self.runs) + 1}.stderr"
        self.runs.append(log)
        self._mark = self.double.call_count
        self._started_at = time.monotonic()
        with log.open("wb") as stderr:
            self.process = subprocess.Popen(
                self.command(), cwd=self.directory, env=_child_environment(), stdin=subprocess.DEVNULL,
                stdout=stderr, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        _LIVE.add(self.process)
        if wait:
            self.wait_ready(timeout=timeout)
        return self

    def wait_ready(self, *, timeout: float = 60.0) -> None:
        """Until the process polls (polling) or has set its webhook and its port answers (webhook)."""
        ready = self._polling if self.mode == "polling" else self._webhook_ready
        self.wait_for(ready, timeout=timeout, what=f"{self.name} ready ({self.mode})")

    def _polling(self) -> bool:
        return self.double.polls_since(self._started_at) > 0

    def _webhook_ready(self) -> bool:
        hooked = any(
            call.acted and call.params.get("url") == self.webhook_url
            for call in self.double.calls("setWebhook", since=self._mark)
        )
        return hooked and port_answers(self.webhook_port)

    def wait_for(self, condition: Callable[[], bool], *, timeout: float, what: str) -> None:
        """Poll `condition` while the process lives; kill it and fail on the deadline or an early exit."""
        deadline = time.monotonic() + timeout
        while not condition():
            if not self.alive:
                raise AssertionError(f"{self.name} exited with {self.returncode} before {what}\n{self.stderr_tail()}")
            if time.monotonic() >= deadline:
                self.kill()
                raise AssertionError(f"{what}: not within {timeout} s; {self.name} was killed\n{self.stderr_tail()}")
            time.sleep(0.02)

    # --- stopping ----------------------------------------------------------------------------

    def terminate(self, *, timeout: float = 30.0) -> int:
        """SIGTERM and wait for the exit code; a process that does not stop in time is killed and fails."""
        return self._stop(signal.SIGTERM, timeout)

    def kill(self, *, timeout: float = 10.0) -> int:
        """SIGKILL and wait for the exit code."""
        return self._stop(signal.SIGKILL, timeout)

    def restart(self, *, graceful: bool = True, timeout: float = 60.0) -> Self:
        """Stop (SIGTERM, or SIGKILL when not graceful) and start again."""
        if self.alive:
            self.terminate() if graceful else self.kill()
        return self.start(timeout=timeout)

    def _stop(self, sent: signal.Signals, timeout: float) -> int:
        process = self._require_process()
        if process.poll() is None:
            process.send_signal(sent)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
                _LIVE.discard(process)
                raise AssertionError(
                    f"{self.name} did not exit within {timeout} s of {sent.name}; killed\n{self.stderr_tail()}"
                ) from None
        _LIVE.discard(process)
        return process.returncode

    def close(self) -> None:
        """Kill the process if it still runs (for fixture teardown)."""
        if self.alive:
            self.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- looking at it -------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """Whether the current run is still going."""
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        """The current run's process id."""
        return self.process.pid if self.process else None

    @property
    def returncode(self) -> int | None:
        """The current run's exit code (None while it runs)."""
        return self.process.poll() if self.process else None

    def stderr(self, run: int | None = None) -> str:
        """What the process wrote (one run, 0-based, or all of them)."""
        logs = self.runs if run is None else [self.runs[run]]
        return "".join(log.read_text(encoding="utf-8", errors="replace") for log in logs if log.exists())

    def stderr_tail(self, lines: int = 40) -> str:
        """The end of the last run's output, for failure messages."""
        if not self.runs:
            return "(never started)"
        return "\n".join(self.stderr(len(self.runs) - 1).splitlines()[-lines:])

    def _require_process(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.process


class BotProcess(ChildProcess):
    """`jianfu run --config FILE` for one deployment (its bot.toml and database), run as often as needed."""

    def __init__(
        self,
        double: HttpTelegram,
        directory: Path,
        database_url: str,
        *,
        mode: str = "polling",
        settings: Mapping[str, Any] | None = None,
        name: str = "bot",
        route_webhook: bool = True,
    ) -> None:
        super().__init__(double, directory, mode=mode, name=name)
        values = process_settings(double, database_url, mode=mode, webhook_port=self.webhook_port)
        self.settings = merge_tables(values, dict(settings or {}))
        self.config_path = self.directory / f"{name}.toml"
        self.config_path.write_text(toml_text(self.settings), encoding="utf-8")
        if mode == "webhook" and route_webhook:
            double.webhook.route(PUBLIC_URL, self.webhook_backend)

    def command(self) -> list[str]:
        """python -m bot.cli --config FILE run."""
        return [sys.executable, "-m", "bot.cli", "--config", str(self.config_path), "run"]


def _child_environment() -> dict[str, str]:
    """The test's environment without JIANFU_ overrides (bot.toml says everything) and without proxies."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("JIANFU_") and key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
    }
    existing = environment.get("PYTHONPATH")
    environment |= {
        "PYTHONPATH": str(REPOSITORY) + (os.pathsep + existing if existing else ""),
        "NO_PROXY": f"{HOST},localhost",
        "PYTHONUNBUFFERED": "1",
    }
    return environment


@atexit.register
def _kill_leftovers() -> None:
    """No child outlives the test run, even when a test dies before its teardown."""
    for process in list(_LIVE):
        if process.poll() is None:
            process.kill()

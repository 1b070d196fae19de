"""deploy/: the Dockerfile, the compose file and the systemd unit, checked without a Docker engine.

No Docker engine runs on the development machines (`docker` is only a client), so the image is
not built here: the Dockerfile is linted with hadolint and checked against Jianfu's own rules, its
HEALTHCHECK command is run against a real /healthz, the compose file is parsed and checked, and
the unit goes through `systemd-analyze verify` and `security`.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.health import HealthServer
from tests.bot.conftest import Harness

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HADOLINT = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
SECRET_WORDS = re.compile(r"(TOKEN|PASSWORD|SECRET|API_HASH)", re.IGNORECASE)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))
    parsed = []
    for line in joined.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            parsed.append((keyword.upper(), rest.strip()))
    return parsed


def final_stage(parsed: list[tuple[str, str]]) -> list[tuple[str, str]]:
    last_from = max(index for index, (keyword, _) in enumerate(parsed) if keyword == "FROM")
    return parsed[last_from:]


DOCKERFILE = instructions(DEPLOY / "Dockerfile")


# --- Dockerfile --------------------------------------------------------------------------------


@pytest.mark.skipif(
    not Path(HADOLINT).exists(), reason="hadolint is installed with the test extras on x86-64 Linux only"
)
def test_the_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([HADOLINT, "--no-color", str(DEPLOY / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_base_image_is_pinned_to_a_release() -> None:
    arguments = dict(args.split("=", 1) for keyword, args in DOCKERFILE if keyword == "ARG" and "=" in args)
    for keyword, args in DOCKERFILE:
        if keyword != "FROM":
            continue
        image = args.split()[0]
        image = arguments.get(image.strip("${}"), image)
        name, _, tag = image.partition(":")
        assert name == "python", image
        assert "@sha256:" in image or re.fullmatch(r"\d+\.\d+\.\d+-slim-\w+", tag), image


def test_the_image_runs_as_a_user_of_its_own() -> None:
    users = [args for keyword, args in final_stage(DOCKERFILE) if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_no_secret_is_baked_in() -> None:
    for keyword, args in DOCKERFILE:
        if keyword in ("ENV", "ARG"):
            assert not SECRET_WORDS.search(args), args
        if keyword in ("COPY", "ADD"):
            assert not re.search(r"\.env\b|bot\.toml|\.db\b", args), args
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for pattern in (".venv", ".git", "*.db", ".env", "bot.toml"):
        assert pattern in ignored


def test_it_migrates_at_start_and_checks_healthz() -> None:
    stage = dict(final_stage(DOCKERFILE))
    assert json.loads(stage["ENTRYPOINT"]) == ["jianfu"] and json.loads(stage["CMD"]) == ["run"]
    assert "/healthz" in stage["HEALTHCHECK"] and "JIANFU_HEALTH__PORT" in stage["HEALTHCHECK"]


def healthcheck_command() -> list[str]:
    check = dict(final_stage(DOCKERFILE))["HEALTHCHECK"]
    return json.loads(check[check.index("CMD") + 3 :].strip())


async def run_healthcheck(port: int) -> int:
    command = healthcheck_command()
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], env={"JIANFU_HEALTH__PORT": str(port)},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    return await asyncio.wait_for(process.wait(), timeout=30)


async def test_the_healthcheck_command_passes_on_200_and_fails_on_503(harness: Harness) -> None:
    receiving = {"on": True}
    server = HealthServer(harness.deps, receiving=lambda: receiving["on"])
    await server.start()
    try:
        assert await run_healthcheck(server.port) == 0
        receiving["on"] = False
        assert await run_healthcheck(server.port) != 0
    finally:
        await server.stop()


# --- compose -----------------------------------------------------------------------------------


COMPOSE = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))


def test_compose_runs_the_bot_after_a_healthy_postgres() -> None:
    services = COMPOSE["services"]
    assert set(services) == {"bot", "db"}
    db, bot = services["db"], services["bot"]
    assert re.fullmatch(r"postgres:\d+\.\d+-\w+", db["image"])
    assert "pg_isready" in db["healthcheck"]["test"]
    assert "pgdata:/var/lib/postgresql/data" in db["volumes"] and "pgdata" in COMPOSE["volumes"]
    assert bot["depends_on"]["db"]["condition"] == "service_healthy"
    assert bot["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (DEPLOY / bot["build"]["context"] / bot["build"]["dockerfile"]).is_file()
    url = bot["environment"]["JIANFU_DATABASE__URL"]
    assert url.startswith("postgresql+asyncpg://jianfu:${JIANFU_DB_PASSWORD:?") and url.endswith("@db:5432/jianfu")
    assert bot["ports"] == ["127.0.0.1:8090:8090"] and bot["environment"]["JIANFU_HEALTH__LISTEN"] == "0.0.0.0"


def test_compose_takes_every_secret_from_the_environment() -> None:
    for service in COMPOSE["services"].values():
        for name, value in (service.get("environment") or {}).items():
            if SECRET_WORDS.search(name):
                assert str(value).startswith("${") and ":?" in str(value), name
    example = (DEPLOY / "env.example").read_text(encoding="utf-8")
    assert "JIANFU_TELEGRAM__TOKEN=\n" in example and "JIANFU_DB_PASSWORD=\n" in example
    assert "deploy/.env" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_compose_offers_a_local_bot_api_server_commented_out() -> None:
    text = (DEPLOY / "compose.yaml").read_text(encoding="utf-8")
    assert "# telegram-bot-api:" in text and "#     TELEGRAM_API_ID:" in text
    assert "# JIANFU_TELEGRAM__BASE_URL: http://telegram-bot-api:8081" in text


# --- systemd -----------------------------------------------------------------------------------


SYSTEMD_ANALYZE = shutil.which("systemd-analyze")
needs_systemd = pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed on this machine")


def unit_for_this_machine(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this checkout's jianfu (verify checks the file exists)."""
    jianfu = Path(sys.executable).with_name("jianfu")
    text = (DEPLOY / "jianfu.service").read_text(encoding="utf-8").replace("/opt/jianfu/bin/jianfu", str(jianfu))
    path = tmp_path / "jianfu.service"
    path.write_text(text, encoding="utf-8")
    return path


@needs_systemd
def test_the_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(unit_for_this_machine(tmp_path))], capture_output=True, text=True
    )
    # verify exits 0 even for unknown keys and bad values: what it prints is the verdict.
    assert result.returncode == 0 and result.stdout.strip() == "" and result.stderr.strip() == "", result.stderr


@needs_systemd
def test_the_unit_is_hardened(tmp_path: Path) -> None:
    result = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", str(unit_for_this_machine(tmp_path))],
        capture_output=True,
        text=True,
    )
    exposure = re.search(r"Overall exposure level for jianfu.service: ([\d.]+)", result.stdout)
    assert exposure, result.stdout + result.stderr
    assert float(exposure.group(1)) <= 2.5


def test_the_unit_does_not_restart_on_a_configuration_error() -> None:
    text = (DEPLOY / "jianfu.service").read_text(encoding="utf-8")
    assert "RestartPreventExitStatus=2" in text and "Restart=on-failure" in text
    assert "ExecStart=/opt/jianfu/bin/jianfu --config /etc/jianfu/bot.toml run" in text
    assert "EnvironmentFile=-/etc/jianfu/jianfu.env" in text and "TOKEN" not in text.split("[Unit]", 1)[1]

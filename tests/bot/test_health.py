"""/healthz and /metrics over loopback: the answers, and the figures moving with what the bot does."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from telegram.error import Conflict

from bot import health, metrics, records
from bot.context import Deps
from bot.health import HealthServer
from bot.startup import EXIT_CONFIG, StartupFailure
from bot.testing.fake import BLOCKED, CANT_DELETE, TIMEOUT, too_many_requests
from policies.actions import Delete, Outcome, Send
from storage.db import Database
from storage.repositories.tasks import TaskRepository
from tests.bot.conftest import GROUP, MEMBER, Harness, make_settings


class Receiving:
    """Stands in for "the poller or webhook runs"."""

    def __init__(self) -> None:
        self.on = True

    def __call__(self) -> bool:
        return self.on


@pytest.fixture
def receiving() -> Receiving:
    return Receiving()


@pytest.fixture
async def served(harness: Harness, receiving: Receiving) -> AsyncIterator[HealthServer]:
    # Port 0 in the settings: HealthServer itself binds any free port.
    server = HealthServer(harness.deps, receiving=receiving)
    await server.start()
    yield server
    await server.stop()


async def get(server: HealthServer, path: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=10) as client:
        return await client.get(path, headers=headers)


async def healthz(server: HealthServer) -> tuple[int, dict]:
    response = await get(server, "/healthz")
    assert response.headers["content-type"] == "application/json"
    return response.status_code, response.json()


async def scrape(server: HealthServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample on /metrics, keyed by name and sorted labels."""
    response = await get(server, "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def schedule_overdue(harness: Harness, minutes: int) -> None:
    async with harness.session() as session:
        due = harness.clock() - timedelta(minutes=minutes)
        await TaskRepository(session).schedule(
            records.DELETE_MESSAGE_TASK, f"overdue:{minutes}", due, {"chat_id": GROUP, "message_id": 999}
        )


async def test_a_healthy_bot_answers_200_with_each_check(served: HealthServer) -> None:
    status, body = await healthz(served)
    assert status == 200 and body["status"] == "ok"
    assert set(body["checks"]) == {"database", "updates", "due_work"}
    assert body["checks"]["database"]["ok"] is True and body["checks"]["database"]["latency_ms"] >= 0
    assert body["checks"]["updates"]["receiving"] is True
    assert body["checks"]["due_work"] == {"ok": True, "backlog": 0, "lag_seconds": 0.0, "max_lag_seconds": 900}


async def test_due_work_waiting_too_long_fails_until_the_sweep_takes_it(harness: Harness, served: HealthServer) -> None:
    await schedule_overdue(harness, 10)
    status, body = await healthz(served)
    assert status == 200 and body["checks"]["due_work"] == {
        "ok": True,
        "backlog": 1,
        "lag_seconds": 600.0,
        "max_lag_seconds": 900,
    }
    await schedule_overdue(harness, 20)
    status, body = await healthz(served)
    assert status == 503 and body["status"] == "fail"
    assert body["checks"]["due_work"]["ok"] is False and body["checks"]["due_work"]["backlog"] == 2
    assert body["checks"]["due_work"]["lag_seconds"] == 1200.0
    before = await scrape(served)
    assert value(before, "jianfu_due_work_backlog") == 2 and value(before, "jianfu_due_work_lag_seconds") == 1200

    assert await harness.sweep() == 2
    after = await scrape(served)
    lag_count = "jianfu_due_work_claim_lag_seconds_count"
    assert value(after, lag_count, kind="delete_message") - value(before, lag_count, kind="delete_message") == 2
    assert value(after, "jianfu_due_work_claim_lag_seconds_sum", kind="delete_message") - value(
        before, "jianfu_due_work_claim_lag_seconds_sum", kind="delete_message"
    ) == pytest.approx(1800)
    assert value(after, "jianfu_sweeps_total") - value(before, "jianfu_sweeps_total") == 1
    assert value(after, "jianfu_due_work_backlog") == 0
    assert (await healthz(served))[0] == 200


async def test_updates_are_counted_by_type_and_the_last_one_dated(harness: Harness, served: HealthServer) -> None:
    before = await scrape(served)
    posted = harness.updates.message(GROUP, MEMBER, "今天下午开会")
    await harness.send(posted)
    await harness.send(harness.updates.edited(GROUP, posted.message.message_id, "今天下午三点开会", user_id=MEMBER))
    after = await scrape(served)
    updates = "jianfu_updates_total"
    assert value(after, updates, type="message") - value(before, updates, type="message") == 1
    assert value(after, updates, type="edited_message") - value(before, updates, type="edited_message") == 1
    assert value(after, "jianfu_update_seconds_count") - value(before, "jianfu_update_seconds_count") == 2
    assert value(after, "jianfu_last_update_timestamp_seconds") == harness.clock().timestamp()
    harness.clock.advance(timedelta(seconds=90))
    status, body = await healthz(served)
    assert status == 200 and body["checks"]["updates"]["last_received_seconds_ago"] == 90.0


async def test_no_poller_or_webhook_running_fails(served: HealthServer, receiving: Receiving) -> None:
    receiving.on = False
    status, body = await healthz(served)
    assert (
        status == 503 and body["checks"]["updates"]["ok"] is False and body["checks"]["updates"]["receiving"] is False
    )


async def test_an_unreachable_database_fails_and_reads_as_down(receiving: Receiving, clock) -> None:
    settings = make_settings()
    closed = Database.from_url("postgresql+asyncpg://postgres@127.0.0.1:1/jianfu")
    server = HealthServer(Deps.create(settings, db=closed, clock=clock), receiving=receiving)
    await server.start()
    try:
        status, body = await healthz(server)
        assert status == 503
        assert body["checks"]["database"] == {"ok": False, "error": "ConnectionRefusedError"}
        assert body["checks"]["due_work"] == {"ok": False, "error": "database unreachable"}
        assert value(await scrape(server), "jianfu_database_up") == 0
    finally:
        await server.stop()
        await closed.dispose()


@pytest.mark.parametrize(
    ("method", "failure", "code", "outcome"),
    [
        ("sendMessage", BLOCKED, "403", "unreachable"),
        ("sendMessage", too_many_requests(3), "429", "retry_later"),
        ("sendMessage", TIMEOUT, "timeout", "uncertain"),
        ("deleteMessage", CANT_DELETE, "400", "too_old"),
    ],
)
async def test_telegram_calls_are_counted_by_outcome_and_errors_by_code(
    harness: Harness, served: HealthServer, method: str, failure, code: str, outcome: str
) -> None:
    harness.fake.start_private_chat(MEMBER)
    message = harness.fake.add_message(GROUP, MEMBER, "hello")
    before = await scrape(served)
    harness.fake.fail_next(method, failure)
    telegram = harness.deps.pipeline.telegram
    if method == "sendMessage":
        assert (await telegram.perform(Send(MEMBER, "hi"))).outcome.value == outcome
        assert (await telegram.perform(Send(MEMBER, "hi"))).outcome is Outcome.DONE
    else:
        assert (await telegram.perform(Delete(GROUP, message["message_id"]))).outcome.value == outcome
    after = await scrape(served)
    calls, failures = "jianfu_actions_total", "jianfu_telegram_errors_total"
    assert value(after, calls, kind=method, outcome=outcome) - value(before, calls, kind=method, outcome=outcome) == 1
    assert value(after, failures, code=code) - value(before, failures, code=code) == 1
    if method == "sendMessage":
        assert value(after, calls, kind=method, outcome="done") - value(before, calls, kind=method, outcome="done") == 1


async def test_errors_fetching_updates_are_counted(harness: Harness, served: HealthServer) -> None:
    from bot.intake import Intake

    before = await scrape(served)
    stop = asyncio.Event()
    stop.set()  # one backoff wait, cut short
    await Intake(harness.app)._poll_failed(Conflict("terminated by other getUpdates request"), 0.01, stop)
    after = await scrape(served)
    assert (
        value(after, "jianfu_telegram_errors_total", code="409")
        - value(before, "jianfu_telegram_errors_total", code="409")
        == 1
    )


async def test_metrics_are_jianfus_own_and_carry_no_ids_or_text(harness: Harness, served: HealthServer) -> None:
    await harness.send(harness.updates.message(GROUP, MEMBER, "收到"))
    response = await get(served, "/metrics")
    ours = {family.name for family in text_string_to_metric_families(response.text)} - {
        family.name for family in metrics.REGISTRY.collect() if family.name.startswith(("process_", "python_"))
    }
    assert ours and all(name.startswith("jianfu_") for name in ours)
    # Ids could only hide in names and labels: a counter's value may happen to be 3001 after a long run.
    described = [
        " ".join([sample.name, *sample.labels.values()])
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]
    for needle in (str(MEMBER), str(GROUP), "收到"):
        assert not [text for text in described if needle in text]
    assert "收到" not in response.text
    openmetrics = await get(served, "/metrics", Accept="application/openmetrics-text; version=1.0.0")
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


async def test_a_taken_port_fails_start_up_naming_the_setting(harness: Harness, receiving: Receiving) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = make_settings(health={"port": port})
        with pytest.raises(StartupFailure) as caught:
            await health.start(Deps.create(settings, db=harness.db, clock=harness.clock), receiving=receiving)
    assert caught.value.exit_code == EXIT_CONFIG
    assert f"cannot listen on 127.0.0.1:{port} for /healthz and /metrics" in str(caught.value)
    assert "[health] port (0 turns it off)" in str(caught.value)


async def test_port_zero_turns_the_endpoints_off(harness: Harness, receiving: Receiving) -> None:
    assert await health.start(harness.deps, receiving=receiving) is None
    await health.stop(None)

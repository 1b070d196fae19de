"""The Bot API double over loopback HTTP: the same answers as in process, long polling, webhooks, faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.request import BaseRequest, RequestData
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from bot.telegram_http import AiohttpRequest
from bot.testing.fake import TIMEOUT, FakeTelegram
from bot.testing.faults import Fault, FaultPlan
from bot.testing.http_double import HttpTelegram, decode_form
from bot.testing.process import free_port
from bot.testing.webhook import SECRET_HEADER
from policies.clock import FakeClock

TOKEN = "123456:HTTP-DOUBLE"
GROUP, BASIC_GROUP = -1001234567890, -4001
OWNER, ALICE, BOB = 101, 102, 103
KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("已读", callback_data="rd:1")]])
HOLD = 0.6  # the double holds a timed-out answer this long; clients give up after READ_TIMEOUT
READ_TIMEOUT = 0.3


def build_world(fake: FakeTelegram) -> FakeTelegram:
    fake.add_user(OWNER, "王", last_name="书记", username="owner")
    fake.add_user(ALICE, "Alice")
    fake.add_user(BOB, "Bob", language_code="en")
    fake.add_group(GROUP, "社区工作群", creator_id=OWNER, members=[ALICE], admins=[BOB])
    fake.add_group(BASIC_GROUP, "小组", creator_id=OWNER, type="group")
    fake.start_private_chat(BOB)
    return fake


class Recorder(BaseRequest):
    """Passes calls through and keeps each raw answer: (method, status, body)."""

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner
        self.answers: list[tuple[str, int, Any]] = []

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(
        self, url: str, method: str, request_data: RequestData | None = None, **timeouts: Any
    ) -> tuple[int, bytes]:
        status, body = await self.inner.do_request(url, method, request_data, **timeouts)
        self.answers.append((url.rsplit("/", 1)[-1], status, json.loads(body)))
        return status, body


def http_bot(double: HttpTelegram, token: str = TOKEN, read_timeout: float = READ_TIMEOUT) -> Bot:
    request = AiohttpRequest(read_timeout=read_timeout, connect_timeout=1.0)
    updates = AiohttpRequest(read_timeout=read_timeout, connect_timeout=1.0)
    return Bot(token, base_url=f"{double.base_url}/bot", request=request, get_updates_request=updates)


@pytest.fixture
def double(clock: FakeClock) -> AsyncIterator[HttpTelegram]:
    with HttpTelegram(TOKEN, build_world(FakeTelegram(clock=clock)), hold_seconds=HOLD) as served:
        yield served


@pytest.fixture
async def bot(double: HttpTelegram) -> AsyncIterator[Bot]:
    async with http_bot(double) as client:
        yield client


async def eventually(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll `condition` on the test's loop until it holds; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.01)


# --- the same answers as the in-process double -------------------------------------------------

Call = Callable[[Bot], Awaitable[Any]]
TABLE: list[tuple[str, Call]] = [
    ("getMe", lambda b: b.get_me()),
    ("HTML with a keyboard", lambda b: b.send_message(GROUP, "<b>请于周五前</b> &amp; <i>报送</i>",
                                                      parse_mode=ParseMode.HTML, reply_markup=KEYBOARD)),
    ("text that looks like JSON", lambda b: b.send_message(GROUP, "123")),
    ("more text that looks like JSON", lambda b: b.send_message(GROUP, "[1, 2]")),
    ("true as text", lambda b: b.send_message(GROUP, "true")),
    ("broken HTML", lambda b: b.send_message(GROUP, "<b>没有结束", parse_mode=ParseMode.HTML)),
    ("private chat never started", lambda b: b.send_message(ALICE, "你好")),
    ("private chat", lambda b: b.send_message(BOB, "hello", disable_notification=True)),
    ("reply to a message", lambda b: b.send_message(GROUP, "回复", reply_to_message_id=1)),
    ("photo upload", lambda b: b.send_photo(GROUP, photo=b"\x89PNG fake", caption="图表")),
    ("document upload", lambda b: b.send_document(GROUP, document=InputFile(b"%PDF-1.4", filename="台账.pdf"))),
    ("photo by file id", lambda b: b.send_photo(GROUP, photo="AgACAgUAAxkBexisting")),
    ("edit text", lambda b: b.edit_message_text("改过", chat_id=GROUP, message_id=1, reply_markup=KEYBOARD)),
    ("edit, not modified", lambda b: b.edit_message_text("改过", chat_id=GROUP, message_id=1, reply_markup=KEYBOARD)),
    ("delete own message", lambda b: b.delete_message(GROUP, 2)),
    ("delete a missing message", lambda b: b.delete_message(GROUP, 2)),
    ("delete several", lambda b: b.delete_messages(GROUP, [3, 4, 99])),
    ("pin without the right", lambda b: b.pin_chat_message(GROUP, 1)),
    ("chat", lambda b: b.get_chat(GROUP)),
    ("member", lambda b: b.get_chat_member(GROUP, BOB)),
    ("administrators", lambda b: b.get_chat_administrators(GROUP)),
    ("member count", lambda b: b.get_chat_member_count(GROUP)),
    ("permissions without the right",
     lambda b: b.set_chat_permissions(GROUP, ChatPermissions(can_send_messages=False))),
    ("invite link without the right", lambda b: b.create_chat_invite_link(GROUP, name="x", creates_join_request=True)),
    ("commands", lambda b: b.set_my_commands([BotCommand("inbox", "收件箱")], scope=BotCommandScopeAllGroupChats(),
                                             language_code="zh")),
    ("commands back", lambda b: b.get_my_commands(scope=BotCommandScopeAllGroupChats(), language_code="zh")),
    ("stale button", lambda b: b.answer_callback_query("999", text="x")),
    ("insecure webhook", lambda b: b.set_webhook("http://insecure.invalid/hook")),
    ("no updates", lambda b: b.get_updates(offset=5, limit=3, timeout=0, allowed_updates=["message"])),
    ("webhook info", lambda b: b.get_webhook_info()),
    ("delete webhook, keep updates", lambda b: b.delete_webhook(drop_pending_updates=False)),
    ("unknown chat", lambda b: b.send_message(-999, "x")),
    ("leave", lambda b: b.leave_chat(BASIC_GROUP)),
    ("after leaving", lambda b: b.send_message(BASIC_GROUP, "x")),
    ("a method the double does not know", lambda b: b.send_poll(GROUP, "Q?", ["a", "b"])),
]  # fmt: skip


async def answers(bot: Bot, recorder: Recorder) -> list[tuple[str, int, Any]]:
    async with bot:
        for _name, call in TABLE:
            with contextlib.suppress(TelegramError):
                await call(bot)
    return recorder.answers


async def test_every_answer_equals_the_in_process_doubles(clock: FakeClock) -> None:
    in_process = build_world(FakeTelegram(clock=clock))
    direct = Recorder(in_process)
    expected = await answers(Bot(TOKEN, request=direct, get_updates_request=direct), direct)
    with HttpTelegram(TOKEN, build_world(FakeTelegram(clock=clock))) as double:
        served = Recorder(AiohttpRequest(read_timeout=2.0))
        client = Bot(TOKEN, base_url=f"{double.base_url}/bot", request=served, get_updates_request=served)
        got = await answers(client, served)
    assert [method for method, _status, _body in got] == [method for method, _status, _body in expected]
    for ours, theirs in zip(got, expected, strict=True):
        assert ours == theirs
    # The table covers answers and errors alike, and the world changed the same way.
    assert {status for _method, status, _body in got} == {200, 400, 403}
    assert double.fake.uploads == in_process.uploads and len(in_process.uploads) == 2
    assert [c.method for c in double.fake.unknown_calls] == ["sendPoll"]
    assert double.fake.sent(GROUP, include_deleted=True) == in_process.sent(GROUP, include_deleted=True)


async def test_json_bodies_and_query_strings_are_answered_like_form_posts(double: HttpTelegram) -> None:
    async with httpx.AsyncClient(base_url=double.api_url) as client:
        body = {"chat_id": GROUP, "text": "123", "reply_markup": KEYBOARD.to_dict()}
        as_json = await client.post("/sendMessage", json=body)
        as_query = await client.get("/sendMessage", params={"chat_id": GROUP, "text": "true"})
        bad_json = await client.post("/sendMessage", content=b"[1]", headers={"Content-Type": "application/json"})
    assert as_json.status_code == 200 and as_json.json()["result"]["text"] == "123"
    assert as_json.json()["result"]["reply_markup"] == KEYBOARD.to_dict()
    assert as_query.status_code == 200 and as_query.json()["result"]["text"] == "true"
    assert bad_json.status_code == 400 and bad_json.json()["ok"] is False


def test_form_values_are_decoded_as_ptb_encoded_them() -> None:
    assert decode_form({"chat_id": "-100", "text": "123", "message_ids": "[1, 2]", "show_alert": "true"}) == {
        "chat_id": -100, "text": "123", "message_ids": [1, 2], "show_alert": True,
    }  # fmt: skip
    assert decode_form({"chat_id": "@channel", "caption": "[1]", "photo": "AgAC123"}) == {
        "chat_id": "@channel", "caption": "[1]", "photo": "AgAC123",
    }  # fmt: skip


async def test_a_wrong_token_is_401_and_other_paths_404(double: HttpTelegram) -> None:
    with pytest.raises(InvalidToken):
        async with http_bot(double, token="999:WRONG"):
            pass
    async with httpx.AsyncClient(base_url=double.base_url) as client:
        wrong = await client.post("/bot999:WRONG/getMe")
        elsewhere = await client.get("/favicon.ico")
    assert (wrong.status_code, wrong.json()) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
    assert (elsewhere.status_code, elsewhere.json()["description"]) == (404, "Not Found")
    assert double.calls() == []  # neither reached the world


# --- updates and long polling ------------------------------------------------------------------


async def test_scenario_helpers_make_updates_with_increasing_ids(double: HttpTelegram, bot: Bot) -> None:
    notice = double.message(GROUP, OWNER, "【通知】周五前报送台账")
    ack = double.reply(GROUP, ALICE, "收到", to=notice)
    sticker = double.sticker(GROUP, ALICE, "👌", reply_to=notice)
    command = double.command(GROUP, OWNER, "/rules")
    double.press(ALICE, GROUP, notice, "rd:1")
    double.react(GROUP, notice, ALICE, "👍")
    double.fake.set_bot_member(GROUP, "administrator", can_delete_messages=True)
    joined = double.join(GROUP, [BOB])
    double.bot_joined(BASIC_GROUP, OWNER, can_delete_messages=True)
    got = await bot.get_updates(allowed_updates=Update.ALL_TYPES)
    assert [update.update_id for update in got] == list(range(1, 10))
    assert got[1].message.reply_to_message.message_id == notice and got[1].message.text == "收到"
    assert got[2].message.sticker.emoji == "👌" and got[3].message.text == "/rules"
    assert got[4].callback_query.data == "rd:1" and got[5].message_reaction.new_reaction[0].emoji == "👍"
    assert [u.id for u in got[6].message.new_chat_members] == [BOB]
    assert got[7].chat_member.new_chat_member.user.id == BOB
    assert got[8].my_chat_member.new_chat_member.status == "administrator"
    assert (ack, sticker, command, joined) == (notice + 1, notice + 2, notice + 3, notice + 4)
    assert double.fake.member_status(BASIC_GROUP, double.fake.bot_id) == "administrator"


async def test_an_update_stays_until_a_later_offset_passes_it(double: HttpTelegram, bot: Bot) -> None:
    first, second, third = (double.message(GROUP, ALICE, text) for text in ("一", "二", "三"))
    fetched = await bot.get_updates()
    assert [u.message.message_id for u in fetched] == [first, second, third]
    # A bot that dies before confirming gets the same batch again.
    assert [u.update_id for u in await bot.get_updates()] == [u.update_id for u in fetched]
    assert [u.update_id for u in await bot.get_updates(offset=fetched[1].update_id, limit=1)] == [fetched[1].update_id]
    assert double.pending_updates() == 2
    assert await bot.get_updates(offset=fetched[2].update_id + 1) == ()
    assert double.pending_updates() == 0


async def test_reactions_come_only_when_allowed_and_the_list_is_remembered(double: HttpTelegram, bot: Bot) -> None:
    notice = double.message(GROUP, OWNER, "通知")
    double.react(GROUP, notice, ALICE)
    assert [u.message is not None for u in await bot.get_updates()] == [True]
    both = await bot.get_updates(allowed_updates=["message", "message_reaction"])
    assert [u.message_reaction is not None for u in both] == [False, True]
    assert len(await bot.get_updates()) == 2  # remembered from the last call


async def test_a_long_poll_returns_as_soon_as_an_update_arrives(double: HttpTelegram) -> None:
    async with http_bot(double, read_timeout=2.0) as bot:
        since = time.monotonic()
        poll = asyncio.create_task(bot.get_updates(timeout=30))
        await eventually(lambda: double.polls_since(since) == 1, what="the long poll arrived")
        await asyncio.sleep(0.05)
        assert not poll.done()  # nothing to return yet: the poll waits
        double.message(GROUP, ALICE, "收到")
        got = await asyncio.wait_for(poll, 5)  # far sooner than the poll's 30 s
    assert [u.message.text for u in got] == ["收到"]


async def test_a_long_poll_without_updates_answers_empty_at_its_timeout(double: HttpTelegram) -> None:
    async with http_bot(double, read_timeout=2.0) as bot:
        assert await asyncio.wait_for(bot.get_updates(timeout=1), 5) == ()


async def test_a_second_poll_ends_the_first_with_409(double: HttpTelegram) -> None:
    async with http_bot(double, read_timeout=2.0) as first, http_bot(double, read_timeout=2.0) as second:
        since = time.monotonic()
        older = asyncio.create_task(first.get_updates(timeout=20))
        await eventually(lambda: double.polls_since(since) == 1)
        newer = asyncio.create_task(second.get_updates(timeout=20))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await asyncio.wait_for(older, 5)
        double.message(GROUP, ALICE, "一")
        assert [u.message.text for u in await asyncio.wait_for(newer, 5)] == ["一"]


async def test_get_updates_while_a_webhook_is_set_is_409(double: HttpTelegram, bot: Bot) -> None:
    await bot.set_webhook("https://jianfu.test/hook")
    with pytest.raises(Conflict, match="webhook is active"):
        await asyncio.wait_for(bot.get_updates(timeout=20), 5)


# --- webhook delivery --------------------------------------------------------------------------


class Receiver:
    """A webhook endpoint on the test's loop: records what arrives, answers from a script."""

    def __init__(
        self, port: int = 0, failures: int = 0, status: int = 500, failing: dict[int, int] | None = None
    ) -> None:
        self.port = port
        self.failures = failures
        self.status = status
        # update_id -> how many of its deliveries to refuse
        self.failing = dict(failing or {})
        self.received: list[tuple[int, str | None]] = []
        self.server: HTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def update_ids(self) -> list[int]:
        return [update_id for update_id, _secret in self.received]

    async def __aenter__(self) -> Receiver:
        receiver = self

        class Hook(RequestHandler):
            def post(self) -> None:
                update_id = json.loads(self.request.body)["update_id"]
                receiver.received.append((update_id, self.request.headers.get(SECRET_HEADER)))
                if receiver.failing.get(update_id, 0) > 0:
                    receiver.failing[update_id] -= 1
                    self.set_status(receiver.status)
                elif receiver.failures > 0:
                    receiver.failures -= 1
                    self.set_status(receiver.status)
                self.finish()

        sockets = bind_sockets(self.port, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self.server = HTTPServer(Application([(r"/hook", Hook)], log_function=lambda handler: None))
        self.server.add_sockets(sockets)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.stop()
        await self.server.close_all_connections()


async def test_updates_are_posted_in_order_with_the_secret(double: HttpTelegram, bot: Bot) -> None:
    async with Receiver() as receiver:
        double.webhook.route("https://jianfu.test", receiver.url)
        await bot.set_webhook("https://jianfu.test/hook", secret_token="s3cret")
        ids = [double.push(update) for update in _messages(double, 5)]
        await eventually(lambda: len(receiver.received) == 5)
        assert receiver.received == [(update_id, "s3cret") for update_id in ids]
        await eventually(lambda: double.pending_updates() == 0)
        assert (await bot.get_webhook_info()).pending_update_count == 0


def _messages(double: HttpTelegram, count: int) -> list[dict]:
    """Message updates built in the world but not queued (push queues them)."""
    with double.world() as fake:
        return [{"message": fake.add_message(GROUP, ALICE, f"消息{n}")} for n in range(count)]


async def test_a_failed_delivery_is_retried_and_holds_back_later_updates(double: HttpTelegram, bot: Bot) -> None:
    async with Receiver(failures=2) as receiver:
        double.webhook.route("https://jianfu.test", receiver.url)
        await bot.set_webhook("https://jianfu.test/hook")
        first, second = (double.message(GROUP, ALICE, text) for text in ("一", "二"))
        await eventually(lambda: len(double.webhook.deliveries()) == 4)
    assert receiver.update_ids() == [1, 1, 1, 2]
    assert [d.status for d in double.webhook.deliveries()] == [500, 500, 200, 200]
    info = await bot.get_webhook_info()
    assert info.last_error_message == "Wrong response from the webhook: 500" and info.last_error_date is not None
    assert (first, second) == (1, 2)


async def test_delivery_waits_out_a_refused_connection(double: HttpTelegram, bot: Bot) -> None:
    port = free_port()
    double.webhook.route("https://jianfu.test", f"http://127.0.0.1:{port}")
    await bot.set_webhook("https://jianfu.test/hook")
    double.message(GROUP, ALICE, "一")
    await eventually(lambda: len(double.webhook.deliveries()) >= 2)  # refused, retried
    async with Receiver(port=port) as receiver:
        await eventually(lambda: double.webhook.accepted() == [1])
        assert receiver.update_ids() == [1]
    assert all(d.status is None and "Connect" in (d.error or "") for d in double.webhook.deliveries()[:-1])
    assert "Connect" in (await bot.get_webhook_info()).last_error_message


async def test_some_updates_are_delivered_twice(double: HttpTelegram, bot: Bot) -> None:
    async with Receiver() as receiver:
        double.webhook.route("https://jianfu.test", receiver.url)
        double.webhook.deliver_twice([2])
        await bot.set_webhook("https://jianfu.test/hook")
        for text in ("一", "二", "三"):
            double.message(GROUP, ALICE, text)
        await eventually(lambda: len(double.webhook.deliveries()) == 4)
        assert receiver.update_ids() == [1, 2, 2, 3]
        assert [d.duplicate for d in double.webhook.deliveries()] == [False, False, True, False]
        double.webhook.duplicate(1.0)
        double.message(GROUP, ALICE, "四")
        await eventually(lambda: len(receiver.received) == 6)
        assert receiver.update_ids()[-2:] == [4, 4]


async def test_deliveries_take_turns_over_replicas(double: HttpTelegram, bot: Bot) -> None:
    async with Receiver() as one, Receiver() as two:
        double.webhook.route("https://jianfu.test", one.url, two.url)
        await bot.set_webhook("https://jianfu.test/hook")
        for text in "一二三四五":
            double.message(GROUP, ALICE, text)
        await eventually(lambda: len(one.received) + len(two.received) == 5)
    assert (one.update_ids(), two.update_ids()) == ([1, 3, 5], [2, 4])


async def test_webhook_honours_allowed_updates_and_deleting_it_stops_delivery(double: HttpTelegram, bot: Bot) -> None:
    async with Receiver() as receiver:
        double.webhook.route("https://jianfu.test", receiver.url)
        await bot.set_webhook("https://jianfu.test/hook", allowed_updates=["message"])
        notice = double.message(GROUP, OWNER, "通知")
        double.react(GROUP, notice, ALICE)
        double.message(GROUP, ALICE, "收到")
        await eventually(lambda: receiver.update_ids() == [1, 3])
        await eventually(lambda: double.pending_updates() == 0)  # the reaction was never sent: dropped
        await bot.delete_webhook()
        double.message(GROUP, ALICE, "later")
        await asyncio.sleep(0.2)
        assert receiver.update_ids() == [1, 3]
    assert [u.message.text for u in await bot.get_updates()] == ["later"]


async def test_with_several_connections_a_stuck_update_does_not_hold_back_the_others(
    double: HttpTelegram, bot: Bot
) -> None:
    double.webhook.concurrency = 2
    async with Receiver(failing={1: 5}) as receiver:
        double.webhook.route("https://jianfu.test", receiver.url)
        await bot.set_webhook("https://jianfu.test/hook")
        for text in ("一", "二", "三"):
            double.message(GROUP, ALICE, text)
        await eventually(lambda: sorted(double.webhook.accepted()) == [1, 2, 3])
    assert double.webhook.accepted()[-1] == 1  # replicas may see updates out of order
    assert receiver.update_ids().count(1) == 6


def test_routes_only_lead_to_loopback(double: HttpTelegram) -> None:
    with pytest.raises(ValueError, match=r"127\.0\.0\.1"):
        double.webhook.route("https://jianfu.test", "http://10.0.0.8:8443")


# --- faults --------------------------------------------------------------------------------


def messages_in_world(double: HttpTelegram, text: str) -> int:
    with double.world() as fake:
        return sum(1 for m in fake.sent(GROUP, include_deleted=True) if m.get("text") == text)


@pytest.mark.parametrize(
    ("fault", "raised", "acted"),
    [
        (Fault.TOO_MANY_REQUESTS, RetryAfter, False),
        (Fault.SERVER_ERROR, NetworkError, False),
        (Fault.BAD_GATEWAY, NetworkError, False),
        (Fault.TIMEOUT_BEFORE, TimedOut, False),
        (Fault.TIMEOUT_AFTER, TimedOut, True),
        (Fault.DROP_AFTER, NetworkError, True),
    ],
)
async def test_each_fault_fails_the_call_and_acts_only_when_it_should(
    double: HttpTelegram, bot: Bot, fault: Fault, raised: type[Exception], acted: bool
) -> None:
    double.fail_next("sendMessage", fault)
    with pytest.raises(raised):
        await bot.send_message(GROUP, "故障")
    assert messages_in_world(double, "故障") == int(acted)
    [call] = double.calls("sendMessage")
    assert (call.fault, call.acted) == (fault, acted)
    assert call.status == (None if not fault.answers else int(fault.value))
    assert (await bot.send_message(GROUP, "故障")).text == "故障"  # one call only
    assert len(double.acted("sendMessage")) == int(acted) + 1


async def test_a_429_carries_retry_after(double: HttpTelegram, bot: Bot) -> None:
    double.inject(FaultPlan(ratio=1.0, kinds=(Fault.TOO_MANY_REQUESTS,), retry_after=7))
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(GROUP, "x")
    assert caught.value.retry_after == timedelta(seconds=7)


async def test_403_hits_private_chats_only(double: HttpTelegram, bot: Bot) -> None:
    double.fail_next("*", Fault.FORBIDDEN_PRIVATE)
    assert (await bot.send_message(GROUP, "群里")).text == "群里"
    with pytest.raises(Forbidden, match="blocked by the user"):
        await bot.send_message(BOB, "私聊")
    assert (await bot.send_message(BOB, "私聊")).text == "私聊"


async def test_the_in_process_doubles_timeout_injection_works_over_http(double: HttpTelegram, bot: Bot) -> None:
    double.fake.fail_next("deleteMessage", TIMEOUT)
    with pytest.raises(TimedOut):
        await bot.delete_message(GROUP, 1)
    assert [(c.fault, c.acted) for c in double.calls("deleteMessage")] == [(Fault.TIMEOUT_BEFORE, False)]


async def fault_sequence(double: HttpTelegram, bot: Bot, plan: FaultPlan, count: int) -> list[Fault | None]:
    double.inject(plan)
    start = double.call_count
    for number in range(count):
        with contextlib.suppress(TelegramError):
            await bot.send_message(GROUP if number % 2 else BOB, f"m{number}")
        await bot.get_chat(GROUP)
    return [call.fault for call in double.calls("sendMessage", since=start)]


async def test_a_seeded_plan_fails_its_share_of_its_methods_reproducibly(double: HttpTelegram) -> None:
    kinds = (Fault.SERVER_ERROR, Fault.TOO_MANY_REQUESTS, Fault.DROP_AFTER, Fault.FORBIDDEN_PRIVATE)
    plan = FaultPlan(ratio=0.3, kinds=kinds, methods=frozenset({"sendMessage"}), seed=42)
    async with http_bot(double, read_timeout=2.0) as bot:
        first = await fault_sequence(double, bot, plan, 60)
        again = await fault_sequence(double, bot, plan, 60)
    assert first == again  # the same seed replays the same faults
    failed = [fault for fault in first if fault is not None]
    assert 8 <= len(failed) <= 30 and set(failed) == set(plan.kinds)
    assert all(call.fault is None for call in double.calls("getChat"))  # other methods untouched
    # 403 only ever hit the private chat (odd numbers went to the group).
    sends = double.calls("sendMessage")
    assert all(c.params["chat_id"] == BOB for c in sends if c.fault is Fault.FORBIDDEN_PRIVATE)
    # What acted is exactly what is in the world.
    with double.world() as fake:
        in_world = len(fake.sent(GROUP, include_deleted=True)) + len(fake.sent(BOB, include_deleted=True))
    assert in_world == len(double.acted("sendMessage"))


def test_a_plan_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="ratio"):
        FaultPlan(ratio=1.5)
    with pytest.raises(ValueError, match="at least one"):
        FaultPlan(ratio=0.1, kinds=())
    with pytest.raises(ValueError):
        FaultPlan(ratio=0.1, kinds=("418",))  # type: ignore[arg-type]


async def test_deletions_are_timed_when_they_act(double: HttpTelegram, bot: Bot) -> None:
    double.fake.set_bot_member(GROUP, "administrator", can_delete_messages=True)
    notice = double.message(GROUP, OWNER, "通知")
    acks = [double.reply(GROUP, ALICE, "收到", to=notice) for _ in range(3)]
    await bot.delete_message(GROUP, acks[0])
    await bot.delete_messages(GROUP, acks[1:])
    deleted, posted = double.deleted_at(), double.posted_at()
    assert set(deleted) == {(GROUP, ack) for ack in acks}
    assert all(deleted[key] >= posted[key] for key in deleted)

"""`jianfu demo`: the real application, offline, against the in-memory Bot API, with a script."""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from telegram import Update

from bot.app import build_application
from bot.context import Deps
from bot.handlers.whistle_review import ensure_batch_scheduled
from bot.i18n import fill
from bot.jobs.digest import plan_due_digest
from bot.jobs.sweep import run_due_tasks
from bot.replay.command import ReplayOptions
from bot.replay.command import run_async as run_replay
from bot.settings import load_settings
from bot.testing.exports import ExportedChat, whole_account, write
from bot.testing.fake import Call, FakeTelegram
from bot.testing.updates import UpdateFactory
from policies.clock import FakeClock
from storage.db import Database
from storage.migrate import upgrade

SUPERVISOR, ADMIN, MEMBER, NEWCOMER = 1001, 2001, 3001, 3002
# A department's section chief in the group who has never opened a chat with the bot.
CHIEF = 3003
GROUP = -1001234500001
# A second work group of the same secretary, where the same notice arrives again.
SECOND_GROUP = -1001234500002
# The civil affairs bureau's own chat, where its weekly card goes.
DEPARTMENT_CHAT = -1001234500009
START = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
ALL_RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)


@dataclass
class Demo:
    """The running application plus what the script needs to drive it and narrate."""

    app: Any
    fake: FakeTelegram
    updates: UpdateFactory
    clock: FakeClock
    deps: Deps
    english: bool
    # Where the demo keeps its files (the database, the export it replays).
    workdir: Path
    printed_calls: int = 0

    def text(self, key: str, **params: Any) -> str:
        """Narration in the demo's language: terminal text, so nothing is HTML-escaped."""
        return fill(self.deps.catalog.raw(self.language, f"demo.{key}"), params)

    def line(self, key: str, **params: Any) -> None:
        print(self.text(key, **params))

    def scene(self, key: str, **params: Any) -> None:
        print(f"\n== {self.text(f'scene.{key}', **params)} ==")

    def step(self, person: int, key: str, **params: Any) -> None:
        print(f"\n{self.text('acts', name=self.name(person), action=self.text(f'step.{key}', **params))}")

    def time(self, key: str, **params: Any) -> None:
        print(f"\n{self.text(f'time.{key}', **params)}")

    @property
    def language(self) -> str:
        return "en" if self.english else "zh-CN"

    def name(self, chat_id: int) -> str:
        if chat_id in self.fake.chats and not self.fake.chats[chat_id].is_private:
            return self.fake.chats[chat_id].title
        return self.fake.users[chat_id]["first_name"] if chat_id in self.fake.users else str(chat_id)

    async def say(self, chat_id: int, user_id: int, text: str, **options: Any) -> int:
        """A person writes; returns the message id."""
        where = self.text("private") if chat_id == user_id else self.name(chat_id)
        print(f"\n{self.text('says', name=self.name(user_id), where=where, text=text)}")
        update = self.updates.message(chat_id, user_id, text, **options)
        await self.deliver(update)
        return update.message.message_id

    async def deliver(self, update: Update) -> None:
        await self.app.process_update(update)
        self.narrate()

    def narrate(self) -> None:
        """Print every Bot API call the bot made since the last narration."""
        for call in self.fake.calls[self.printed_calls :]:
            line = describe_call(self, call)
            if line:
                print(f"   🤖 {line}")
        self.printed_calls = len(self.fake.calls)


def describe_call(demo: Demo, call: Call) -> str | None:
    params = call.params
    chat = demo.name(int(params["chat_id"])) if "chat_id" in params else ""
    if call.method == "sendMessage":
        return demo.text("send", chat=chat, text=_plain(params["text"]), buttons=_buttons(params.get("reply_markup")))
    if call.method == "sendPhoto":
        return demo.text("photo", chat=chat, caption=_plain(params.get("caption", "")))
    if call.method == "editMessageText":
        return demo.text("edit", chat=chat, text=_plain(params["text"]), buttons=_buttons(params.get("reply_markup")))
    if call.method == "answerCallbackQuery" and params.get("text"):
        return demo.text("popup", text=params["text"])
    if call.method in ("getChatAdministrators", "getChatMemberCount"):
        return demo.text("asks", method=call.method, chat=chat)
    if call.method in CALLS:
        return demo.text(CALLS[call.method], chat=chat, **params)
    return None


# The narration key of Bot API calls told by their parameters alone.
CALLS = {
    "deleteMessage": "delete",
    "pinChatMessage": "pin",
    "setChatPermissions": "read_only",
    "revokeChatInviteLink": "revoke_link",
    "setChatTitle": "rename",
    "leaveChat": "leave",
}


def _plain(html: str) -> str:
    text = re.sub(r"<[^>]+>", "", html)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return "\n".join(("      " + line if index and line else line) for index, line in enumerate(text.split("\n")))


def _buttons(markup: Any) -> str:
    if not markup:
        return ""
    labels = [button["text"] for row in markup["inline_keyboard"] for button in row]
    return "\n      [" + "] [".join(labels) + "]"


def _world(fake: FakeTelegram, english: bool) -> None:
    language = "en" if english else "zh-hans"
    names = {SUPERVISOR: "王主任", ADMIN: "李书记", MEMBER: "张三", NEWCOMER: "王芳", CHIEF: "赵科长"}
    if english:
        names = {
            SUPERVISOR: "Director Wang",
            ADMIN: "Secretary Li",
            MEMBER: "Zhang San",
            NEWCOMER: "Wang Fang",
            CHIEF: "Chief Zhao",
        }
    for user_id, name in names.items():
        fake.add_user(user_id, name, language_code=language)
    title = "Chaoyang Community Work Group" if english else "朝阳社区工作群"
    fake.add_group(GROUP, title, creator_id=ADMIN, members=[MEMBER, CHIEF])
    second = "Xiangyang Community Work Group" if english else "向阳社区工作群"
    fake.add_group(SECOND_GROUP, second, creator_id=ADMIN, members=[MEMBER])
    fake.add_group(DEPARTMENT_CHAT, "Civil Affairs Bureau" if english else "民政局工作联络群", creator_id=SUPERVISOR)


async def _script(demo: Demo) -> None:
    say = demo.say
    demo.scene("registry")
    await say(SUPERVISOR, SUPERVISOR, "/start")
    await say(SUPERVISOR, SUPERVISOR, "/dept add 民政局 units 12 code MZ")
    await say(SUPERVISOR, SUPERVISOR, "/dept add 卫生健康委员会 code 卫健委")

    demo.scene("join")
    await say(ADMIN, ADMIN, "/start")
    demo.step(ADMIN, "adds_bot", group=demo.name(GROUP))
    await demo.deliver(demo.updates.my_chat_member(GROUP, ADMIN, old="left", new="member"))
    demo.step(ADMIN, "promotes")
    await demo.deliver(demo.updates.my_chat_member(GROUP, ADMIN, old="member", new="administrator", rights=ALL_RIGHTS))

    demo.scene("register")
    await say(GROUP, MEMBER, "大家早上好" if not demo.english else "Good morning, everyone")
    await say(GROUP, ADMIN, "/register 民政")
    question = demo.fake.sent(GROUP)[-1]
    await _press_first(demo, MEMBER, GROUP, question)
    await _press_first(demo, ADMIN, GROUP, question)

    demo.scene("roles")
    await say(MEMBER, MEMBER, "/dept add 交通局")
    await say(SUPERVISOR, SUPERVISOR, f"/grant {MEMBER} contact 民政局")
    demo.step(NEWCOMER, "joins", group=demo.name(GROUP))
    await demo.deliver(demo.updates.chat_member(GROUP, NEWCOMER, old="left", new="member"))
    await say(SUPERVISOR, SUPERVISOR, "/groups")

    await _help(demo)
    await _received_rule(demo)

    demo.scene("expire")
    demo.time("expire")
    demo.clock.advance(timedelta(minutes=10))
    await _sweep(demo)

    await _notices(demo)
    await _duplicate_notice(demo)
    await _urgent(demo)
    await _formalism(demo)
    await _held_notice(demo)
    await _set_digest(demo)
    await _temporary_group(demo)
    await _whistle(demo)
    await _weekly_digest(demo)
    await _replay(demo)


async def _help(demo: Demo) -> None:
    """/help differs by person and chat: a member in the group, the admin there, a supervisor privately."""
    demo.scene("help")
    await demo.say(GROUP, MEMBER, "/help")
    await demo.say(GROUP, ADMIN, "/help")
    await demo.say(SUPERVISOR, SUPERVISOR, "/help")


async def _replay(demo: Demo) -> None:
    """`jianfu replay` on a small chat export, with the demo's database as the registry."""
    demo.scene("replay")
    path = write(demo.workdir / "result.json", whole_account(_history(demo.english)))
    print(demo.text("replay_command", file=path.name) + "\n")
    options = ReplayOptions((path,), "en" if demo.english else "zh-CN", database=demo.deps.settings.database.url)
    await run_replay(demo.deps.settings, options)


# The replayed history's words, in each language of the demo.
HISTORY_WORDS = {
    False: {
        "groups": ("朝阳社区工作群", "向阳社区工作群"), "people": ("李书记", "张三", "王芳"),
        "request": "【通知】请各网格于11月20日前报送独居老人走访台账，收到请回复。",
        "ack": "收到！", "question": "收到，不过表格第二页打不开？", "noted": "收到",
        "late": "#通知 明早8点前各网格上报积水点位", "talk": "明天上午我去街道开会",
    },
    True: {
        "groups": ("Chaoyang Community Work Group", "Xiangyang Community Work Group"),
        "people": ("Secretary Li", "Zhang San", "Wang Fang"),
        "request": "Notice: each grid submits the elderly-visit form by Nov 20. Please reply 'received'.",
        "ack": "Received!", "question": "Received, but page 2 of the form will not open?", "noted": "noted",
        "late": "#notice Each grid reports flooded spots by 8:00 tomorrow.",
        "talk": "I am at the sub-district office tomorrow morning",
    },
}  # fmt: skip


def _history(english: bool) -> list[ExportedChat]:
    """A week of two work groups, before Jianfu: acks, a demand, a copied request, a late notice."""
    words = HISTORY_WORDS[english]
    first, second = (ExportedChat(1234500001 + index, name) for index, name in enumerate(words["groups"]))
    secretary, zhang, wang = ((2001, words["people"][0]), (3001, words["people"][1]), (3002, words["people"][2]))
    at = datetime(2026, 11, 16, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
    minutes = lambda count: at + timedelta(minutes=count)  # noqa: E731
    notice = first.message(secretary, words["request"], at=at)
    first.message(zhang, words["ack"], at=minutes(1), reply_to=notice)
    first.message(wang, at=minutes(2), sticker="👍", reply_to=notice)
    first.message(wang, words["question"], at=minutes(3), reply_to=notice)
    copy = second.message(secretary, words["request"], at=minutes(20))
    second.message(zhang, words["noted"], at=minutes(21), reply_to=copy)
    evening = second.message(secretary, words["late"], at=minutes(13 * 60 + 30))  # 22:30: after hours
    second.message(wang, words["noted"], at=minutes(13 * 60 + 31), reply_to=evening)
    first.message(zhang, words["talk"], at=minutes(24 * 60))
    return [first, second]


async def _weekly_digest(demo: Demo) -> None:
    say = demo.say
    demo.scene("digest")
    await say(SUPERVISOR, SUPERVISOR, f"/dept contact 民政局 {DEPARTMENT_CHAT}")
    await say(SUPERVISOR, SUPERVISOR, "/digest this")
    # Monday 30 November, 09:00 in Shanghai: the digest is due.
    demo.clock.set(datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    demo.time("digest", time=demo.deps.settings.digest.time)
    await plan_due_digest(demo.deps)
    await _sweep(demo, rounds=2)  # the first plans one delivery per recipient, the second sends them


async def _whistle(demo: Demo) -> None:
    english, say = demo.english, demo.say
    demo.scene("whistle")
    await say(NEWCOMER, NEWCOMER, "/start whistle")
    await _press(demo, NEWCOMER, "民政局")
    await _press(demo, NEWCOMER, "data_request")
    description = "民政局每周让各网格重复填报同一张独居老人台账，这个月已经第三次了。"
    if english:
        description = (
            "The civil affairs bureau has us fill in the same elderly-visit form every week: third time this month."
        )
    await say(NEWCOMER, NEWCOMER, description)
    await _press(demo, NEWCOMER, ":e")
    await _press(demo, NEWCOMER, ":s")
    code = re.search(r"[0-9A-Z]{4}(?:-[0-9A-Z]{4}){4}", demo.fake.sent(NEWCOMER)[-1]["text"]).group(0)
    times = demo.deps.settings.whistle.batch_times
    demo.time("whistle_batch", times=demo.deps.catalog.raw(demo.language, "list_separator").join(times))
    local = demo.clock().astimezone(demo.deps.settings.tz)
    demo.clock.set(datetime.combine(local.date(), time(15, 0), tzinfo=demo.deps.settings.tz).astimezone(UTC))
    await _sweep(demo, rounds=2)  # the batch, then one notification per supervisor
    await say(SUPERVISOR, SUPERVISOR, "/whistles")
    await _press(demo, SUPERVISOR, "wr1:o:")
    await _press(demo, SUPERVISOR, "wr1:r:")
    answer = "已约谈民政局，下周起台账只报一次，由街道统一汇总。"
    if english:
        answer = "We met the bureau: from next week the form is filed once and the sub-district compiles it."
    await say(SUPERVISOR, SUPERVISOR, answer)
    await say(NEWCOMER, NEWCOMER, f"/status {code}")


async def _sweep(demo: Demo, rounds: int = 1) -> None:
    """Run the due work (what the sweep job does every few seconds) and narrate it."""
    for _round in range(rounds):
        await run_due_tasks(demo.deps, demo.app.bot)
    demo.narrate()


async def _press(demo: Demo, user: int, wanted: str) -> None:
    """Press the button in the user's latest keyboard whose label or data contains `wanted`."""
    message = next(m for m in reversed(demo.fake.sent(user)) if m.get("reply_markup"))
    buttons = [b for row in message["reply_markup"]["inline_keyboard"] for b in row]
    button = next(b for b in buttons if wanted in b["text"] or wanted in b.get("callback_data", ""))
    await _press_button(demo, user, user, message, button)


async def _press_first(demo: Demo, user: int, chat_id: int, message: dict[str, Any]) -> None:
    await _press_button(demo, user, chat_id, message, message["reply_markup"]["inline_keyboard"][0][0])


async def _press_button(demo: Demo, user: int, chat_id: int, message: dict[str, Any], button: dict[str, Any]) -> None:
    print(f"\n{demo.text('presses', name=demo.name(user), label=button['text'])}")
    await demo.deliver(demo.updates.callback(user, chat_id, message["message_id"], button["callback_data"]))


async def _notices(demo: Demo) -> None:
    english, say = demo.english, demo.say
    demo.scene("notices")
    notice = await say(GROUP, ADMIN, FIRE_NOTICE[english])
    await say(MEMBER, MEMBER, "/start")
    await say(MEMBER, MEMBER, "/inbox")
    inbox = demo.fake.sent(MEMBER)[-1]
    read = inbox["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    demo.step(MEMBER, "reads_in_inbox")
    await demo.deliver(demo.updates.callback(MEMBER, MEMBER, inbox["message_id"], read))
    demo.step(ADMIN, "asks_readers")
    await say(GROUP, ADMIN, "/readers", reply_to=notice)


FLOOD_NOTICE = {
    False: "【通知】请各网格于12月5日前报送防汛物资清单。",
    True: "Notice: each grid submits its flood-supplies list by Dec 5.",
}
FIRE_NOTICE = {
    False: "【通知】请各网格于11月30日前报送第四季度消防隐患排查表。",
    True: "Notice: each grid submits the fire-safety checklist by Nov 30.",
}


async def _duplicate_notice(demo: Demo) -> None:
    """The same notice in two groups: one inbox entry for a member of both, noting the other group."""
    demo.scene("duplicate")
    demo.step(ADMIN, "adds_second_group", group=demo.name(SECOND_GROUP))
    promoted = demo.updates.my_chat_member(SECOND_GROUP, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS)
    await demo.deliver(promoted)
    demo.step(MEMBER, "joins", group=demo.name(SECOND_GROUP))
    await demo.deliver(demo.updates.chat_member(SECOND_GROUP, MEMBER, old="left", new="member"))
    await demo.say(GROUP, ADMIN, FLOOD_NOTICE[demo.english])
    await demo.say(SECOND_GROUP, ADMIN, FLOOD_NOTICE[demo.english])
    await demo.say(MEMBER, MEMBER, "/inbox")


async def _urgent(demo: Demo) -> None:
    """/urgent: asking for replies is allowed for urgent matters, so a "received" to it stays."""
    demo.scene("urgent")
    text = "今晚有台风，各网格立即排查危房并回复“收到”。"
    if demo.english:
        text = "Typhoon tonight: check unsafe houses now and reply 'received'."
    notice = await demo.say(GROUP, ADMIN, f"/urgent {text}")
    await demo.say(GROUP, MEMBER, "Received!" if demo.english else "收到！", reply_to=notice)


async def _held_notice(demo: Demo) -> None:
    english, say = demo.english, demo.say
    demo.scene("held")
    demo.clock.advance(timedelta(hours=13) - (demo.clock() - START))
    text = (
        "/notice 明早8点前各网格上报积水点位。"
        if not english
        else "/notice Each grid reports flooded spots by 8:00 tomorrow."
    )
    await say(GROUP, ADMIN, text)
    await _press_first(demo, ADMIN, ADMIN, demo.fake.sent(ADMIN)[-1])
    demo.clock.advance(timedelta(hours=9, minutes=30))
    demo.time("morning")
    await _sweep(demo)


async def _set_digest(demo: Demo) -> None:
    demo.scene("set", group=demo.name(SECOND_GROUP))
    await demo.say(SECOND_GROUP, ADMIN, "/set digest on")


async def _temporary_group(demo: Demo) -> None:
    english, say = demo.english, demo.say
    settings = demo.deps.settings.temporary
    close_days, reminder_hours, extend_days = settings.close_after_days, settings.reminder_hours, 2
    demo.scene("temporary", days=close_days)
    await say(GROUP, ADMIN, "/temp Census 2026" if english else "/temp 2026年人口普查")
    await say(GROUP, ADMIN, "/done")
    await say(GROUP, ADMIN, f"/extend {extend_days} " + ("late census forms" if english else "人口普查补登"))
    # The reminder comes `reminder_hours` before the (put off) close, the close itself after that.
    until_close = timedelta(days=close_days + extend_days)
    until_reminder = until_close - timedelta(hours=reminder_hours)
    demo.time("reminder", days=until_reminder.days, hours=reminder_hours)
    demo.clock.advance(until_reminder)
    await _sweep(demo)
    demo.time("close", days=(until_close - until_reminder).days)
    demo.clock.advance(until_close - until_reminder)
    await _sweep(demo)


async def _received_rule(demo: Demo) -> None:
    english, say = demo.english, demo.say
    demo.scene("received")
    await say(GROUP, ADMIN, "/rules")
    demand = "【通知】请各网格于周五17:00前报送独居老人走访台账，收到请回复。"
    if english:
        demand = "Notice: each grid submits the elderly-visit form by Friday 17:00. Please reply 'received'."
    notice = await say(GROUP, ADMIN, demand)
    await say(GROUP, MEMBER, "Received!" if english else "收到！", reply_to=notice)
    await say(GROUP, NEWCOMER, "👍", reply_to=notice)
    question = "Received, but page 2 of the form will not open?" if english else "收到，不过表格第二页打不开？"
    await say(GROUP, NEWCOMER, question, reply_to=notice)

    demo.step(ADMIN, "presses_reminder")
    reminder = demo.fake.sent(ADMIN)[-1]
    convert = reminder["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await demo.deliver(demo.updates.callback(ADMIN, ADMIN, reminder["message_id"], convert))
    tracked = demo.fake.sent(GROUP)[-1]
    read = tracked["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    demo.clock.advance(timedelta(seconds=6))
    demo.step(SUPERVISOR, "reacts")
    demo.fake.set_member(GROUP, SUPERVISOR, "member")
    await demo.deliver(demo.updates.reaction(GROUP, tracked["message_id"], SUPERVISOR, new=("👍",)))
    demo.step(MEMBER, "reads_again")
    await demo.deliver(demo.updates.callback(MEMBER, GROUP, tracked["message_id"], read))


async def _formalism(demo: Demo) -> None:
    english, say = demo.english, demo.say
    demo.scene("formalism")
    demand = "从明天起，各网格员每天早上8点前在群里打卡，走访时拍照发群里。"
    if english:
        demand = (
            "From tomorrow every grid worker checks in here by 8:00 each morning "
            "and posts a photo of each visit in the group."
        )
    await say(GROUP, ADMIN, demand)
    # A pledge with nothing of its own ("收到，马上安排") is an ack like any other.
    await say(GROUP, MEMBER, "Received, will handle" if english else "收到，马上安排")

    demo.scene("unreachable", name=demo.name(CHIEF))
    demand = "【通知】周五前报送台账，请各网格员看到后回复收到。"
    if english:
        demand = "Notice: the form is due Friday. Everyone reply 'received' when you see this."
    await say(GROUP, CHIEF, demand)
    demo.step(CHIEF, "opens_chat")
    await say(CHIEF, CHIEF, "/start")
    await _press(demo, CHIEF, "cv1:")


async def run_demo(language: str | None = None) -> int:
    english = language == "en"
    # The narration is the demo's output; the jobs' progress lines would only interrupt it.
    bot_logger = logging.getLogger("bot")
    level = bot_logger.level
    bot_logger.setLevel(logging.WARNING)
    try:
        return await _run_demo(english)
    finally:
        bot_logger.setLevel(level)


async def _run_demo(english: bool) -> int:
    clock = FakeClock(START)
    fake = FakeTelegram(clock=clock)
    _world(fake, english)
    with tempfile.TemporaryDirectory(prefix="jianfu-demo-") as directory:
        url = f"sqlite+aiosqlite:///{Path(directory) / 'demo.db'}"
        settings = load_settings(
            None,
            telegram={"token": "123456:DEMO"},
            language="en" if english else "zh-CN",
            database={"url": url},
            roles={"supervisors": [SUPERVISOR]},
        )
        db = Database.from_url(url)
        await upgrade(db.engine)
        deps = Deps.create(settings, db=db, clock=clock, request=fake)
        app = build_application(settings, deps)
        # A running bot schedules its first whistle batch at start-up; the demo does it here.
        await ensure_batch_scheduled(deps)
        try:
            async with app:
                demo = Demo(app, fake, UpdateFactory(fake, app.bot), clock, deps, english, Path(directory))
                demo.line("intro")
                await _step_all(demo, _script)
        finally:
            await db.dispose()
    fake.assert_no_unknown_calls()
    print(f"\n{demo.text('finished', calls=len(fake.calls), messages=len(fake.sent()))}")
    return 0


async def _step_all(demo: Demo, script: Callable[[Demo], Awaitable[None]]) -> None:
    demo.printed_calls = len(demo.fake.calls)  # skip getMe from start-up
    await script(demo)

"""A busy deployment for tests of `jianfu run` as a real process: crashes, faults and replicas.

Before the bot starts, the database already holds what falls due at once: a temporary group
whose close time has passed, last week's digest (the bot has been in a group for two weeks),
a whistle report waiting for its batch, and a notice whose deadline reminder is due. While the
bot runs, people post notices, demands and acks. `check()` then holds the invariants:

- every ack posted is deleted in the group and recorded as a read (none deleted without its read);
- no message people read is sent twice (summary, digest, reminders, whistle notifications);
- nothing due is skipped: each such message went out, or Telegram may have taken it and Jianfu
  recorded it as uncertain (a kill or a lost answer between marking it "sending" and the answer);
- the temporary group is closed and the bot has left it.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from bot.testing.http_double import HttpTelegram
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Chat, Membership, Notice, OutboxAction, Person, Read, Task
from storage.repositories.departments import DepartmentRepository
from storage.repositories.whistles import WhistleRepository

GROUP, OLD, TEMP = -1001234500001, -1001234500002, -1001234500003
SUPERVISOR, ADMIN = 1001, 2001
MEMBERS = tuple(range(3001, 3021))
REACHABLE = MEMBERS[:5]  # started the bot: deadline reminders and tips go to them
RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)
SETTINGS = {"roles": {"supervisors": [SUPERVISOR]}}
SUMMARY, DIGEST, WHISTLE_BATCH, DEADLINE = "工作总结", "减负周报 ·", "新的匿名反映：", "截止提醒"


@dataclass
class Busy:
    double: HttpTelegram
    database_url: str
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    notice: int = 0
    acks: dict[int, int] = field(default_factory=dict)  # message id -> the member who acked
    demands: Counter = field(default_factory=Counter)  # sender -> demands posted

    def build_world(self) -> None:
        with self.double.world() as fake:
            fake.add_user(SUPERVISOR, "王主任")
            fake.add_user(ADMIN, "李管理")
            for member in MEMBERS:
                fake.add_user(member, f"成员{member}")
            for person in (SUPERVISOR, ADMIN, *REACHABLE):
                fake.start_private_chat(person)
            for chat, title in ((GROUP, "朝阳社区工作群"), (OLD, "老工作群"), (TEMP, "人口普查临时群")):
                fake.add_group(chat, title, creator_id=ADMIN, members=list(MEMBERS))
            for chat in (OLD, TEMP):
                fake.set_bot_member(chat, "administrator", **RIGHTS)

    async def seed(self) -> None:
        """What falls due at the first start, written before the bot ever runs."""
        db = Database.from_url(self.database_url)
        try:
            await upgrade(db.engine)
            async with db.transaction() as session:
                await self._seed(session)
        finally:
            await db.dispose()

    async def _seed(self, session) -> None:
        now = datetime.now(UTC)
        department = await DepartmentRepository(session).add("民政局", "mz", 1, now - timedelta(days=20))
        long_ago = now - timedelta(days=14)
        for person in (SUPERVISOR, ADMIN, *MEMBERS):
            session.add(
                Person(
                    id=person,
                    display_name=str(person),
                    has_private_chat=person in (SUPERVISOR, ADMIN, *REACHABLE),
                    first_seen_at=long_ago,
                    last_seen_at=long_ago,
                )
            )
        past = now - timedelta(hours=1)
        for chat, kind, state, title in (
            (OLD, "permanent", "active", "老工作群"),
            (TEMP, "temporary", "done", "人口普查临时群"),
        ):
            session.add(
                Chat(
                    id=chat,
                    title=title,
                    type="supergroup",
                    department_id=department.id,
                    kind=kind,
                    state=state,
                    bot_status="administrator",
                    bot_rights={"is_admin": True, **RIGHTS},
                    member_count=len(MEMBERS) + 2,
                    joined_at=long_ago,
                    close_at=past if kind == "temporary" else None,
                    done_at=past - timedelta(days=3),
                )
            )
        await session.flush()
        for chat in (OLD, TEMP):
            session.add(Membership(chat_id=chat, person_id=ADMIN, status="creator", last_seen_at=long_ago))
            for member in MEMBERS:
                session.add(Membership(chat_id=chat, person_id=member, status="member", last_seen_at=long_ago))
        notice = Notice(
            chat_id=OLD,
            message_id=1,
            sender_id=ADMIN,
            department_id=department.id,
            text="【通知】今天下班前报送台账",
            kind="data_request",
            posted_at=now - timedelta(hours=3),
            deadline_at=now + timedelta(hours=1),
        )
        session.add(notice)
        await session.flush()
        await WhistleRepository(session).add(
            department_id=department.id,
            department_name=None,
            category="data_request",
            description="同一份台账本周被三个科室分别要求报送，每次格式都不一样。",
            evidence=[],
            code_bucket=1,
            code_hash="x",
            today=date.today() - timedelta(days=1),
        )
        session.add_all(
            [
                Task(
                    kind="temp_close",
                    key=f"temp_close:{TEMP}:{past.isoformat()}",
                    due_at=past,
                    payload={"chat_id": TEMP, "close_at": past.isoformat()},
                ),
                Task(kind="whistle_batch", key="whistle_batch:test", due_at=past, payload={}),
                Task(
                    kind="deadline_remind",
                    key="deadline_remind:test",
                    due_at=past,
                    payload={"notice_id": notice.id, "deadline_at": notice.deadline_at.isoformat()},
                ),
            ]
        )

    # Traffic ----------------------------------------------------------------------------------

    def open_group(self) -> None:
        """The bot is made an admin of the working group; its admin posts the notice people ack."""
        self.double.bot_joined(GROUP, ADMIN, **RIGHTS)
        self.notice = self.double.message(GROUP, ADMIN, "【通知】周五下午三点在社区活动室召开网格员例会")

    def burst(self, size: int) -> None:
        """Acks to the notice, with some chat and the odd ack demand among them."""
        for _ in range(size):
            roll = self.rng.random()
            member = self.rng.choice(MEMBERS)
            if roll < 0.7:
                self.acks[
                    self.double.reply(
                        GROUP, member, self.rng.choice(["收到", "收到！", "已收到", "收到了"]), to=self.notice
                    )
                ] = member
            elif roll < 0.8:
                self.demands[ADMIN] += 1
                self.double.message(
                    GROUP, ADMIN, f"【通知】请各网格明天报送第{self.rng.randrange(1000)}号表，收到请回复"
                )
            else:
                self.double.message(GROUP, member, self.rng.choice(["大家辛苦了", "明天几点开会？", "表格在哪里下载"]))

    # Outcomes ---------------------------------------------------------------------------------

    def acks_done(self) -> bool:
        with self.double.world() as fake:
            return all(fake.is_deleted(GROUP, message_id) for message_id in self.acks)

    def sent_texts(self, chat_id: int | None = None) -> list[tuple[int, str]]:
        """Every text message that went out (sendMessage calls that acted), with its chat."""
        sent = []
        for call in self.double.acted():
            if call.method.lower() != "sendmessage":
                continue
            chat = int(call.params.get("chat_id", 0))
            if chat_id is None or chat == chat_id:
                sent.append((chat, str(call.params.get("text") or "")))
        return sent

    def count(self, marker: str, chat_id: int | None = None) -> Counter:
        return Counter(chat for chat, text in self.sent_texts(chat_id) if marker in text)

    async def everything_settled(self) -> bool:
        """Nothing left to do: no outbox row or task due, the group closed."""
        db = Database.from_url(self.database_url)
        try:
            async with db.transaction() as session:
                open_rows = await session.scalar(
                    select(func.count()).select_from(OutboxAction).where(OutboxAction.state.in_(("pending", "sending")))
                )
                closed = (await session.get(Chat, TEMP)).state == "closed"
        finally:
            await db.dispose()
        return not open_rows and closed

    async def check(self) -> dict[str, int]:
        """The invariants; returns what was counted (for the test's own report)."""
        db = Database.from_url(self.database_url)
        try:
            async with db.transaction() as session:
                reads = {(row.message_id, row.person_id) for row in (await session.scalars(select(Read))).all()}
                # Why a due message did not go out: Telegram may have taken it (uncertain), or the
                # person cannot be reached (they blocked the bot: a 403).
                uncertain = Counter(
                    chat
                    for (chat,) in (
                        await session.execute(
                            select(OutboxAction.chat_id).where(
                                (OutboxAction.state == "uncertain") | (OutboxAction.outcome == "unreachable")
                            )
                        )
                    ).all()
                )
                temp = await session.get(Chat, TEMP)
        finally:
            await db.dispose()
        with self.double.world() as fake:
            deleted = {message_id for message_id in self.acks if fake.is_deleted(GROUP, message_id)}
            bot_left = fake.member_status(TEMP, fake.bot_id) == "left"
        # Every ack deleted, and each deletion with its read: none lost, none deleted unrecorded.
        assert deleted == set(self.acks), f"{len(set(self.acks) - deleted)} ack(s) never deleted"
        unread = [m for m, person in self.acks.items() if (self.notice, person) not in reads]
        assert not unread, f"{len(unread)} ack(s) deleted without their read"
        # Messages people read: at most once each, and each due one sent or recorded as uncertain.
        for marker, chats in (
            (SUMMARY, [TEMP]),
            (DIGEST, [SUPERVISOR]),
            (WHISTLE_BATCH, [SUPERVISOR]),
            (DEADLINE, list(REACHABLE)),
        ):
            counts = self.count(marker)
            for chat in chats:
                assert counts[chat] <= 1, f"{marker!r} sent {counts[chat]} times to {chat}"
                assert counts[chat] == 1 or uncertain[chat], f"{marker!r} never sent to {chat}, and nothing says why"
        reminders = self.count("要求大家回复")
        assert reminders[ADMIN] <= self.demands[ADMIN], "an ack demand reminded twice"
        assert temp.state == "closed" and bot_left
        return {"acks": len(self.acks), "uncertain": sum(uncertain.values()), "demands": self.demands[ADMIN]}

"""Benchmark: `jianfu replay` on a 1,000,000-message whole-account export, against two references.

Run: python tests/perf/bench_replay.py [MESSAGES] [--keep PATH [--reuse]]   (prints JSON)

The export is generated first (not timed): 150 work groups over 26 weeks plus personal chats and
a channel, in Telegram Desktop's format, with a busy deployment's mix: ordinary talk, acks replying
to notices or following them, notices (some copied across groups, some with deadlines, some after
hours), ack demands, replies to older messages, stickers, photos and files with captions, forwards,
edits, formatted texts as entity pieces, service messages, /temp and /done.

Each figure is measured in a child process of its own, which reports its time and peak resident
memory: the replay (`jianfu replay FILE --json`), reading and decoding the file (the floor any
reader pays) and the standard library's json.load of the whole file (what not streaming costs).
The ratios read the same on a busy machine. Targets: under 60 s and under 500 MB.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.testing.exports import ExportedChat
from tests.perf.corpus import ACKS, CHAT, DEMANDS, LONG_NOTICE, NOTICES

GROUPS = 150
WEEKS = 26
START = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
TARGET_SECONDS, TARGET_MB = 60, 500
PEOPLE = [(3000 + number, name) for number, name in enumerate(
    ["张三", "李四", "王芳", "赵敏", "刘洋", "陈静", "杨帆", "黄磊",
     "周杰", "吴倩", "徐明", "孙丽", "马超", "朱红", "胡军", "郭华"] * 25
)]  # fmt: skip
SENDERS = [
    (2000 + number, f"{name}（街道）")
    for number, name in enumerate(["李书记", "王主任", "赵科长", "钱干事", "孙站长"] * 6)
]
DISTRICT_NOTICES = [
    "【通知】请各社区于12月5日17:00前报送第四季度独居老人走访台账。",
    "#通知 区应急管理局：本周五前完成辖区消防隐患排查，并上报排查汇总表。",
    "通知：各网格员下周一上午9点在街道三楼会议室参加安全生产例会。",
    LONG_NOTICE,
]
EMOJI = ["👍", "👌", "🙏", "😂", "🌹", "👏", "🤔", "😊"]
# (kind, weight): how often each kind of message occurs.
MIX = [
    ("talk", 45), ("ack", 20), ("notice", 3), ("demand", 1.5), ("reply", 10), ("sticker", 5), ("photo", 5),
    ("file", 2), ("service", 3), ("forward", 2), ("edited", 2), ("pieces", 1.5), ("command", 0.05),
]  # fmt: skip
# Ordinary talk rarely repeats word for word: a sentence with its own particulars.
PLACES = ["3号楼", "5单元", "幸福里", "东门", "社区服务站", "2栋", "老年活动室", "菜市场", "8号院", "卫生站"]
DETAILS = [
    "{place}{n}户已经走访完",
    "{place}的{name}说明天再来",
    "{place}还差{n}份表",
    "下午{h}点去{place}",
    "{name}，{place}那边你去一下",
]


class GroupWriter:
    """One group's messages, written to the file as they are made (the export is never held whole)."""

    def __init__(self, rng: random.Random, number: int, count: int) -> None:
        self.rng, self.count = rng, count
        self.chat = ExportedChat(1_700_000_000 + number, f"第{number}网格工作群")
        self.members = rng.sample(PEOPLE, 30)
        self.sender = rng.choice(SENDERS)
        self.notice: tuple[int, datetime] | None = None
        self.recent: list[int] = []

    def messages(self, kinds: list[str], moments: list[datetime]):
        for kind, moment in zip(kinds, moments, strict=True):
            getattr(self, f"_{kind}")(moment)
            entry = self.chat.messages.pop()
            self.recent = [*self.recent[-20:], entry["id"]]
            yield entry

    def _member(self) -> tuple[int, str]:
        return self.rng.choice(self.members)

    def _talk(self, at: datetime) -> None:
        self.chat.message(self._member(), self._sentence(), at=at)

    def _sentence(self) -> str:
        if self.rng.random() < 0.3:
            return self.rng.choice(CHAT)
        detail = self.rng.choice(DETAILS).format(
            place=self.rng.choice(PLACES), n=self.rng.randint(2, 60), name=self._member()[1], h=self.rng.randint(1, 5)
        )
        return f"{detail}，{self.rng.choice(CHAT)}" if self.rng.random() < 0.5 else detail

    def _ack(self, at: datetime) -> None:
        replying = self.notice is not None and self.rng.random() < 0.7
        text = self.rng.choice(ACKS)
        if text == "👍" and self.rng.random() < 0.5:
            self.chat.message(self._member(), at=at, sticker="👍", reply_to=self.notice[0] if replying else None)
        else:
            self.chat.message(self._member(), text, at=at, reply_to=self.notice[0] if replying else None)

    def _notice(self, at: datetime) -> None:
        if self.rng.random() < 0.3:
            text = self.rng.choice(DISTRICT_NOTICES)  # the same notice, forwarded to many groups
        else:
            text = f"{self.rng.choice(NOTICES)}（第{self.rng.randint(1, 999)}期，{self.chat.name}）"
        self.notice = (self.chat.message(self.sender, text, at=at), at)

    def _demand(self, at: datetime) -> None:
        self.notice = (self.chat.message(self.sender, self.rng.choice(DEMANDS), at=at), at)

    def _reply(self, at: datetime) -> None:
        target = self.rng.choice(self.recent) if self.recent else None
        self.chat.message(self._member(), self._sentence(), at=at, reply_to=target)

    def _sticker(self, at: datetime) -> None:
        self.chat.message(self._member(), at=at, sticker=self.rng.choice(EMOJI))

    def _photo(self, at: datetime) -> None:
        caption = self.rng.choice(["", "", "收到", "3号楼消防通道堵塞，已拍照", "【通知】停电安排见图"])
        self.chat.message(self._member(), caption, at=at, photo=True)

    def _file(self, at: datetime) -> None:
        caption = self.rng.choice(["", "附件：台账模板，请于本周五前报送", "收到"])
        self.chat.message(self.sender, caption, at=at, file="files/台账.xlsx")

    def _service(self, at: datetime) -> None:
        joiner = self._member()
        self.chat.service(self.sender, "invite_members", at=at, members=[joiner[1]])

    def _forward(self, at: datetime) -> None:
        self.chat.message(self._member(), self.rng.choice(NOTICES + CHAT), at=at, forwarded_from="区民政局")

    def _edited(self, at: datetime) -> None:
        self.chat.message(self._member(), self._sentence(), at=at, edited=at + timedelta(minutes=2))

    def _pieces(self, at: datetime) -> None:
        header = "【通知】"
        body = self.rng.choice(["明天上午{h}点开会，请准时参加。", "请于本周五前报送{place}台账，收到请回复。"]).format(
            h=self.rng.randint(8, 11), place=self.rng.choice(PLACES)
        )
        self.notice = (self.chat.message(self.sender, at=at, pieces=[{"type": "bold", "text": header}, body]), at)

    def _command(self, at: datetime) -> None:
        self.chat.message(
            self.sender, self.rng.choice(["/temp 专项排查", "/done", "/notice 今晚8点前上报积水点位"]), at=at
        )


def generate(path: Path, total: int, seed: int = 11) -> dict:
    """Write a whole-account export with `total` group messages; returns what it holds."""
    rng = random.Random(seed)
    kinds, weights = zip(*MIX, strict=True)
    counts = [total // GROUPS + (1 if number < total % GROUPS else 0) for number in range(GROUPS)]
    with path.open("w", encoding="utf-8") as out:
        out.write('{\n "about": "Here is the data you requested.",\n "chats": {\n  "about": "chats",\n  "list": [')
        for number, count in enumerate(counts):
            group = GroupWriter(rng, number, count)
            moments = sorted(_moment(rng) for _ in range(count))
            _write_chat(
                out, group.chat, group.messages(rng.choices(kinds, weights, k=count), moments), first=number == 0
            )
        for number in range(5):
            personal = ExportedChat(900_000 + number, f"私聊{number}", type="personal_chat")
            chat_messages = (
                personal.message(PEOPLE[0], "在吗", at=START + timedelta(hours=hour)) and personal.messages.pop()
                for hour in range(200)
            )
            _write_chat(out, personal, chat_messages, first=False)
        out.write("\n  ]\n }\n}\n")
    return {"groups": GROUPS, "group_messages": total, "personal_messages": 5 * 200, "bytes": path.stat().st_size}


def _moment(rng: random.Random) -> datetime:
    """Mostly working hours on weekdays (Shanghai), some evenings and weekends."""
    day = START + timedelta(days=rng.randrange(WEEKS * 7))
    if day.weekday() >= 5 and rng.random() < 0.7:
        day -= timedelta(days=day.weekday() - rng.randrange(5))
    hour = rng.uniform(8, 18) if rng.random() < 0.85 else rng.uniform(18, 24)
    return day + timedelta(hours=hour - 8)  # 08:00 Shanghai is 00:00 UTC


def _write_chat(out, chat: ExportedChat, messages, *, first: bool) -> None:
    """A chat in the list, indented one space per level as Telegram Desktop writes it."""
    meta = {"name": chat.name, "type": chat.type, "id": chat.export_id}
    header = "".join(
        f"\n    {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}," for key, value in meta.items()
    )
    out.write(("" if first else ",") + "\n   {" + header + '\n    "messages": [')
    for index, message in enumerate(messages):
        body = json.dumps(message, ensure_ascii=False, indent=1).replace("\n", "\n     ")
        out.write(("" if index == 0 else ",") + "\n     " + body)
    out.write("\n    ]\n   }")


# Measurements, each in a child process ----------------------------------------------------------


def child(mode: str, path: Path) -> None:
    started, cpu_started = time.perf_counter(), time.process_time()
    found: dict = {}
    if mode == "read":
        import codecs

        decoder, characters = codecs.getincrementaldecoder("utf-8")(), 0
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                characters += len(decoder.decode(chunk))
        found["characters"] = characters
    elif mode == "json_load":
        with path.open(encoding="utf-8") as handle:
            found["chats"] = len(json.load(handle)["chats"]["list"])
    else:
        from bot.cli import main

        sink = Path(tempfile.mkstemp(suffix=".json")[1])
        with sink.open("w") as stdout:
            previous, sys.stdout = sys.stdout, stdout
            try:
                code = main(["replay", str(path), "--json", "--no-progress", "--language", "en"])
            finally:
                sys.stdout = previous
        report = json.loads(sink.read_text())
        sink.unlink()
        keys = (
            "messages", "chats", "acks_removed", "ack_demands", "notices", "duplicate_notices",
            "after_hours_notices", "deadlines", "temporary_closes", "minutes_saved",
        )  # fmt: skip
        found = {"exit_code": code, **{key: report[key] for key in keys}}
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2), "peak_mb": round(peak_mb, 1), **found}
        )
    )


def measure(mode: str, path: Path) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", mode, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("messages", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="write the export here and keep it")
    parser.add_argument("--reuse", action="store_true", help="with --keep: measure the export already there")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    with tempfile.TemporaryDirectory(prefix="jianfu-replay-bench-") as directory:
        path = args.keep or Path(directory) / "result.json"
        started = time.perf_counter()
        if args.reuse and path.exists():
            export = {"groups": GROUPS, "group_messages": args.messages, "bytes": path.stat().st_size, "reused": True}
        else:
            export = generate(path, args.messages)
        generated = time.perf_counter() - started
        replay, read, loaded = measure("replay", path), measure("read", path), measure("json_load", path)
    messages = export["group_messages"]
    print(
        json.dumps(
            {
                "benchmark": "replay",
                "export": export,
                "generation_seconds": round(generated, 1),
                "replay": replay,
                "messages_per_second": round(messages / replay["seconds"]),
                "messages_per_cpu_second": round(messages / replay["cpu_seconds"]),
                "reference_read_decode": read,
                "reference_stdlib_json_load": loaded,
                # CPU time is what one core spends: on a shared machine the wall clock also counts waiting.
                "cpu_ratio_to_read_decode": round(replay["cpu_seconds"] / read["cpu_seconds"], 1),
                "cpu_ratio_to_json_load": round(replay["cpu_seconds"] / loaded["cpu_seconds"], 2),
                "memory_ratio_to_json_load": round(replay["peak_mb"] / loaded["peak_mb"], 2),
                "targets": {"seconds": TARGET_SECONDS, "peak_mb": TARGET_MB},
                "meets_targets": replay["cpu_seconds"] < TARGET_SECONDS and replay["peak_mb"] < TARGET_MB,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

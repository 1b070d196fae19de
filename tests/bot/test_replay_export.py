"""Reading Telegram Desktop exports: both shapes, every kind of message replay relies on, and the
one-line errors for malformed or foreign files."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.replay.export import ChatIndex, ExportError, chat_messages, index_export
from bot.replay.messages import MessageReader, command_of, content_kind, text_of
from bot.testing.exports import ExportedChat, single_chat, whole_account, write
from policies.types import ChatRef, ChatType, ContentKind

SHANGHAI = ZoneInfo("Asia/Shanghai")
T = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai
ADMIN, MEMBER = (2001, "李书记"), (3001, "张三")


def group(export_id: int = 1234500001, name: str = "朝阳社区工作群", kind: str = "private_supergroup") -> ExportedChat:
    chat = ExportedChat(export_id, name, kind)
    notice = chat.message(ADMIN, at=T, pieces=[{"type": "bold", "text": "【通知】"}, "周五前报送台账，收到请回复"])
    chat.message(MEMBER, "收到", at=T + timedelta(minutes=1), reply_to=notice)
    chat.message(MEMBER, at=T + timedelta(minutes=2), sticker="👍", reply_to=notice)
    chat.message(MEMBER, "表格第二页", at=T + timedelta(minutes=3), photo=True)
    chat.message(ADMIN, "附件：台账模板", at=T + timedelta(minutes=4), file="files/a.pdf")
    chat.message(MEMBER, "转发的通知", at=T + timedelta(minutes=5), forwarded_from="区民政局")
    chat.message(MEMBER, "改过的话", at=T + timedelta(minutes=6), edited=T + timedelta(minutes=8))
    chat.service(ADMIN, "invite_members", at=T + timedelta(minutes=7), members=["王芳"])
    return chat


def messages_of(chat: ChatIndex) -> list[dict]:
    return [raw for _timestamp, _order, _index, raw in chat_messages(chat, SHANGHAI)]


def test_a_single_chat_export_is_one_group_with_its_replies_counted(tmp_path: Path) -> None:
    [chat] = index_export(write(tmp_path / "result.json", single_chat(group())))
    assert (chat.name, chat.type, chat.export_id, chat.messages) == (
        "朝阳社区工作群",
        "private_supergroup",
        1234500001,
        8,
    )
    assert chat.is_group and chat.bot_chat_id == -1001234500001
    assert chat.replied == {1: 2}
    assert [raw["id"] for raw in messages_of(chat)] == list(range(1, 9))


def test_a_whole_account_export_lists_every_chat_and_skips_its_other_sections(tmp_path: Path) -> None:
    personal = ExportedChat(77, "王芳", "personal_chat")
    personal.message(MEMBER, "在吗", at=T)
    basic = group(4242, "老群", "private_group")
    path = write(tmp_path / "result.json", whole_account([group(), personal], left=[basic]))
    chats = index_export(path)
    assert [(chat.name, chat.is_group) for chat in chats] == [("朝阳社区工作群", True), ("王芳", False), ("老群", True)]
    assert chats[2].bot_chat_id == -4242
    # Each chat is read again from its own offset, in order.
    assert [raw["id"] for raw in messages_of(chats[2])] == list(range(1, 9))
    assert text_of(messages_of(chats[0])[0]) == "【通知】周五前报送台账，收到请回复"


def test_each_kind_of_message_becomes_what_the_bot_would_see(tmp_path: Path) -> None:
    [chat] = index_export(write(tmp_path / "result.json", single_chat(group())))
    raws = messages_of(chat)
    reader, ref = MessageReader(), ChatRef(chat.bot_chat_id, ChatType.SUPERGROUP)
    built = [
        reader.message(raw, ref, T, reply_to=raw.get("reply_to_message_id")) for raw in raws if raw["type"] == "message"
    ]
    notice, ack, sticker, photo, document, forward, edited = built
    # Built by position: every field lands where Message names it.
    ids = [raw["id"] for raw in raws if raw["type"] == "message"]
    assert [(message.chat, message.message_id, message.date, message.edited) for message in built] == [
        (ref, message_id, T, False) for message_id in ids
    ]
    assert (notice.reply_to_message_id, notice.sticker_emoji, photo.sticker_emoji) == (None, None, None)
    assert (notice.kind, notice.text, notice.sender.display_name) == (
        ContentKind.TEXT,
        "【通知】周五前报送台账，收到请回复",
        "李书记",
    )
    assert (ack.text, ack.reply_to_message_id, ack.sender.id) == ("收到", 1, 3001)
    assert (sticker.kind, sticker.sticker_emoji, sticker.reply_to_message_id) == (ContentKind.STICKER, "👍", 1)
    assert (photo.kind, photo.text) == (ContentKind.PHOTO, "表格第二页")
    assert (document.kind, document.text) == (ContentKind.DOCUMENT, "附件：台账模板")
    # A forward is judged as its forwarder's message, as the Bot API delivers it.
    assert (forward.kind, forward.text, forward.sender.id) == (ContentKind.TEXT, "转发的通知", 3001)
    assert edited.text == "改过的话"
    assert raws[-1]["type"] == "service" and raws[-1]["members"] == ["王芳"]


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        ({"media_type": "animation", "file": "x.mp4"}, ContentKind.DOCUMENT),
        ({"media_type": "voice_message", "file": "x.ogg", "text": "收到"}, ContentKind.OTHER),
        ({"media_type": "video_file", "file": "x.mp4"}, ContentKind.OTHER),
        ({"poll": {"question": "几点?"}, "text": ""}, ContentKind.OTHER),
        ({"location_information": {"latitude": 1}, "text": ""}, ContentKind.OTHER),
        ({"text": ""}, ContentKind.OTHER),
        ({"text": [{"type": "bot_command", "text": "/done"}]}, ContentKind.TEXT),
    ],
)
def test_other_media_map_as_the_bot_api_delivers_them(raw: dict, kind: ContentKind) -> None:
    assert content_kind(raw) is kind


def test_dates_without_unixtime_are_read_in_the_exporting_machines_zone(tmp_path: Path) -> None:
    chat = group()
    for raw in chat.messages:
        del raw["date_unixtime"]
    [index] = index_export(write(tmp_path / "result.json", single_chat(chat)))
    [(timestamp, _order, _index, _raw), *_rest] = chat_messages(index, SHANGHAI)
    assert timestamp == int(T.timestamp())
    [(elsewhere, *_), *_rest] = chat_messages(index, ZoneInfo("Europe/Berlin"))
    assert elsewhere == int(datetime(2026, 11, 23, 9, 0, tzinfo=ZoneInfo("Europe/Berlin")).timestamp())


def test_commands_are_read_as_telegram_marks_them() -> None:
    reader, ref = MessageReader(), ChatRef(-1, ChatType.SUPERGROUP)

    def command(text: str):
        return command_of(
            reader.message({"id": 1, "type": "message", "from_id": "user1", "text": text}, ref, T, reply_to=None)
        )

    assert (
        command("/temp 人口普查 until 12-05") == ("temp", "人口普查 until 12-05", False)
        or command("/temp 人口普查 until 12-05").name == "temp"
    )
    found = command("/Done@other_bot")
    assert (found.name, found.args, found.addressed) == ("done", "", True)
    assert command("/通知 明天") is None and command("收到 /done") is None


# Malformed and foreign files ---------------------------------------------------------------------


def error_for(tmp_path: Path, content: str | bytes) -> ExportError:
    """The error reading the export through, both passes (the first may only count messages)."""
    path = tmp_path / "result.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(ExportError) as raised:
        for chat in index_export(path):
            list(chat_messages(chat, SHANGHAI))
    return raised.value


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "empty"),
        ("[1, 2]", "json_list"),
        ("<!DOCTYPE html><html>", "html"),
        ("chat history", "not_json"),
        ('{"about": "x", "contacts": {"list": []}}', "not_an_export"),
        ('{"name": "群", "type": "private_group", "id": 5, "messages": {}}', "messages_not_list"),
        ('{"name": "群", "type": "private_group", "id": "5", "messages": []}', "chat_number"),
        ('{"name": 7, "type": "private_group", "id": 5, "messages": []}', "chat_text"),
        ('{"name": "群", "type": "private_group", "messages": []}', "chat_no_id"),
        ('{"name": "群", "type": "private_group", "id": 5, "messages": []} extra', "trailing"),
    ],
)
def test_foreign_files_are_refused_with_what_they_are(tmp_path: Path, content: str, problem: str) -> None:
    assert error_for(tmp_path, content).problem == problem


def broken_message(tmp_path: Path, message: object) -> ExportError:
    chat = group()
    chat.messages.insert(2, message)
    return error_for(tmp_path, json.dumps(single_chat(chat), ensure_ascii=False, indent=1))


@pytest.mark.parametrize(
    ("message", "problem", "params"),
    [
        ("收到", "message_not_object", {}),
        ({"type": "message", "date": "2026-11-23T09:00:00"}, "message_no_id", {}),
        ({"id": 99, "type": "message", "date": "yesterday"}, "message_no_date", {"id": 99}),
        ({"id": 99, "type": "message", "date_unixtime": "1795395600", "text": 5}, "message_bad_text", {"id": 99}),
        (
            {"id": 99, "type": "message", "date_unixtime": "1795395600", "reply_to_message_id": "1"},
            "message_not_number",
            {"id": 99, "key": "reply_to_message_id"},
        ),
        (
            {"id": 99, "type": "message", "date_unixtime": "1795395600", "from_id": 3001},
            "message_not_text",
            {"id": 99, "key": "from_id"},
        ),
    ],
)
def test_a_broken_message_is_named_by_chat_position_and_byte(
    tmp_path: Path, message: object, problem: str, params: dict
) -> None:
    error = broken_message(tmp_path, message)
    assert (error.problem, error.params) == (problem, params)
    assert (error.place.chat, error.place.chat_id, error.place.message) == ("朝阳社区工作群", 1234500001, 3)
    data = (tmp_path / "result.json").read_bytes()
    assert json.JSONDecoder().raw_decode(data[error.place.byte :].decode("utf-8"))[0] == message


def test_a_file_cut_short_names_the_message_and_byte_where_it_ends(tmp_path: Path) -> None:
    whole = json.dumps(single_chat(group()), ensure_ascii=False, indent=1).encode("utf-8")
    cut = whole[: whole.index("改过".encode())]
    error = error_for(tmp_path, cut)
    assert (error.problem, error.params["detail"]) == ("invalid_json", "unterminated string starting at")
    assert error.place.message == 7 and error.place.byte == cut.rindex(b'"')


def test_invalid_utf8_is_named_with_its_byte(tmp_path: Path) -> None:
    error = error_for(tmp_path, b'{"name": "caf\xe9", "messages": []}')
    assert (error.problem, error.place.byte) == ("not_utf8", 13)


def test_unsupported_messages_are_counted_but_never_judged(tmp_path: Path) -> None:
    chat = group()
    chat.messages.append({"id": 50, "type": "unsupported"})
    [index] = index_export(write(tmp_path / "result.json", single_chat(chat)))
    assert index.messages == 9
    assert 50 not in [raw["id"] for raw in messages_of(index)]

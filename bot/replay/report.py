"""What a replay found, as one JSON-ready object: totals, per group, per department, per sender, per week.

The burden figures are the weekly digest's (storage.repositories.digest.SPECS with their weights,
policies.digest.build_scoreboard ranks them), for the whole replayed period instead of a week. A
figure replay cannot know from an export (quota overruns, whistle reports) is zero.
"""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.replay.engine import FORMALISM_EVENT, FORMALISM_KINDS, ChatState, Replay
from bot.replay.export import ChatIndex
from policies.digest import IsoWeek, Scoreboard, build_scoreboard, burden
from policies.lifecycle import GroupState
from storage.repositories.digest import SPECS

ACK_RULES = ("ack_only", "prefixed_ack", "ack_sticker")
# Senders listed in the report: those who demanded acks or other formalism most.
TOP_SENDERS = 20


def build_report(replay: Replay, chats: list[ChatIndex], sources: Iterable[Path]) -> dict[str, Any]:
    """The report of a finished replay."""
    builder = _Builder(replay)
    groups = [chat for chat in chats if chat.is_group]
    skipped = Counter(chat.type or "unknown" for chat in chats if not chat.is_group)
    by_chat = {str(chat.export_id): builder.chat(chat) for chat in groups}
    # The total is the sum of the groups' minutes as shown (in tenths), so the lines add up.
    minutes = round(sum(chat["minutes_saved"] for chat in by_chat.values()), 1)
    totals = builder.figures(replay.tally.total(), minutes)
    return {
        "sources": [str(path) for path in sources],
        "period": builder.period(),
        "settings": builder.settings_used(),
        "messages": sum(chat.messages for chat in groups),
        "chats": len(groups),
        "chats_skipped": dict(sorted(skipped.items())),
        **totals,
        "temporary_closes": sum(1 for close in replay.closes if close.closed),
        "temporary_closes_pending": sum(1 for close in replay.closes if not close.closed),
        "burden": builder.burden_total(),
        "by_chat": by_chat,
        "by_department": builder.departments(),
        "by_sender": builder.senders(),
        "weeks": builder.weeks(),
        "temporary_groups": [
            {
                "chat": close.chat.export_id,
                "name": close.chat.name,
                "close_at": builder.local(close.close_at),
                "closed": close.closed,
            }
            for close in sorted(replay.closes, key=lambda close: close.close_at)
        ],
    }


def scoreboard_of(replay: Replay) -> Scoreboard:
    """The digest's scoreboard over the replayed period: departments with a registry, else groups."""
    return _Builder(replay).board


class _Builder:
    def __init__(self, replay: Replay) -> None:
        self.replay, self.tally, self.settings = replay, replay.tally, replay.settings
        self.counts = {scope: replay.tally.by(scope) for scope in ("chat", "department", "week", "sender")}

    # Figures -----------------------------------------------------------------------------------

    def figures(self, counts: Counter[str], minutes: float) -> dict[str, Any]:
        """The report's figures from one scope's counts."""
        return {
            "acks_removed": counts["acks_removed"],
            "acks_by_rule": {rule: counts[f"acks_removed:{rule}"] for rule in ACK_RULES},
            "acks_recorded": counts["acks_recorded"],
            "ack_demands": counts["ack_demands"],
            "reminders": counts["reminders"],
            "formalism": {kind: counts[kind] for kind in FORMALISM_KINDS},
            "notices": counts["notices"] + counts["data_requests"],
            "data_requests": counts["data_requests"],
            "duplicate_notices": counts["duplicate_notices"],
            "duplicate_data_requests": counts["duplicate_data_requests"],
            "after_hours_notices": counts["after_hours_notices"],
            "deadlines": counts["deadlines"],
            "minutes_saved": round(minutes, 1),
        }

    def digest_figures(self, counts: Counter[str], minutes: float, temporary: Counter[str]) -> dict[str, float]:
        """The weekly digest's figures (by their names in SPECS) from one scope's counts."""
        values = {
            "notices": counts["notices"],
            "data_requests": counts["data_requests"],
            "duplicate_data_requests": counts["duplicate_data_requests"],
            "ack_demands": counts["ack_demands"],
            "acks_removed": counts["acks_removed"],
            "minutes_saved": round(minutes, 1),
            "after_hours_notices": counts["after_hours_notices"],
            "temp_open": temporary["temp_open"],
            "temp_overdue": temporary["temp_overdue"],
            "temp_closed": counts["temp_closed"],
            **{f"{FORMALISM_EVENT}{kind}": counts[kind] for kind in FORMALISM_KINDS},
        }
        return {spec.name: values.get(spec.name, 0) for spec in SPECS}

    def minutes(self, include: Any, week: int | None = None) -> float:
        """Member-minutes saved by the removed acks of the chats `include` selects: each spared
        the group's other readers a message, as the digest estimates it."""
        readers = self._readers_spared
        chosen = readers.values() if week is None else [self._weekly_readers.get((order, week), 0) for order in readers]
        orders = list(readers)
        total = sum(value for order, value in zip(orders, chosen, strict=True) if include(self.replay.chats[order]))
        return total * self.settings.seconds_per_message / 60

    @functools.cached_property
    def _readers_spared(self) -> dict[int, int]:
        """Per chat: removed acks × the group's other readers."""
        spared: Counter[int] = Counter()
        for (order, _week), value in self._weekly_readers.items():
            spared[order] += value
        return {order: spared[order] for order in self.replay.chats}

    @functools.cached_property
    def _weekly_readers(self) -> dict[tuple[int, int], int]:
        removed = self.tally.removed()
        return {(order, week): count * self.replay.chats[order].readers for (order, week), count in removed.items()}

    # Scopes ------------------------------------------------------------------------------------

    def chat(self, chat: ChatIndex) -> dict[str, Any]:
        state = self.replay.chats[chat.order]
        counts = self.counts["chat"].get(chat.order, Counter())
        figures = self.figures(counts, self.minutes(lambda other: other is state))
        department = self.replay.registry.departments.get(state.department) if self.replay.registry.loaded else None
        return {
            "name": chat.name,
            "type": chat.type,
            "messages": chat.messages,
            "department": department,
            "readers": state.readers,
            **figures,
            "temporary_closes": sum(1 for close in self.replay.closes if close.closed and close.chat is chat),
            "after_close": counts["after_close"],
            "burden": burden(SPECS, self.digest_figures(counts, figures["minutes_saved"], self._temporary({state}))),
        }

    @functools.cached_property
    def board(self) -> Scoreboard:
        departments = self.counts["department"]
        current = {
            key: self.digest_figures(
                departments.get(key, Counter()),
                self.minutes(lambda s, k=key: self._key(s) == k),
                self._temporary(states),
            )
            for key, states in self._by_key().items()
        }
        for key, counts in departments.items():
            current.setdefault(key, self.digest_figures(counts, 0, Counter()))
        return build_scoreboard(SPECS, self._names(), current, {})

    def departments(self) -> list[dict[str, Any]]:
        """The scoreboard's rows: heaviest burden first, groups without a department last."""
        rows = []
        for rank, row in enumerate(self.board.rows, start=1):
            rows.append(
                {
                    "rank": rank if row.department_id is not None else None,
                    "name": row.name or None,
                    "chats": self._chats_of(row.department_id),
                    "burden": row.burden,
                    "figures": dict(row.current),
                }
            )
        return rows

    def senders(self) -> list[dict[str, Any]]:
        ranked = sorted(
            self.counts["sender"].items(),
            key=lambda item: (
                -item[1]["ack_demands"],
                -sum(item[1][kind] for kind in FORMALISM_KINDS),
                -item[1]["notices"],
                item[0],
            ),
        )
        return [
            {
                "id": person,
                "name": self.tally.sender_names.get(person, ""),
                "ack_demands": counts["ack_demands"],
                "formalism": {kind: counts[kind] for kind in FORMALISM_KINDS},
                "notices": counts["notices"] + counts["data_requests"],
                "after_hours_notices": counts["after_hours_notices"],
                "duplicate_notices": counts["duplicate_notices"],
            }
            for person, counts in ranked[:TOP_SENDERS]
        ]

    def weeks(self) -> list[dict[str, Any]]:
        found = []
        for number in sorted(self.counts["week"]):
            counts, week = self.counts["week"][number], IsoWeek(number // 100, number % 100)
            figures = self.figures(counts, self.minutes(lambda _state: True, number))
            found.append(
                {
                    "week": str(week),
                    "start": week.monday.isoformat(),
                    "end": week.sunday.isoformat(),
                    **{
                        key: figures[key]
                        for key in (
                            "acks_removed",
                            "ack_demands",
                            "notices",
                            "data_requests",
                            "after_hours_notices",
                            "minutes_saved",
                        )
                    },
                    "formalism": figures["formalism"],
                    "burden": burden(SPECS, self.digest_figures(counts, figures["minutes_saved"], Counter())),
                }
            )
        return found

    def burden_total(self) -> dict[str, Any]:
        return {
            "weights": {spec.name: spec.weight for spec in SPECS if spec.weight},
            "total": burden(SPECS, self.board.totals),
        }

    # Period and settings -----------------------------------------------------------------------

    def period(self) -> dict[str, Any]:
        first, last = self.replay.first, self.replay.last
        return {
            "start": self.local(first) if first else None,
            "end": self.local(last) if last else None,
            "timezone": str(self.settings.zone),
        }

    def settings_used(self) -> dict[str, Any]:
        settings, rule = self.settings, self.settings.rule
        return {
            "mode": settings.mode,
            "notice_window_minutes": round(rule.config.notice_window / timedelta(minutes=1)),
            "quiet_hours": f"{settings.quiet_start}-{settings.quiet_end}",
            "quiet_weekends": settings.quiet_weekends,
            "duplicate_window_days": settings.duplicate_window.days,
            "close_after_days": settings.close_after_days,
            "seconds_per_message": settings.seconds_per_message,
            "registry": self.replay.registry.loaded,
        }

    def local(self, moment: datetime) -> str:
        return moment.astimezone(self.settings.zone).isoformat(timespec="minutes")

    # Helpers -----------------------------------------------------------------------------------

    def _key(self, state: ChatState) -> Hashable:
        """The department (or, without a registry, the group) a group's own figures count for."""
        return state.department if self.replay.registry.loaded else state.index.order

    def _by_key(self) -> dict[Hashable, set[ChatState]]:
        grouped: defaultdict[Hashable, set[ChatState]] = defaultdict(set)
        for state in self.replay.chats.values():
            grouped[self._key(state)].add(state)
        return grouped

    def _names(self) -> dict[Any, str]:
        if self.replay.registry.loaded:
            return dict(self.replay.registry.departments)
        return {order: state.index.name or str(state.index.export_id) for order, state in self.replay.chats.items()}

    def _chats_of(self, key: Hashable) -> list[int]:
        return sorted(state.index.export_id for state in self._by_key().get(key, ()))

    def _temporary(self, states: Iterable[ChatState]) -> Counter[str]:
        """Temporary groups still open when the replayed period ends, and those overdue then
        (past their close, or quiet for the idle days without /done), as the digest counts them."""
        end = self.replay.last
        found: Counter[str] = Counter()
        if end is None:
            return found
        idle_since = end - timedelta(days=self.settings.idle_days)
        for state in states:
            temporary = state.temporary
            if not temporary.temporary or temporary.state == GroupState.CLOSED:
                continue
            found["temp_open"] += 1
            past_close = temporary.close_at is not None and temporary.close_at < end
            idle = temporary.state == GroupState.ACTIVE and (state.last_activity or end) < idle_since
            found["temp_overdue"] += past_close or idle
        return found

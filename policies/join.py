"""What the bot says when it joins a group, is promoted, or is removed."""

from __future__ import annotations

from policies.actions import Action, KeyList, Logged, Say
from policies.rights import missing_rights
from policies.types import MemberChange

RULE = "bot_membership"
# People made or unmade admins of a group (the trail's rule name).
ADMINS = "admins"


def on_bot_membership(
    change: MemberChange, *, actor_has_private_chat: bool, group_language: str | None, close_days: int = 3
) -> list[Action]:
    """Introduce the bot once when it arrives; tell the promoter what is still missing."""
    if not change.chat.is_group or not change.new.is_present:
        return []
    verdict = missing_rights(change.rights)
    params = {"missing": KeyList("right.", verdict.missing), "bot_is_admin": verdict.is_admin}
    if not change.old.is_present:
        introduced = {**params, "days": close_days}
        return _introduce(change, introduced, actor_has_private_chat, group_language, verdict.detail)
    if change.new.is_admin and actor_has_private_chat:
        key = "join.rights_missing" if verdict.missing else "join.rights_complete"
        return [Say(change.actor.id, key, {**params, "title": change.chat.title}, rule=RULE, reason=verdict.detail)]
    return []


def _introduce(
    change: MemberChange,
    params: dict[str, object],
    actor_has_private_chat: bool,
    group_language: str | None,
    detail: str,
) -> list[Action]:
    # The group gets one compact line of missing rights; the adder gets the details privately.
    short = {**params, "missing": KeyList("right_short.", params["missing"].items, inline=True)}
    actions: list[Action] = [
        Say(change.chat.id, "join.intro", short, language=group_language, expires=True, rule=RULE, reason=detail)
    ]
    if actor_has_private_chat and not change.actor.is_bot:
        private = {**params, "title": change.chat.title}
        actions.append(Say(change.actor.id, "join.intro_private", private, rule=RULE, reason=detail))
    return actions


def role_change(change: MemberChange, *, of_bot: bool) -> Logged | None:
    """The group's trail entry for a change of role: the bot's own (every change, with the rights it
    still misses), or a person's when they became or stopped being an admin."""
    if not change.chat.is_group:
        return None
    if of_bot:
        reason = f"{change.old.value} -> {change.new.value}"
        if change.new.is_present:
            reason += f"; {missing_rights(change.rights).detail}"
        return Logged(change.chat.id, RULE, "role", reason, "done")
    if change.old.is_admin == change.new.is_admin:
        return None
    reason = f"{change.old.value} -> {change.new.value}"
    return Logged(change.chat.id, ADMINS, "role", reason, "done", change.subject.id)

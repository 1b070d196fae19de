"""Group quotas: the number of work groups follows the number of a department's internal units."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot import access
from bot.context import Deps
from bot.pipeline import current_unit
from policies.actions import RecordEvent, Say, Then
from policies.lifecycle import quota_for
from storage.models import Department
from storage.repositories.chats import ChatRepository
from storage.repositories.people import PeopleRepository


async def check_quota(deps: Deps, session: AsyncSession, department: Department, chat_id: int) -> None:
    """Tell supervisors privately when a department has more active groups than allowed (once per group)."""
    quota = quota_for(department.internal_units, deps.settings.quotas.groups_per_unit, department.group_quota)
    active = await ChatRepository(session).count_for_department(department.id)
    if quota is None or active <= quota:
        return
    params = {"name": department.name, "active": active, "quota": quota}
    supervisors = await PeopleRepository(session).with_private_chat(await access.supervisor_ids(deps, session))
    told = tuple(
        Say(supervisor, "dept.quota_overrun", params, rule="quota", reason="over quota") for supervisor in supervisors
    )
    # Keyed by the overrun itself (this many groups against this quota): counted and reported once,
    # whichever of the department's groups is registered or looked at.
    key = f"quota_overrun:{department.id}:{active}:{quota}"
    current_unit().emit(
        RecordEvent("quota_overrun", chat_id, key, rule="quota", reason="over quota", then=Then(done=told))
    )

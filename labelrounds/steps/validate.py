"""Check everything about a round that can be checked before writing anything; report every problem at once."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

import pandas as pd

from labelrounds.client import ForbiddenError, SuperviselyClient
from labelrounds.client.models import ProjectMeta, TeamInfo
from labelrounds.planning import round_key
from labelrounds.round_spec import RoundSpec
from labelrounds.steps.consensus import adjudicator_problems
from labelrounds.steps.errors import RoundError, RoundValidationError
from labelrounds.steps.gold import gold_count_problems, gold_source_problems, plan_gold, without_gold_copies
from labelrounds.steps.jobs import is_first_cycle, plan_lineages
from labelrounds.steps.lineage import lineage_conflicts, list_round_jobs
from labelrounds.steps.meta import merge_meta
from labelrounds.steps.rebalance import split_capability_problems
from labelrounds.steps.split import plan_round, select_round_images
from labelrounds.steps.targets import (
    RoundTarget,
    resolve_datasets,
    resolve_project,
    resolve_team,
)
from labelrounds.steps.throughput import with_throughput_weights
from labelrounds.steps.users import (
    PasswordSource,
    creation_problems,
    find_users,
    participants,
    role_problems,
    team_roles,
)

_Found = TypeVar("_Found")

#: Team roles that may create jobs (and, for admin and manager, accounts and memberships).
MANAGING_ROLES = frozenset({"admin", "manager", "developer"})


@dataclass(frozen=True)
class ValidatedRound:
    """What validation resolved, so the following steps need not look it up again."""

    target: RoundTarget
    meta: ProjectMeta
    selected: pd.DataFrame
    plan: pd.DataFrame
    existing_users: dict[str, int]
    users_to_create: list[str]
    warnings: list[str] = field(default_factory=list)
    gold_plan: pd.DataFrame | None = None  # `steps.gold.GOLD_PLAN_COLUMNS`; None without gold checks


async def validate_round(
    api: SuperviselyClient, spec: RoundSpec, passwords: PasswordSource = None
) -> ValidatedRound:
    """Check the round against the server without writing; raise one error listing every problem.

    Checked: team, project and datasets exist; each labeler and the reviewer exists or may be created (with a
    password available); members have a role fit for their part; the caller may manage the team; the round's
    classes and tags agree with the project meta; filter tags and explicit image ids exist; the selection is not
    empty; jobs left by an earlier run of the same round agree with the plan; an adaptive round's server can
    move images between jobs (`jobs.split`).

    Args:
        api: the client (the token that will run the round).
        spec: the round's parameters (already valid as a model).
        passwords: password(s) for new accounts; only their presence is checked.

    Raises:
        RoundValidationError: one or more problems, all listed.
    """
    problems: list[str] = []
    people = participants(spec)
    logins = [person.account.login for person in people]
    try:
        existing = await find_users(api, logins)
    except ForbiddenError:
        raise RoundValidationError(
            [
                "the API token's user may not look accounts up (users.list is forbidden); use an admin's or manager's token"
            ]
        ) from None
    problems += creation_problems(people, existing, passwords)
    team = await _collect(problems, resolve_team(api, spec.team))
    if team is None:
        raise RoundValidationError(problems)
    me = await api.get_me()
    roles = await team_roles(api, team.id, [*logins, me.login])
    problems += role_problems(people, roles, team.name)
    problems += await adjudicator_problems(api, spec, team.id, team.name)
    problems += await split_capability_problems(api, spec)
    needs_team_writes = any(login not in existing or login not in roles for login in logins)
    problems += _caller_problems(me.login, roles, team, needs_team_writes=needs_team_writes)
    project = await _collect(problems, resolve_project(api, team, spec.project))
    if project is None:
        raise RoundValidationError(problems)
    datasets = await _collect(problems, resolve_datasets(api, project, spec.datasets))
    meta = await api.get_project_meta(project.id)
    problems += merge_meta(meta, spec.classes, spec.tags).conflicts
    if datasets is None:
        raise RoundValidationError(problems)
    target = RoundTarget(
        team=team, project=project, datasets=datasets, round_key=round_key(spec.round_name, project.id)
    )
    selected = await _collect(problems, select_round_images(api, target, spec, meta))
    if selected is None:
        raise RoundValidationError(problems)
    gold_set = None
    if spec.gold is not None:
        class_names = [obj_class.name for obj_class in spec.classes]
        gold_found, gold_set = await gold_source_problems(
            api, spec.gold, target, class_names, [labeler.login for labeler in spec.labelers]
        )
        problems += gold_found
        if gold_set is not None:
            logins = [labeler.login for labeler in spec.labelers]
            selected = without_gold_copies(selected, gold_set, target.round_key, logins)
    plan = plan_round(selected, target, await with_throughput_weights(api, target, spec))
    gold_plan = None
    if spec.gold is not None and gold_set is not None:
        problems += gold_count_problems(spec.gold, gold_set, plan)
        gold_plan = plan_gold(spec.gold, gold_set, plan, target.round_key)
    earlier = await list_round_jobs(api, team.id, project.id, target.round_key)
    # A consensus round's jobs are replica and adjudication jobs, matched by `steps.consensus` when they are made.
    conflicts = [] if spec.consensus else lineage_conflicts(earlier, plan_lineages(plan), is_first_cycle)
    if conflicts:
        problems.append(
            f"round {target.round_key!r} already has jobs that do not match this plan (re-run it with the same "
            f"inputs or choose a new round name): " + "; ".join(conflicts)
        )
    if problems:
        raise RoundValidationError(problems)
    return ValidatedRound(
        target=target,
        meta=meta,
        selected=selected,
        plan=plan,
        existing_users={login: user.id for login, user in existing.items()},
        users_to_create=[login for login in logins if login not in existing],
        warnings=idle_labeler_warnings(spec, plan),
        gold_plan=gold_plan,
    )


def idle_labeler_warnings(spec: RoundSpec, plan: pd.DataFrame) -> list[str]:
    """One line per labeler the plan gives no image (fewer images than labelers, or a tiny weight)."""
    planned = set(plan["labeler"].unique())  # unique() in C: iterating a string column is per element
    images = plan["image_id"].nunique()
    return [
        f"labeler {labeler.login!r} gets no image ({images} images over {len(spec.labelers)} labelers)"
        for labeler in spec.labelers
        if labeler.login not in planned
    ]


async def _collect(problems: list[str], lookup: Awaitable[_Found]) -> _Found | None:
    """Await a lookup; on a RoundError note its message and return None."""
    try:
        return await lookup
    except RoundError as error:
        problems.append(str(error))
        return None


def _caller_problems(
    login: str, roles: dict[str, str], team: TeamInfo, *, needs_team_writes: bool
) -> list[str]:
    """Whether the token's user may run the round (a non-member may be an instance admin: not refused here)."""
    role = roles.get(login)
    if role is None or role in {"admin", "manager"}:
        return []
    if role not in MANAGING_ROLES:
        return [
            f"the API token's user {login!r} is {role} in team {team.name!r}; running a round needs admin, "
            "manager or developer"
        ]
    if needs_team_writes:
        return [
            f"the API token's user {login!r} is {role} in team {team.name!r} and cannot create accounts or add "
            "members; use an admin's or manager's token"
        ]
    return []

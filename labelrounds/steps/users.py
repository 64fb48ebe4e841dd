"""Ensure the round's people: accounts exist (created restricted when allowed) and belong to the team."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, SecretStr

from labelrounds.client import AmbiguousWriteError, Filter, InvalidRequestError, SuperviselyClient
from labelrounds.client.models import TeamInfo, UserInfo
from labelrounds.round_spec import AccountSpec, RoundSpec
from labelrounds.steps.concurrency import run_all
from labelrounds.steps.errors import RoundError
from labelrounds.steps.targets import resolve_team

#: One password for every new account, or one per login. It only ever reaches `users.add`.
PasswordSource = SecretStr | Mapping[str, SecretStr] | None


class TeamRole(StrEnum):
    """Team roles the round cares about, by the names `roles.list` and `members.list` use."""

    ADMIN = "admin"
    DEVELOPER = "developer"
    MANAGER = "manager"
    REVIEWER = "reviewer"
    ANNOTATOR = "annotator"
    VIEWER = "viewer"


#: Team roles whose members may label a job assigned to them, and review one they are the reviewer of.
LABELING_ROLES = frozenset(
    {TeamRole.ADMIN, TeamRole.DEVELOPER, TeamRole.MANAGER, TeamRole.REVIEWER, TeamRole.ANNOTATOR}
)
REVIEWING_ROLES = frozenset({TeamRole.ADMIN, TeamRole.DEVELOPER, TeamRole.MANAGER, TeamRole.REVIEWER})


class Participant(BaseModel):
    """A person of the round and the team role they need (and get when they are not a member yet)."""

    model_config = ConfigDict(frozen=True)

    account: AccountSpec
    role: TeamRole

    @property
    def allowed_roles(self) -> frozenset[TeamRole]:
        """Existing team roles that are good enough for this person's part."""
        return REVIEWING_ROLES if self.role is TeamRole.REVIEWER else LABELING_ROLES


class UsersResult(BaseModel):
    """What `ensure_users` found and did."""

    model_config = ConfigDict(frozen=True)

    team_id: int
    user_ids: dict[str, int]
    created: list[str]
    added_to_team: dict[str, TeamRole]

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.created or self.added_to_team)

    def summary(self) -> str:
        """One line for logs: what changed, or that nothing did. Never contains a password."""
        if not self.changed:
            return (
                f"nothing to do: all {len(self.user_ids)} users exist and are members of team {self.team_id}"
            )
        parts = []
        if self.created:
            parts.append(f"created {', '.join(self.created)}")
        if self.added_to_team:
            added = ", ".join(f"{login} as {role.value}" for login, role in self.added_to_team.items())
            parts.append(f"added to team {self.team_id}: {added}")
        return "; ".join(parts)


class UsersError(RoundError):
    """A person of the round cannot take part (missing account, no password for a new one, unsuitable role)."""


def participants(spec: RoundSpec) -> list[Participant]:
    """The round's people: labelers as annotators, then the reviewer as reviewer."""
    people = [Participant(account=labeler, role=TeamRole.ANNOTATOR) for labeler in spec.labelers]
    return [*people, Participant(account=spec.reviewer, role=TeamRole.REVIEWER)]


def password_for(passwords: PasswordSource, login: str) -> SecretStr | None:
    """The password a new account for `login` gets, or None when none was supplied."""
    if passwords is None or isinstance(passwords, SecretStr):
        return passwords
    return passwords.get(login)


async def find_users(api: SuperviselyClient, logins: Sequence[str]) -> dict[str, UserInfo]:
    """Existing accounts by login (exact match), with one `users.list` call."""
    users = await api.list_users([Filter.in_("login", list(logins))])
    wanted = set(logins)
    return {user.login: user for user in users if user.login in wanted}


async def team_roles(api: SuperviselyClient, team_id: int, logins: Sequence[str]) -> dict[str, str]:
    """The team role of each of `logins` that is a member, with one `members.list` call."""
    members = await api.list_members(team_id, [Filter.in_("login", list(logins))])
    return {member.login: member.role or "" for member in members if member.login in set(logins)}


def role_problems(people: Sequence[Participant], roles: Mapping[str, str], team_name: str) -> list[str]:
    """Members whose current team role does not allow their part (roles are never changed by the round)."""
    problems = []
    for person in people:
        login = person.account.login
        current = roles.get(login)
        if current is not None and current not in person.allowed_roles:
            part = "review" if person.role is TeamRole.REVIEWER else "label"
            problems.append(
                f"{login!r} is {current or 'without a role'} in team {team_name!r} and cannot {part}"
            )
    return problems


async def ensure_round_users(
    api: SuperviselyClient, spec: RoundSpec, passwords: PasswordSource = None
) -> UsersResult:
    """Resolve the round's team and ensure its labelers and reviewer (see `ensure_users`)."""
    team = await resolve_team(api, spec.team)
    return await ensure_users(api, team, participants(spec), passwords)


async def ensure_users(
    api: SuperviselyClient, team: TeamInfo, people: Sequence[Participant], passwords: PasswordSource = None
) -> UsersResult:
    """Make every person exist and be a member of the team; idempotent (a second run writes nothing).

    Missing accounts are created restricted (only when `create_if_missing`), with the password from `passwords`.
    Non-members are added with their part's role (annotator or reviewer). Existing members keep their role; a
    role that cannot do the part is an error, raised before anything is written.

    Args:
        api: the client (a team admin's or manager's token).
        team: the round's team.
        people: see `participants`.
        passwords: password(s) for new accounts (never logged, never in a result or an error).

    Raises:
        UsersError: a missing account may not or cannot be created, or a member's role does not fit.
    """
    logins = [person.account.login for person in people]
    existing = await find_users(api, logins)
    roles = await team_roles(api, team.id, logins)
    problems = creation_problems(people, existing, passwords) + role_problems(people, roles, team.name)
    if problems:
        raise UsersError("; ".join(problems))
    role_ids = await _role_ids(api, {person.role for person in people if person.account.login not in roles})
    user_ids = {login: user.id for login, user in existing.items()}
    # Independent calls, one per person: sent concurrently (the client bounds how many at once).
    to_create = [person for person in people if person.account.login not in user_ids]
    new_ids = await run_all(
        _create_user(api, person.account, password_for(passwords, person.account.login)) for person in to_create
    )
    created = [person.account.login for person in to_create]
    user_ids.update(zip(created, new_ids, strict=True))
    to_add = [person for person in people if person.account.login not in roles]
    await run_all(api.add_member(team.id, person.account.login, role_ids[person.role]) for person in to_add)
    added: dict[str, TeamRole] = {person.account.login: person.role for person in to_add}
    return UsersResult(
        team_id=team.id,
        user_ids={login: user_ids[login] for login in logins},
        created=created,
        added_to_team=added,
    )


def creation_problems(
    people: Sequence[Participant], existing: Mapping[str, UserInfo], passwords: PasswordSource
) -> list[str]:
    """Missing accounts that may not be created, or lack a password."""
    problems = []
    for person in people:
        login = person.account.login
        if login in existing:
            continue
        if not person.account.create_if_missing:
            problems.append(f"user {login!r} does not exist and create_if_missing is off")
        elif password_for(passwords, login) is None:
            problems.append(f"user {login!r} must be created but no password for new accounts was supplied")
    return problems


async def _role_ids(api: SuperviselyClient, needed: set[TeamRole]) -> dict[TeamRole, int]:
    """Ids of the needed roles, looked up by name (`roles.list`), since instances number them differently."""
    if not needed:
        return {}
    by_name = {role.role: role.id for role in await api.list_roles()}
    missing = sorted(role.value for role in needed if role.value not in by_name)
    if missing:
        raise UsersError(f"the instance has no role named {', '.join(missing)}")
    return {role: by_name[role.value] for role in needed}


async def _create_user(api: SuperviselyClient, account: AccountSpec, password: SecretStr | None) -> int:
    """Create a restricted account; a lost reply or a concurrent creation is resolved by looking the login up.

    A `NONUNIQUE` refusal names the existing account's id, which is used without a lookup.
    """
    if password is None:  # creation_problems refused this case already
        raise UsersError(f"no password for new account {account.login!r}")
    try:
        return await api.add_user(
            account.login, password, is_restricted=True, name=account.name, email=account.email
        )
    except (AmbiguousWriteError, InvalidRequestError) as error:
        existing_id = error.existing_id(account.login)
        if existing_id is not None:
            return existing_id
        found = await api.get_user_by_login(account.login)
        if found is None:
            raise
        return found.id

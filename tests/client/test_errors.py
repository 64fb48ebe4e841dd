"""Error mapping: one exception class per failure kind, carrying status, error, details and method."""

from __future__ import annotations

import httpx
import pytest

from labelrounds.client import (
    ForbiddenError,
    InvalidRequestError,
    NotFoundError,
    NothingToRestartError,
    RateLimitedError,
    ResponseFormatError,
    ServerError,
    SuperviselyError,
    TransportError,
    UnauthorizedError,
)
from labelrounds.client.errors import Conflict

from . import payloads
from .support import error_reply, fast_policy, sequence


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, InvalidRequestError),
        (422, InvalidRequestError),
        (409, InvalidRequestError),
        (401, UnauthorizedError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (408, TransportError),
        (429, RateLimitedError),
        (500, ServerError),
        (503, ServerError),
        (501, ServerError),
    ],
)
async def test_status_maps_to_its_exception(
    make_client, status: int, error_class: type[SuperviselyError]
) -> None:
    async with make_client(
        sequence(error_reply(status, "the details")), retry_policy=fast_policy(max_attempts=1)
    ) as ctx:
        with pytest.raises(error_class) as caught:
            await ctx.client.call("jobs.stop", {"id": 4}, idempotent=True)
    error = caught.value
    assert error.status_code == status
    assert error.method == "jobs.stop"
    assert error.error == "error"
    assert error.details == {"message": "the details"}
    assert error.message == "the details"


async def test_message_names_method_status_error_and_details(make_client) -> None:
    handler = sequence(error_reply(403, "user is not a team member", error="Forbidden"))
    async with make_client(handler) as ctx:
        with pytest.raises(ForbiddenError) as caught:
            await ctx.client.call("jobs.add", {}, idempotent=False)
    assert str(caught.value) == "jobs.add failed (HTTP 403): Forbidden: user is not a team member"


async def test_details_as_a_list_and_fastapi_detail_shape(make_client) -> None:
    list_details = httpx.Response(
        400, json={"error": "Bad", "details": [{"message": "first"}, {"message": "x"}]}
    )
    fastapi_shape = httpx.Response(422, json={"detail": [{"loc": ["body", "id"], "msg": "field required"}]})
    async with make_client(sequence(list_details, fastapi_shape)) as ctx:
        with pytest.raises(InvalidRequestError) as first:
            await ctx.client.call("jobs.info", {}, idempotent=True)
        with pytest.raises(InvalidRequestError) as second:
            await ctx.client.call("jobs.info", {}, idempotent=True)
    assert first.value.message == "first"
    assert second.value.error == "Unprocessable Entity"
    assert "field required" in (second.value.message or "")


async def test_non_json_error_body_is_kept_as_an_excerpt(make_client) -> None:
    handler = sequence(httpx.Response(502, text="<html>" + "x" * 1000 + "</html>"))
    async with make_client(handler, retry_policy=fast_policy(max_attempts=1)) as ctx:
        with pytest.raises(ServerError) as caught:
            await ctx.client.call("jobs.list", {}, idempotent=True)
    assert caught.value.error == "Bad Gateway"
    assert caught.value.message is not None and caught.value.message.startswith("<html>")
    assert len(caught.value.message) == 300


async def test_restart_without_rejected_images_is_its_own_error(make_client) -> None:
    handler = sequence(error_reply(400, "No images found to restart the job", error="Bad request"))
    async with make_client(handler) as ctx:
        with pytest.raises(NothingToRestartError) as caught:
            await ctx.client.restart_job(7, user_ids=[3], reviewer_id=2)
    assert isinstance(caught.value, InvalidRequestError)


async def test_a_200_that_is_not_json_is_a_format_error(make_client) -> None:
    async with make_client(sequence(httpx.Response(200, text="<html>oops</html>"))) as ctx:
        with pytest.raises(ResponseFormatError) as caught:
            await ctx.client.call("jobs.info", {"id": 1}, idempotent=True)
    assert caught.value.error == "reply is not JSON"


async def test_a_reply_missing_a_required_key_names_it(make_client) -> None:
    job_without_range = {
        "id": 1,
        "name": "j",
        "status": "pending",
        "meta": {"classes": [], "projectTags": [], "imageTags": []},
    }
    async with make_client(sequence(httpx.Response(200, json=job_without_range))) as ctx:
        with pytest.raises(ResponseFormatError) as caught:
            await ctx.client.get_job(1)
    assert caught.value.method == "jobs.info"
    assert "meta.range: Field required" in str(caught.value)


async def test_calls_outside_the_context_manager_are_refused(make_client) -> None:
    ctx = make_client(sequence(error_reply(500, "unused")))
    with pytest.raises(RuntimeError, match="async with"):
        await ctx.client.call("jobs.info", {"id": 1}, idempotent=True)
    assert ctx.recorder.requests == []


async def test_method_names_are_checked_before_sending(make_client) -> None:
    async with make_client(sequence(error_reply(500, "unused"))) as ctx:
        with pytest.raises(ValueError, match="not an API method name"):
            await ctx.client.call("../admin", {}, idempotent=True)
    assert ctx.recorder.requests == []


async def test_a_real_conflict_body_keeps_its_text_and_the_existing_id(make_client) -> None:
    handler = sequence(httpx.Response(400, json=payloads.CONFLICT_BODY))
    async with make_client(handler) as ctx:
        with pytest.raises(InvalidRequestError) as caught:
            await ctx.client.call("projects.add", {"name": "new_project"}, idempotent=False)
    error = caught.value
    assert error.error == "project already exists" and error.error_type == "NONUNIQUE"
    assert error.message == 'Project with name "new_project" already exists'
    assert error.conflicts == [
        Conflict(name="new_project", id=48467, message='Project with name "new_project" already exists')
    ]
    assert error.existing_id() == 48467 and error.existing_id("new_project") == 48467
    assert error.existing_id("another") is None
    assert str(error) == (
        'projects.add failed (HTTP 400): project already exists: Project with name "new_project" already exists'
    )


async def test_a_401_with_null_details_reads_its_error_text(make_client) -> None:
    handler = sequence(httpx.Response(401, json=payloads.UNAUTHORIZED_BODY))
    async with make_client(handler) as ctx:
        with pytest.raises(UnauthorizedError) as caught:
            await ctx.client.call("users.me", {}, idempotent=True)
    error = caught.value
    assert (error.error, error.details, error.message, error.conflicts) == ("Invalid token", None, None, [])
    assert error.existing_id() is None
    assert str(error) == "users.me failed (HTTP 401): Invalid token"


@pytest.mark.parametrize(
    "details",
    [
        {"message": "plain", "type": "NONUNIQUE"},
        [{"type": "NONUNIQUE", "errors": [{"name": "a", "id": "12", "message": "plain"}]}],
        {"type": "NONUNIQUE", "errors": ["not an object", {"name": "a", "id": True}, {"message": "plain"}]},
        {"type": "OTHER", "errors": [{"name": "a", "id": 12, "message": "plain"}]},
    ],
)
def test_odd_details_never_break_the_accessors(details: object) -> None:
    error = InvalidRequestError(400, "refused", details, "users.add")
    assert error.message == "plain"
    expected_id = 12 if isinstance(details, list) else None
    assert error.existing_id("a") == expected_id


def test_a_conflict_only_counts_with_the_nonunique_type() -> None:
    """The oracle's mutant: the same errors list without `type: NONUNIQUE` names no existing object."""
    body = payloads.CONFLICT_BODY
    real = InvalidRequestError(400, body["error"], body["details"], "projects.add")
    mutant = InvalidRequestError(400, body["error"], {**body["details"], "type": "VALIDATION"}, "projects.add")
    assert real.existing_id("new_project") == 48467
    assert mutant.existing_id("new_project") is None and mutant.conflicts == []

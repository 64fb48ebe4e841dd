"""What `labelrounds deploy --notify` checks before anything is written: each named block exists and can notify.

A block is named `NAME` (searched among every block document) or `TYPE/NAME` (the block type's slug, e.g.
`custom-webhook/team-alerts`). Only names, types and capabilities are read: never a block's secret values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import BlockDocument
from pydantic import TypeAdapter, ValidationError

from labelrounds.round_spec import Due

#: The shortest no-progress window Prefect accepts for a proactive trigger.
MIN_NO_PROGRESS_WINDOW = timedelta(seconds=10)
_PAGE = 200


@dataclass(frozen=True)
class NotificationTarget:
    """A notification block found by `--notify`: its document id, type slug and name."""

    block_document_id: UUID
    block_type_slug: str
    name: str

    @property
    def label(self) -> str:
        """`TYPE/NAME`, as the user may write it and as automation names carry it."""
        return f"{self.block_type_slug}/{self.name}"


def _type_slug(document: BlockDocument) -> str:
    """The block type's slug of a block document ('' when the server did not include its type)."""
    return document.block_type.slug if document.block_type is not None else ""


def _can_notify(document: BlockDocument) -> bool:
    """Whether the block's schema declares the `notify` capability."""
    schema = document.block_schema
    return schema is not None and "notify" in schema.capabilities


async def _all_block_documents() -> list[BlockDocument]:
    """Every named block document on the Prefect server, without secret values."""
    documents: list[BlockDocument] = []
    async with get_client() as client:
        while True:
            page = await client.read_block_documents(
                offset=len(documents), limit=_PAGE, include_secrets=False
            )
            documents.extend(page)
            if len(page) < _PAGE:
                return [document for document in documents if not document.is_anonymous]


def pick_notification_block(wanted: str, documents: list[BlockDocument]) -> NotificationTarget:
    """The one notification block named `wanted` (`NAME` or `TYPE/NAME`); `ValueError` naming the problem."""
    slug, _, name = wanted.rpartition("/")
    found = [doc for doc in documents if doc.name == name and (not slug or _type_slug(doc) == slug)]
    notifiers = sorted(f"{_type_slug(doc)}/{doc.name}" for doc in documents if _can_notify(doc))
    known = f"notification blocks: {', '.join(notifiers)}" if notifiers else "there is no notification block"
    if not found:
        raise ValueError(f"--notify {wanted}: no such block on the Prefect server ({known})")
    if len(found) > 1:
        kinds = ", ".join(sorted(f"{_type_slug(doc)}/{doc.name}" for doc in found))
        raise ValueError(f"--notify {wanted}: several blocks have this name ({kinds}); write TYPE/NAME")
    (document,) = found
    if not _can_notify(document):
        raise ValueError(
            f"--notify {wanted}: a {_type_slug(document)} block cannot send notifications ({known})"
        )
    return NotificationTarget(document.id, _type_slug(document), document.name)


async def resolve_notification_blocks(names: tuple[str, ...]) -> tuple[NotificationTarget, ...]:
    """The notification blocks named by `--notify` (duplicates once), read before anything is written.

    Raises:
        ValueError: a block does not exist, is ambiguous, or cannot notify (all of them named in one message).
    """
    if not names:
        return ()
    documents = await _all_block_documents()
    targets: dict[UUID, NotificationTarget] = {}
    problems: list[str] = []
    for wanted in names:
        try:
            target = pick_notification_block(wanted.strip(), documents)
        except ValueError as error:
            problems.append(str(error))
        else:
            targets.setdefault(target.block_document_id, target)
    if problems:
        raise ValueError("; ".join(problems))
    return tuple(targets.values())


def parse_window(text: str) -> timedelta:
    """The no-progress window: a duration such as `24h`, `90m`, `2d` or ISO 8601 `PT24H`, at least 10 s.

    Raises:
        ValueError: not a duration, or shorter than Prefect's minimum for proactive triggers.
    """
    try:
        window = TypeAdapter(Due).validate_python(text)
    except ValidationError:
        window = None
    if not isinstance(window, timedelta):
        raise ValueError(f"--no-progress-window: {text!r} is not a duration (e.g. 24h, 90m, 2d, PT24H)")
    if window < MIN_NO_PROGRESS_WINDOW:
        raise ValueError(f"--no-progress-window: {text!r} is shorter than Prefect's minimum of 10 s")
    return window

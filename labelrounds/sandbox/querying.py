"""Turn the wire's filters, sort and pagination into SQL, and run a list query into the envelope."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labelrounds.sandbox.errors import BadRequest
from labelrounds.sandbox.models import FilterItem, ListBody
from labelrounds.sandbox.wire import dump_json, envelope, json_fragment


@dataclass(frozen=True)
class Column:
    """A wire field that may be filtered and sorted on: its SQL expression, and whether it is text."""

    sql: str
    text: bool = False


@dataclass(frozen=True)
class ListSpec:
    """What one `*.list` method exposes: its filterable/sortable fields and its default page size."""

    fields: Mapping[str, Column]
    default_per_page: int


@dataclass(frozen=True)
class Fixed:
    """An entity key whose value is the same for every row (e.g. `tags: []` of a sandbox image)."""

    value: Any


#: An entity key's source in a `Projection`: a column expression (INTEGER or TEXT values only), a `Fixed` value,
#: or None when only the method's `to_entity` can compute it from a whole row (a request asking for it takes the
#: whole-entity path).
KeySource = str | Fixed | None


@dataclass(frozen=True)
class Projection:
    """Every key of a list method's entity, in the entity's order, and where each comes from.

    With it, a request naming `fields` selects only the kept keys and SQLite writes each entity's JSON
    (`json_object`): no Python object per row. SQLite and orjson write integers, strings (every escape) and null
    byte for byte alike, which is why columns must hold INTEGER or TEXT values (REAL ones could differ).
    """

    keys: tuple[tuple[str, KeySource], ...]

    def json_select(self, fields: Sequence[str]) -> str | None:
        """`<id>, json_object(...)` for the keys of `fields` (plus `id`) in entity order, or None when a kept
        key needs the whole entity. Keys the entity does not have are ignored, as `project_fields` ignores them."""
        keep = {*fields, "id"}
        kept = [(key, source) for key, source in self.keys if key in keep]
        if any(source is None for _, source in kept):
            return None
        values = [
            f"json({_sql_text(dump_json(source.value))})" if isinstance(source, Fixed) else source
            for _, source in kept
        ]
        pairs = ", ".join(f"{_sql_text(key)}, {value}" for (key, _), value in zip(kept, values, strict=True))
        return f"{dict(self.keys)['id']}, json_object({pairs})"


def _sql_text(text: str) -> str:
    """An SQL string literal (for names and values fixed in code, never for request input)."""
    return "'" + text.replace("'", "''") + "'"


_COMPARISONS = {"=": "=", "eq": "=", "!=": "!=", "not": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_PATTERNS = {"like": "LIKE", "!like": "NOT LIKE"}
_CASELESS_PATTERNS = {"ilike": "LIKE", "!ilike": "NOT LIKE"}


def compile_filter(spec: ListSpec, item: FilterItem) -> tuple[str, list[Any]]:
    """One filter condition as an SQL predicate and its parameters; unknown fields or bad values → 400."""
    column = spec.fields.get(item.field)
    if column is None:
        raise BadRequest(
            f"Cannot filter on field {item.field!r}; filterable fields: {', '.join(sorted(spec.fields))}"
        )
    operator, value = item.operator, item.value
    if operator in ("in", "!in"):
        if not isinstance(value, list):
            raise BadRequest(f"Filter {item.field!r} {operator}: value must be a list")
        negation = "NOT " if operator == "!in" else ""
        return f"{column.sql} {negation}IN (SELECT value FROM json_each(?))", [dump_json(value)]  # noqa: S608 - column from the method's fixed spec, value bound
    if isinstance(value, list):
        raise BadRequest(f"Filter {item.field!r} {operator}: value must be a single value, not a list")
    if operator in _COMPARISONS:
        sql_operator = _COMPARISONS[operator]
        if value is None:
            if sql_operator not in ("=", "!="):
                raise BadRequest(f"Filter {item.field!r} {operator}: null can only be compared with = or !=")
            return f"{column.sql} IS {'NOT ' if sql_operator == '!=' else ''}NULL", []
        return f"{column.sql} {sql_operator} ?", [value]
    if not column.text:
        raise BadRequest(f"Filter {item.field!r} {operator}: pattern operators apply to text fields only")
    if not isinstance(value, str):
        raise BadRequest(f"Filter {item.field!r} {operator}: value must be a string pattern")
    if operator in _PATTERNS:
        return f"{column.sql} {_PATTERNS[operator]} ?", [value]
    return f"lower({column.sql}) {_CASELESS_PATTERNS[operator]} lower(?)", [value]


def order_clause(spec: ListSpec, sort: str, sort_order: str) -> str:
    """`ORDER BY` for a wire sort field, with the id as tie-breaker so pages never overlap."""
    column = spec.fields.get(sort)
    if column is None:
        raise BadRequest(f"Cannot sort on field {sort!r}; sortable fields: {', '.join(sorted(spec.fields))}")
    direction = "DESC" if sort_order == "desc" else "ASC"
    id_column = spec.fields["id"].sql
    if column.sql == id_column:
        return f"ORDER BY {id_column} {direction}"
    return f"ORDER BY {column.sql} {direction}, {id_column} {direction}"


def project_fields(entities: list[dict[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    """Keep only the requested keys (plus `id`) when the request names `fields`."""
    if not fields:
        return entities
    keep = {*fields, "id"}
    return [{key: value for key, value in entity.items() if key in keep} for entity in entities]


def run_list(
    db: sqlite3.Connection,
    *,
    spec: ListSpec,
    body: ListBody,
    select: str,
    source: str,
    scope: Sequence[str],
    scope_params: Sequence[Any],
    to_entity: Callable[[tuple[Any, ...]], dict[str, Any]],
    count_source: str | None = None,
    projection: Projection | None = None,
) -> dict[str, Any]:
    """Run a filtered, sorted, paginated list query and wrap it in the envelope.

    Args:
        spec: the method's fields and default page size.
        body: the request's filter/sort/page/per_page/fields.
        select: the column list of the page query.
        source: the FROM clause (tables and joins).
        scope: SQL predicates that always apply (the method's scope and the caller's visibility).
        scope_params: the parameters of `source`'s placeholders, then of `scope`'s, in order.
        to_entity: builds one wire entity from a row of `select`.
        count_source: the bare table, when the joins of `source` only add columns (they never drop or repeat
            a row) and every filterable field lives in that table: the total and the page's ids are then
            computed without the joins.
        projection: the entity's keys and their columns, so that a request naming `fields` selects only those
            and gets its entities' JSON from SQLite (the reply is the same as projecting whole entities).
    """
    predicates = list(scope)
    params = list(scope_params)
    for item in body.filter:
        predicate, predicate_params = compile_filter(spec, item)
        predicates.append(predicate)
        params.extend(predicate_params)
    token_mode = body.pagination_mode == "token"
    if token_mode and body.sort != "id":
        raise BadRequest("pagination_mode 'token' walks by id: sort must be 'id'")
    where = _where(predicates)
    order = order_clause(spec, body.sort, body.sort_order)
    per_page = body.per_page or spec.default_per_page
    (total,) = db.execute(f"SELECT count(*) FROM {count_source or source} {where}", params).fetchone()  # noqa: S608 - fixed source and compiled predicates, values bound
    offset = (body.page - 1) * per_page
    if token_mode:
        # Keyset pagination: the page after the id in `after`, whatever `page` says.
        offset = 0
        if body.after is not None:
            comparison = "<" if body.sort_order == "desc" else ">"
            where = _where([*predicates, f"{spec.fields['id'].sql} {comparison} ?"])
            params.append(int(body.after))
    json_select = projection.json_select(body.fields) if projection is not None and body.fields else None
    if json_select is not None:
        select = json_select
    if offset >= total:
        rows = []
    elif count_source:
        # Pick the page's ids on the bare table first, so skipped rows never pay for the joins.
        id_column = spec.fields["id"].sql
        rows = db.execute(
            f"SELECT {select} FROM {source} WHERE {id_column} IN"  # noqa: S608 - fixed source and compiled predicates, values bound
            f" (SELECT {id_column} FROM {count_source} {where} {order} LIMIT ? OFFSET ?) {order}",
            [*params, per_page, offset],
        ).fetchall()
    else:
        rows = db.execute(
            f"SELECT {select} FROM {source} {where} {order} LIMIT ? OFFSET ?",  # noqa: S608 - fixed source and compiled predicates, values bound
            [*params, per_page, offset],
        ).fetchall()
    if json_select is None:
        entities: Any = project_fields([to_entity(row) for row in rows], body.fields)
        last_id = entities[-1]["id"] if entities else None
    else:
        entities = json_fragment("[" + ",".join([row[1] for row in rows]) + "]")
        last_id = rows[-1][0] if rows else None
    reply = envelope(total, per_page, entities)
    if token_mode:
        reply["after"] = str(last_id) if len(rows) == per_page else None
    return reply


def _where(predicates: Sequence[str]) -> str:
    """A WHERE clause ANDing the predicates (empty when there are none)."""
    return f"WHERE {' AND '.join(predicates)}" if predicates else ""

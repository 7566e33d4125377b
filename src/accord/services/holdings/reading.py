"""Reading a body's records: only under a grant, only the columns it lets the hub read.

``read(grant, columns)`` is the only way any service reads a holding. It checks
that the grant came from the decision point, was allowed, is for this dataset,
and that every column asked for (and every column a filter looks at) is one
the grant lets the hub read; anything else is refused before the file is
opened. Two columns are the hub's own and come with any grant on the dataset:
``record_id`` (the body's row key) and ``_subject`` (each record's subject key).

``cached(grant, columns, build)`` keeps what ``build`` makes of the granted
columns (a blocking index, say) for as long as the holding file is unchanged,
on the hub. A later grant reuses an object built from the same or more
columns; the object is handed the columns it may use, so it reads no others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from accord.errors import AccordError, Conflict, NotFound
from accord.runtime import Hub, hub_of
from accord.services.access import Grant
from accord.services.holdings.files import ROW_KEY, current, identity, not_loaded, paths, quote
from accord.services.subjects import SUBJECT

HUB_COLUMNS = (ROW_KEY, SUBJECT)
T = TypeVar("T")


class NotGranted(AccordError):
    """A service asked to read what its grant does not cover: nothing was read."""

    status = 403
    title = "Forbidden"


@dataclass(frozen=True)
class Equals:
    """Rows whose ``column`` equals one of ``values``; ``as_`` compares as a ``date`` or a ``code``
    (upper case, no spaces), so a holding's own formatting does not hide a match."""

    column: str
    values: tuple[Any, ...]
    as_: str | None = None

    def sql(self) -> tuple[str, list[Any]]:
        column = quote(self.column)
        if self.as_ == "date":
            expression = f"TRY_CAST({column} AS DATE)"
        elif self.as_ == "code":
            expression = f"replace(upper(CAST({column} AS VARCHAR)), ' ', '')"
        else:
            expression = f"CAST({column} AS VARCHAR)"
        values = list(self.values) if self.as_ == "date" else [str(v) for v in self.values]
        return f"{expression} IN ({', '.join('?' for _ in values)})", values


@dataclass(frozen=True)
class IsTrue:
    """Rows where a yes/no ``column`` is true."""

    column: str

    def sql(self) -> tuple[str, list[Any]]:
        return f"{quote(self.column)} IS TRUE", []


Filter = Equals | IsTrue


def _check(grant: Grant, columns: Iterable[str]) -> None:
    if not isinstance(grant, Grant) or not grant.allowed:
        raise NotGranted("records are read only under a grant from the decision point")
    refused = [c for c in columns if c not in grant.readable and c not in HUB_COLUMNS]
    if refused:
        raise NotGranted(
            f"the grant for {grant.dataset_id} does not let the hub read {', '.join(refused)} "
            f"(it may read {', '.join(grant.readable) or 'nothing'})"
        )


def _hub(grant: Grant) -> Hub:
    context = grant._context  # noqa: SLF001 - the session the decision was taken in knows its hub
    return hub_of(context.session)


def columns(grant: Grant) -> list[str]:
    """The holding's columns this grant lets the hub read (the hub's own included); NotFound if none is loaded."""
    _check(grant, ())
    path = current(_hub(grant), grant.dataset_id)
    return [name for name in pq.read_schema(path).names if name in grant.readable or name in HUB_COLUMNS]


def read(grant: Grant, columns: Sequence[str], *, any_of: Sequence[Filter] = (), limit: int | None = None) -> pa.Table:
    """The granted ``columns`` of the holding, of every row or of the rows matching any filter.

    A column the holding lacks is absent from the result rather than an error:
    the agreement may name a field an older extract does not carry.
    """
    _check(grant, [*columns, *(f.column for f in any_of)])
    path = current(_hub(grant), grant.dataset_id)
    try:
        return _read(path, columns, any_of, limit)
    except (duckdb.Error, pa.ArrowException, OSError) as exc:
        # Loading wrote it whole; a file damaged since is the hub's fault, not the caller's: say so, read nothing.
        raise Conflict(f"dataset {grant.dataset_id}'s records cannot be read ({type(exc).__name__}); "
                       f"its body should load them again") from None


def _read(path, columns: Sequence[str], any_of: Sequence[Filter], limit: int | None) -> pa.Table:  # noqa: ANN001
    present = set(pq.read_schema(path).names)
    wanted = [c for c in dict.fromkeys(columns) if c in present]
    conditions = [f for f in any_of if f.column in present]
    if any_of and not conditions:
        return pa.table({name: pa.array([], pa.string()) for name in wanted})
    if not conditions and limit is None:
        return pq.read_table(path, columns=wanted)
    where, parameters = [], [str(path)]
    for condition in conditions:
        clause, values = condition.sql()
        where.append(clause)
        parameters += values
    select = ", ".join(quote(c) for c in wanted) or "1 AS _none"
    query = f"SELECT {select} FROM read_parquet(?)"
    if where:
        query += " WHERE " + " OR ".join(where)
    if limit is not None:
        query += f" LIMIT {int(limit)}"
    connection = duckdb.connect()
    try:
        table = connection.sql(query, params=parameters).to_arrow_table()
    finally:
        connection.close()
    return table if wanted else pa.table({})


def count(grant: Grant) -> int:
    """How many records the holding has (its metadata; no record is read)."""
    _check(grant, ())
    return pq.ParquetFile(current(_hub(grant), grant.dataset_id)).metadata.num_rows


class _Built:
    """What was built from one holding file, by column set."""

    def __init__(self, file: tuple) -> None:
        self.file = file
        self.items: list[tuple[frozenset[str], Any]] = []
        self.lock = threading.Lock()


def is_cached(hub: Hub, dataset_id: str, name: str) -> bool:
    """Whether ``cached`` has built ``name`` from the dataset's current file (so using it reads no file)."""
    entry = hub.cache("holdings.built", dict).get((name, dataset_id))
    if entry is None or not entry.items:
        return False
    try:
        return entry.file == identity(paths(hub, dataset_id)[0])  # one stat
    except FileNotFoundError:
        return False


def cached(grant: Grant, columns: Sequence[str], build: Callable[[pa.Table, str], T], *, name: str) -> T:
    """``build(table, dataset_id)`` over the granted ``columns``, kept on the hub while the file is unchanged.

    An object already built from these columns or more is reused. ``name`` tells
    different builders apart.
    """
    _check(grant, columns)
    hub = _hub(grant)
    path = paths(hub, grant.dataset_id)[0]
    wanted = frozenset(columns)
    store: dict[tuple[str, str], _Built] = hub.cache("holdings.built", dict)
    key = (name, grant.dataset_id)
    try:
        file = identity(path)  # one stat: a new load renames a new file over the old one
    except FileNotFoundError:
        raise not_loaded(grant.dataset_id) from None
    entry = store.get(key)
    if entry is not None and entry.file == file:
        for built_from, item in entry.items:
            if wanted <= built_from:
                return item
    with hub.cache("holdings.building", threading.Lock):
        entry = store.get(key)
        if entry is None or entry.file != file:
            entry = store[key] = _Built(file)
    with entry.lock:  # one build per file at a time; others wait for it rather than build again
        for built_from, item in entry.items:
            if wanted <= built_from:
                return item
        item = build(read(grant, sorted(wanted)), grant.dataset_id)
        if identity(path) == file:  # replaced while reading: the next call builds again
            entry.items.append((wanted, item))
        return item

"""`accord link`: two bodies' files linked deterministically, probabilistically (Splink) or on Bloom filters.

Without an agreement, linking is a tool on files the user holds. Under an
agreement (``--agreement`` with ``--body``), the RIGHT file is the other body's
records as the agreement discloses them, and reading them is an access like any
other (``governed``): the columns the linkage would use are asked for, only the
permitted ones are read, and the read is recorded (for linking, for training a
model, and for encoding plaintext at the hub) before anything is written.
Linking two encodings the bodies made themselves (``accord encode``) reads no
identifier: the agreement then only has to be the one they were made for, in force.

The output is written under a temporary name and renamed only when complete, so
a failed run leaves no OUT file.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from accord.errors import InvalidInput
from accord.runtime import Hub
from accord.services.linking import governed
from accord.services.unit_of_work import Actor

Say = Callable[[str], None]


@dataclass(frozen=True)
class LinkRequest:
    left: Path
    right: Path
    out: Path
    mode: str = "probabilistic"
    engine: str = "duckdb"
    left_id: str | None = None
    right_id: str | None = None
    left_map: str | None = None
    right_map: str | None = None
    threshold: float | None = None
    agreement: str | None = None
    dataset: str | None = None  # the agreement's dataset RIGHT holds, when it discloses several
    model_file: Path | None = None
    retrain: bool = False
    chunks: int = 1
    memory_limit: str = "6GB"
    secret: bytes | None = None
    key_version: int = 1


@dataclass(frozen=True)
class Linked:
    pairs: int
    how: str
    notes: tuple[str, ...]
    decisions: tuple[int, ...]  # the recorded decisions of a run under an agreement


@contextmanager
def temporary_output(out: Path) -> Iterator[Path]:
    """A temporary file beside OUT, renamed to OUT on success and removed on failure."""
    tmp = out.with_name(f".{out.stem}.partial-{uuid.uuid4().hex[:8]}{out.suffix}")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def link(request: LinkRequest, say: Say, *, hub: Hub | None = None, actor: Actor | None = None) -> Linked:
    """Link LEFT with RIGHT and write the pairs (see the module docstring); ``hub`` and ``actor`` under an agreement."""
    governs = reads_records(request)
    if governs and (hub is None or actor is None):
        raise InvalidInput("--agreement needs --body: linking under an agreement reads another body's records, "
                           "so it is decided and recorded for the body that asks")
    if request.agreement and not governs:
        governed.check_in_force(hub, request.agreement)  # two encodings made for it: no record is read to decide
    say("reading LEFT")
    left = prepare_side(request.left, request.left_map, request.left_id, "LEFT", request.mode)
    if request.mode == "pprl":
        _check_encodings(hub, request, left)
    stored = _stored_model(hub, request) if request.mode == "probabilistic" else None
    decisions: tuple[int, ...] = ()
    notes: list[str] = []
    if governs:
        say("asking the decision point")
        reading = governed.ask_to_read(hub, actor, request, left_rows=_rows(left),
                                       trains=request.mode == "probabilistic" and stored is None)
        say("reading RIGHT")
        right = governed.read_right(reading, request)  # only the permitted columns
        decisions = governed.record_reads(hub, actor, reading, right)
        notes += governed.notes(reading)
    else:
        say("reading RIGHT")
        right = prepare_side(request.right, request.right_map, request.right_id, "RIGHT", request.mode)
    with temporary_output(request.out) as tmp:
        if request.mode == "deterministic":
            summary = _deterministic(left, right, request.threshold, tmp, say)
        elif request.mode == "pprl":
            summary = _pprl(left, right, request, tmp, say)
        else:
            summary = _probabilistic(hub, actor, left, right, request, stored, tmp, say)
    notes += list(summary.get("notes", ())) + [
        f"{side.source}: {note}" for side in (left, right) for note in getattr(side, "notes", [])]
    return Linked(summary["pairs"], summary["how"], tuple(notes), decisions)


def reads_records(request: LinkRequest) -> bool:
    """Whether the run reads the other body's records under the agreement: any run under one, except linking
    two encodings the bodies made themselves (the hub then holds no identifier to read)."""
    if not request.agreement:
        return False
    if request.mode != "pprl" or request.secret is not None:
        return True
    return not is_encoding(request.right)  # plaintext RIGHT would be read, and encoded at the hub


def _rows(side: Any) -> int:
    return side.num_rows if isinstance(side, pa.Table) else side.rows


def prepare_side(path: Path, mapping: str | dict | None, id_column: str | None, side: str, mode: str) -> Any:
    """A side's prepared records, or (pprl) its Bloom-filter encoding as uploaded by the body."""
    from accord.linkage.prepare import prepare_file

    if mode == "pprl":
        encoded = _read_encoded(path, side)
        if encoded is not None:
            return encoded
    return prepare_file(path, mapping, id_column, source=side)


def _write_table(table: pa.Table, tmp: Path) -> int:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if tmp.suffix.lower() == ".csv":
        pacsv.write_csv(table, tmp)
    else:
        pq.write_table(table, tmp, compression="zstd")
    return table.num_rows


def _deterministic(left: Any, right: Any, threshold: float | None, tmp: Path, say: Say) -> dict[str, Any]:
    import pyarrow.compute as pc

    from accord.linkage.deterministic import link_tables

    say("linking with the deterministic cascade")
    result = link_tables(left.table, right.table)
    if threshold is not None:
        result = result.filter(pc.greater_equal(result.column("match_probability"), threshold))
    if "agreed" in result.column_names and pa.types.is_list(result.column("agreed").type):
        index = result.column_names.index("agreed")  # written as comma-separated names: CSV has no lists
        result = result.set_column(index, "agreed", pc.binary_join(result.column("agreed"), ","))
    say("writing pairs")
    return {"pairs": _write_table(result, tmp), "how": "deterministic cascade"}


def is_encoding(path: Path) -> bool:
    """Whether the file is a Bloom-filter encoding (from `accord encode`: Parquet, or CSV with its parameters
    file beside it), from its schema or its parameters file alone."""
    import pyarrow.parquet as pq

    from accord.linkage import pprl

    suffix = path.suffix.lower()
    if not path.is_file() or path.stat().st_size == 0:
        return False
    if suffix == ".parquet":
        try:
            return pprl.is_encoded(pq.read_schema(path))
        except (pa.ArrowInvalid, OSError):
            return False  # prepare_file reports it
    return suffix == ".csv" and pprl.sidecar_path(path).is_file()


def _read_encoded(path: Path, side: str) -> pa.Table | None:
    """The file as a Bloom-filter encoding if it is one (``is_encoding``); None for plaintext records."""
    from accord.linkage import pprl

    if not is_encoding(path):
        return None
    table = pprl.read_encoded(path, f"{side} {path.name}")
    if table.num_rows == 0:
        raise InvalidInput(f"{side} {path.name} has no rows")
    return table


def _check_encodings(hub: Hub | None, request: LinkRequest, left: Any) -> None:
    """Before anything is asked or read: the encodings were made for the agreement named (each one in force),
    and one encoding is linked with plaintext only when the agreement's secret can encode the other."""
    from accord.linkage import pprl

    found = [pprl.encoding_of(left.schema, f"LEFT {request.left.name}") if isinstance(left, pa.Table) else None,
             _encoding_parameters(request.right, f"RIGHT {request.right.name}")]
    params = [p for p in found if p is not None]
    named = {p.get("agreement_id") for p in params} - {None}
    if request.agreement and named and named != {request.agreement}:
        raise InvalidInput(f"the encodings were made for agreement {', '.join(sorted(named))}, not {request.agreement}")
    for agreement in sorted(named - {request.agreement}):
        governed.check_in_force(hub, agreement)
    if len(params) == 1 and request.secret is None:
        raise InvalidInput("one input is an encoding and the other is not: give --secret-file and "
                           "--agreement to encode the other with the same key")


def _encoding_parameters(path: Path, source: str) -> dict | None:
    """An encoding's recorded parameters, from its schema or its parameters file (None: not an encoding)."""
    import pyarrow.parquet as pq

    from accord.linkage import pprl

    if not is_encoding(path):
        return None
    if path.suffix.lower() == ".parquet":
        return pprl.encoding_of(pq.read_schema(path), source)
    return pprl.parameters(pprl.sidecar_path(path).read_bytes().strip(), source)[0]


def _pprl(left: Any, right: Any, request: LinkRequest, tmp: Path, say: Say) -> dict[str, Any]:
    """Bloom-filter linkage: plaintext sides are encoded here first (with the agreement's key, or a fresh one)."""
    from accord.linkage import pprl

    plaintext = [side for side in (left, right) if not isinstance(side, pa.Table)]
    how = "pprl on Bloom-filter encodings"
    notes: list[str] = []
    key = b""
    if plaintext:
        if request.secret is not None:
            key = pprl.derive_agreement_key(request.secret, request.agreement or "", request.key_version)
            how = f"pprl, encoded with agreement {request.agreement}'s key version {request.key_version}"
        elif len(plaintext) < 2:
            raise InvalidInput("one input is an encoding and the other is not: give --secret-file and "
                               "--agreement to encode the other with the same key")
        else:
            key = secrets.token_bytes(32)
            how = "pprl, both sides encoded with a fresh random key"
            notes.append("no --secret-file: both sides were encoded with a fresh random key, used for this run only")
    encoded = []
    for name, side in (("LEFT", left), ("RIGHT", right)):
        if isinstance(side, pa.Table):
            encoded.append(side)
        else:
            say(f"encoding {name} into Bloom filters")
            encoded.append(pprl.encode_table(side.table, key))
    say("linking encodings")
    result = pprl.link_encoded(encoded[0], encoded[1], threshold=request.threshold)
    say("writing pairs")
    return {"pairs": _write_table(result, tmp), "how": how, "notes": notes}


@dataclass(frozen=True)
class _Stored:
    model: Any
    origin: str


def _stored_model(hub: Hub | None, request: LinkRequest) -> _Stored | None:
    """The model to predict with, from --model (if the file exists) or the agreement; None means train."""
    from accord.linkage.probabilistic import LinkageModel

    if request.retrain:
        return None
    if request.model_file is not None and request.model_file.exists():
        return _Stored(LinkageModel.load(request.model_file), f"model read from {request.model_file}")
    if request.agreement and hub is not None:
        from accord.services.linkage_models import latest_model

        stored = latest_model(hub, request.agreement)
        if stored is not None:
            return _Stored(stored.model, f"agreement {request.agreement}'s model version {stored.version}")
    return None


def _probabilistic(hub: Hub | None, actor: Actor | None, left: Any, right: Any, request: LinkRequest,
                   stored: _Stored | None, tmp: Path,
                   say: Say) -> dict[str, Any]:
    from accord.linkage import probabilistic as prob

    engine_options = {"memory_limit": request.memory_limit} if request.engine == "duckdb" else {}
    if stored is None:
        model = prob.train(left.table, right.table, engine=request.engine, progress=say, engine_options=engine_options)
        origin = _store_trained(hub, model, request, actor)
    else:
        model, origin = stored.model, stored.origin
    result = prob.predict(left.table, right.table, model, tmp, engine=request.engine,
                          threshold=prob.DEFAULT_THRESHOLD if request.threshold is None else request.threshold,
                          chunks=request.chunks, progress=say, engine_options=engine_options)
    return {"pairs": result.pairs, "how": f"probabilistic on {request.engine}; {origin}"}


def _store_trained(hub: Hub | None, model: Any, request: LinkRequest, actor: Actor | None) -> str:
    kept = []
    if request.model_file is not None:
        model.save(request.model_file)
        kept.append(f"written to {request.model_file}")
    if request.agreement and hub is not None:
        from accord.services.linkage_models import store_model

        stored = store_model(hub, request.agreement, model, trained_by=actor.body_id if actor else "cli")
        kept.append(f"stored as agreement {request.agreement}'s version {stored.version}")
    return "model trained" + (" and " + " and ".join(kept) if kept else " (not kept: give --model or --agreement "
                                                                          "to reuse it)")

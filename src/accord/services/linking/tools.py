"""Linkage tools that read only files the user holds, never a body's records at the hub.

``accord encode`` runs on a body's own machine over its own file; ``accord link
evaluate`` and ``accord link cluster`` score and group linked pairs. None of them
opens the hub: they are the linkage engine's functions, reached by the command
line through this one module (faces import no linkage code themselves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from accord.errors import InvalidInput

MIN_SECRET_BYTES = 32  # accord.linkage.pprl.MIN_KEY_BYTES, without loading NumPy for `accord --help`


def read_secret(path: Path) -> bytes:
    """The shared secret: the file's bytes less a trailing line break (as `accord link --secret-file` reads it)."""
    if not path.exists():
        raise InvalidInput(f"--secret-file {path}: no such file")
    if not path.is_file():
        raise InvalidInput(f"--secret-file {path}: not a file")
    try:
        secret = path.read_bytes().rstrip(b"\r\n")
    except OSError as exc:
        raise InvalidInput(f"--secret-file {path}: cannot be read ({exc.strerror})") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise InvalidInput(f"--secret-file {path}: the shared secret must be at least {MIN_SECRET_BYTES} bytes "
                           "(make one with: openssl rand -base64 48 > FILE)")
    return secret


def encode_file(file: Path, out: Path, *, agreement: str, secret: bytes, id_column: str | None, mapping: str | None,
                key_version: int) -> dict[str, Any]:
    """Encode a body's own file into keyed Bloom filters (``accord.linkage.pprl``); what was encoded."""
    from accord.linkage import pprl
    from accord.linkage.prepare import prepare_file

    prepared = prepare_file(file, mapping, id_column, source="FILE")
    key = pprl.derive_agreement_key(secret, agreement, key_version)
    encoded = pprl.encode_table(prepared.table, key)
    pprl.write_encoded(encoded, out)
    held = [f for f in prepared.fields if f in {spec.name for spec in pprl.bloom.FIELD_SPECS}]
    sidecar = pprl.sidecar_path(out) if out.suffix.lower() == ".csv" else None
    return {"records": encoded.num_rows, "fields": held, "notes": [f"{prepared.source}: {n}" for n in prepared.notes],
            "sidecar": sidecar}


def evaluate(matches: Path, truth_left: Path, truth_right: Path, threshold: float, report: Path) -> tuple[dict, Path]:
    """Score linked pairs against the ground truth and write the report: the summary and the report page."""
    from accord.linkage.evaluate import evaluate_files
    from accord.linkage.report import write_report

    evaluation = evaluate_files(matches, truth_left, truth_right, threshold)
    files = write_report(evaluation, report, title=f"Linkage evaluation: {matches.name}",
                         inputs={"MATCHES": str(matches), "truth, left": str(truth_left),
                                 "truth, right": str(truth_right)})
    return evaluation.summary(), files.html


def cluster_files(pairs: list[Path], *, threshold: float, previous: Path | None) -> Any:
    """Group linked records into persons (``accord.linkage.clustering``), keeping the previous run's keys."""
    from accord.linkage.clustering import cluster
    from accord.linkage.evaluate import read_tabular

    tables = [read_tabular(path, "pairs file") for path in pairs]
    before = read_tabular(previous, "previous keys file") if previous is not None else None
    return cluster(tables, threshold=threshold, previous=before, names=[str(p) for p in pairs],
                   previous_name=str(previous))

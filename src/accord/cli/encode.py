"""`accord encode`: a body encodes its records into keyed Bloom filters before anything leaves it.

The body runs this on its own machine with the secret it shares with the other
parties to the agreement (never with the hub), then uploads only OUT: its record
ids and one filter per field. See docs/pprl.md.

Bad input (a missing or unreadable file, a mapped column that is not there, an
unreadable date column, a secret file that is missing or too short, a bad
option) is one line on stderr and exit code 2, raised before OUT exists; OUT is
written under a temporary name and renamed when complete. The secret is never
printed or logged, not even its length.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from accord.cli.common import console, err
from accord.errors import InvalidInput

MIN_SECRET_BYTES = 32  # accord.linkage.pprl.MIN_KEY_BYTES; here so `accord --help` does not load NumPy
OUTPUT_SUFFIXES = (".parquet", ".csv")


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


def _check_options(file: Path, out: Path, agreement: str, key_version: int) -> None:
    if out.suffix.lower() not in OUTPUT_SUFFIXES:
        raise InvalidInput(f"--out {out.name}: the encoding must be written as .parquet or .csv")
    if not out.parent.is_dir():
        raise InvalidInput(f"--out {out}: the directory {out.parent} does not exist")
    if out.is_dir():
        raise InvalidInput(f"--out {out} is a directory")
    if out.resolve() == file.resolve():
        raise InvalidInput(f"--out {out} is the input file: write the encoding to a new file")
    if not agreement.strip():
        raise InvalidInput("--agreement must name the agreement the key is for")
    if key_version < 1:
        raise InvalidInput("--key-version must be 1 or more")


def encode(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The body's records (CSV or Parquet)",
                                         show_default=False)],
    out: Annotated[Path, typer.Option("--out", help="The encoding to write: .parquet (or .csv with a parameters "
                                      "file beside it)", show_default=False)],
    agreement: Annotated[str, typer.Option("--agreement", help="The agreement the encoding is for (scopes the key)",
                                           show_default=False)],
    secret_file: Annotated[Path, typer.Option("--secret-file", help="File holding the secret shared with the other "
                                              "parties (at least 32 bytes)", show_default=False)],
    id_column: Annotated[str | None, typer.Option("--id", help="The id column (default record_id, then id, else "
                                                  "the row number)", show_default=False)] = None,
    mapping: Annotated[str | None, typer.Option("--map", help="Columns for standard fields: field=column,...",
                                                show_default=False)] = None,
    key_version: Annotated[int, typer.Option("--key-version", help="The key version (a new one after a rotation)")
                           ] = 1,
) -> None:
    """Encode a body's records into keyed Bloom filters, to be linked without revealing identifiers."""
    from accord.linkage import pprl  # imported here: NumPy and pyarrow load only for this command
    from accord.linkage.prepare import prepare_file

    _check_options(file, out, agreement, key_version)
    secret = read_secret(secret_file)
    started = time.perf_counter()
    prepared = prepare_file(file, mapping, id_column, source="FILE")
    key = pprl.derive_agreement_key(secret, agreement, key_version)
    del secret
    encoded = pprl.encode_table(prepared.table, key)
    pprl.write_encoded(encoded, out)
    held = [f for f in prepared.fields if f in {spec.name for spec in pprl.bloom.FIELD_SPECS}]
    console.print(f"encoded {encoded.num_rows:,} records ({', '.join(held) or 'no identifying fields'}) for "
                  f"agreement {agreement}, key version {key_version}, in {time.perf_counter() - started:.1f} s "
                  f"-> {out}", highlight=False, soft_wrap=True)
    for note in prepared.notes:
        err.print(f"note: {prepared.source}: {note}", highlight=False, soft_wrap=True)
    if out.suffix.lower() == ".csv":
        console.print(f"parameters: {pprl.sidecar_path(out)} (keep it with the CSV)", highlight=False,
                      soft_wrap=True)

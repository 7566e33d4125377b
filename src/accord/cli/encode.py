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
from accord.services.linking import encode_file, read_secret

OUTPUT_SUFFIXES = (".parquet", ".csv")


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
    _check_options(file, out, agreement, key_version)
    started = time.perf_counter()
    done = encode_file(file, out, agreement=agreement, secret=read_secret(secret_file),
                             id_column=id_column, mapping=mapping, key_version=key_version)
    console.print(f"encoded {done['records']:,} records ({', '.join(done['fields']) or 'no identifying fields'}) for "
                  f"agreement {agreement}, key version {key_version}, in {time.perf_counter() - started:.1f} s "
                  f"-> {out}", highlight=False, soft_wrap=True)
    for note in done["notes"]:
        err.print(f"note: {note}", highlight=False, soft_wrap=True)
    if done["sidecar"] is not None:
        console.print(f"parameters: {done['sidecar']} (keep it with the CSV)", highlight=False, soft_wrap=True)

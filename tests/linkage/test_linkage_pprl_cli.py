"""`accord encode`: a body's file encoded with the agreement's key; bad input is one line, exit 2, no output."""

from __future__ import annotations

import csv
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pprl_support import SECRET

from accord.linkage import pprl

ROWS = [
    {"ref": "r1", "forename": "William", "surname": "Smith", "birth": "12/03/1961", "postcode": "sw1a1aa",
     "nino": "AB 12 34 56 C"},
    {"ref": "r2", "forename": "Margaret", "surname": "Thompson", "birth": "30/07/1948", "postcode": "LS1 4AP",
     "nino": ""},
    {"ref": "r3", "forename": "Bill", "surname": "Smyth", "birth": "", "postcode": "", "nino": ""},
]
MAP = "first_name=forename,dob=birth"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    source = tmp_path / "people.csv"
    with source.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(ROWS[0]))
        writer.writeheader()
        writer.writerows(ROWS)
    secret = tmp_path / "agreement.secret"
    secret.write_bytes(SECRET + b"\n")
    return {"source": source, "secret": secret, "dir": tmp_path}


def encode(accord, files: dict[str, Path], out: Path, *extra: object):  # noqa: ANN001, ANN201
    return accord("encode", files["source"], "--out", out, "--agreement", "agr-1",
                      "--secret-file", files["secret"], "--id", "ref", "--map", MAP, *extra)


def test_encode_writes_the_same_encoding_as_the_library(accord, files) -> None:  # noqa: ANN001
    out = files["dir"] / "people-encoded.parquet"
    result = encode(accord, files, out)
    assert result.code == 0, result.err
    assert "encoded 3 records" in result.out and "agr-1" in result.out
    table = pq.read_table(out)
    assert pprl.is_encoded(table.schema)
    assert table.column("id").to_pylist() == ["r1", "r2", "r3"]
    from accord.linkage.prepare import prepare_file

    expected = pprl.encode_table(prepare_file(files["source"], MAP, "ref").table,
                                 pprl.derive_agreement_key(SECRET, "agr-1"))
    assert table.equals(expected) and table.schema.metadata == expected.schema.metadata
    # the trailing line break of the secret file is not part of the secret, as for `accord link`
    again = encode(accord, files, files["dir"] / "again.parquet")
    assert again.code == 0 and pq.read_table(files["dir"] / "again.parquet").equals(table)


def test_encode_never_shows_the_secret(accord, files) -> None:  # noqa: ANN001
    result = encode(accord, files, files["dir"] / "e.parquet")
    out = files["dir"] / "e.parquet"
    for text in (result.out, result.err, out.read_bytes().decode("latin-1")):
        assert SECRET.decode() not in text and SECRET.hex() not in text


def test_key_version_and_csv_output(accord, files) -> None:  # noqa: ANN001
    out = files["dir"] / "people-encoded.csv"
    result = encode(accord, files, out, "--key-version", "2")
    assert result.code == 0, result.err
    assert pprl.sidecar_path(out).is_file()
    table = pprl.read_encoded(out)
    params = pprl.encoding_of(table.schema)
    assert params["key_version"] == 2 and params["agreement_id"] == "agr-1"
    version_1 = files["dir"] / "v1.parquet"
    assert encode(accord, files, version_1).code == 0
    with pytest.raises(Exception, match="key version"):
        pprl.link_encoded(table, pq.read_table(version_1))


@pytest.mark.parametrize(("change", "says"), [
    ({"secret": "missing"}, "no such file"),
    ({"secret": b"too short\n"}, "at least 32 bytes"),
    ({"map": "first_name=nope"}, "nope"),
    ({"map": "shoe_size=forename"}, "not a standard field"),
    ({"out": "encoded.txt"}, ".parquet or .csv"),
    ({"out": "missing-dir/encoded.parquet"}, "does not exist"),
    ({"source": "missing.csv"}, "missing.csv"),
    ({"source": "empty.csv"}, "empty"),
    ({"source": "binary.csv"}, "UTF-8"),
    ({"dates": True}, "birth"),
    ({"version": "0"}, "--key-version"),
    ({"agreement": " "}, "--agreement"),
])
def test_bad_input_is_one_line_exit_2_and_no_output(accord, files, change, says) -> None:  # noqa: ANN001
    base = files["dir"]
    source, secret = files["source"], files["secret"]
    if change.get("secret") == "missing":
        secret = base / "nowhere.secret"
    elif "secret" in change:
        secret = base / "short.secret"
        secret.write_bytes(change["secret"])
    if "source" in change:
        source = base / change["source"]
        if change["source"] == "empty.csv":
            source.write_bytes(b"")
        elif change["source"] == "binary.csv":
            source.write_bytes(b"ref,forename\nr1,\xff\xfe\x00bad\n")
    if change.get("dates"):
        source = base / "bad-dates.csv"
        source.write_text("ref,forename,birth\n" + "".join(f"r{i},Ann,not a date {i}\n" for i in range(20)))
    out = base / change.get("out", "encoded.parquet")
    result = accord("encode", source, "--out", out,
                        "--agreement", change.get("agreement", "agr-1"), "--secret-file", secret, "--id", "ref",
                        "--map", change.get("map", MAP), "--key-version", change.get("version", "1"))
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert result.code == 2, result
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], lines
    assert "Traceback" not in result.err
    assert SECRET.decode() not in result.err + result.out
    leftovers = [p.name for p in base.iterdir() if p.name.startswith((".encoded", "encoded"))]
    assert leftovers == []


def test_encodings_from_the_cli_link(accord, files) -> None:  # noqa: ANN001
    """Two bodies encode with the shared secret; the hub links the encodings (same person: r1 and Bill Smyth)."""
    other = files["dir"] / "other.parquet"
    pq.write_table(pa.table({"record_id": ["x1", "x2"], "first_name": ["Bill", "Zebedee"],
                             "surname": ["Smith", "Quartermaine"], "dob": ["1961-03-12", "1990-01-01"],
                             "postcode": ["SW1A 1AA", "ZE1 0AA"], "nino": ["AB123456C", None]}), other)
    mine, theirs = files["dir"] / "mine.parquet", files["dir"] / "theirs.parquet"
    assert encode(accord, files, mine).code == 0
    assert accord("encode", other, "--out", theirs, "--agreement", "agr-1",
                      "--secret-file", files["secret"]).code == 0
    links = pprl.link_encoded(pq.read_table(mine), pq.read_table(theirs))
    pairs = set(zip(links.column("left_id").to_pylist(), links.column("right_id").to_pylist()))
    assert ("r1", "x1") in pairs and not any(right == "x2" for _, right in pairs)

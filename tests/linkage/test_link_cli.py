"""`accord link`: every mode from the command line, CSV and Parquet, column mapping, stored models, bad input."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
import typer
from accord_testing import CliRun, add_agreement, add_officer, example_spec, seed_register
from link_support import SYNTH_MAP, LEFT, RIGHT, make_bodies, pair_set, read_pairs, report, score, view
from sqlalchemy import select

from accord.cli import link as link_cli
from accord.clock import utcnow
from accord.runtime import Hub
from accord.storage.models import AuditEntry, DecisionRecord
from accord.storage.tables.linkage import LinkageModelRecord

ACTIVE = "paye-for-official-statistics"
IN_CONSULTATION = "debt-pilot-northshire"
# Test agreements: DVLA's drivers (RIGHT) disclosed to ONS for statistics, naming the identifiers linkage compares
# (not sex, which the synthetic file also holds); FUTURE is the same agreement, active, but starting next year.
LINKING, FUTURE = "dvla-drivers-for-statistics", "dvla-drivers-from-next-year"
LINKING_FIELDS = ["first_name", "middle_name", "surname", "date_of_birth", "address_line_1", "postcode"]
BODY = "ons"
@pytest.fixture(scope="module")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bodies(tmp_path_factory.mktemp("link-cli") / "synth", persons=2500, seed=5)


@pytest.fixture
def hub(cli_hub: Hub) -> Hub:
    """The CLI's database, with the example register and agreements, and the two linking agreements."""
    seed_register(cli_hub)
    _activate_linking_agreement(cli_hub, LINKING)
    _activate_linking_agreement(cli_hub, FUTURE, starts_in=timedelta(days=400))
    return cli_hub


def _activate_linking_agreement(hub: Hub, agreement_id: str, starts_in: timedelta = timedelta(0)) -> None:
    """The PAYE statistics agreement made over DVLA's drivers, active (from today plus ``starts_in``)."""
    start = utcnow().date() + starts_in
    add_agreement(hub, example_spec(
        ACTIVE, id=agreement_id, disclosers=["dvla"], data=[{"dataset": "dvla-drivers", "fields": LINKING_FIELDS}],
        start_date=start, end_date=start + timedelta(days=3 * 365), review_date=None))


def _decisions(hub: Hub) -> list[DecisionRecord]:
    with hub.transaction() as session:
        return list(session.scalars(select(DecisionRecord).order_by(DecisionRecord.id)))


def _audit_entries(hub: Hub, kind: str = "access.decision") -> list[dict]:
    with hub.transaction() as session:
        payloads = session.scalars(select(AuditEntry.payload).order_by(AuditEntry.id)).all()
    return [entry for entry in map(json.loads, payloads) if entry["kind"] == kind]


def _governed_args(synth: Path, agreement: str = LINKING, body: str = BODY) -> list[object]:
    """LEFT is ONS's own file; RIGHT is DVLA's, as the agreement discloses it to ONS."""
    return [view(synth, LEFT), view(synth, RIGHT), *_mapped_args(), "--agreement", agreement, "--body", body]


@pytest.fixture
def files_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the record files read (every module that reads records goes through read_records)."""
    import accord.linkage.prepare
    import accord.services.linking.governed  # noqa: F401 - imported before patching, so none keeps the original
    from accord.linkage import records

    original, seen = records.read_records, []

    def spy(source: object, *args: object, **kwargs: object) -> object:
        seen.append(Path(str(source)).name)
        return original(source, *args, **kwargs)

    for module in list(sys.modules.values()):
        if (getattr(module, "__name__", "") or "").startswith("accord.") and \
                getattr(module, "read_records", None) is original:
            monkeypatch.setattr(module, "read_records", spy)
    return seen


def _mapped_args() -> list[str]:
    return ["--left-map", SYNTH_MAP, "--right-map", SYNTH_MAP]


def _no_partial_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if ".partial-" in p.name]


# --------------------------------------------------------------------------- linking


def test_csv_with_its_own_column_names_links_like_parquet(accord: Callable[..., CliRun], synth: Path,
                                                          tmp_path: Path) -> None:
    # The same DVLA records as a CSV file, columns named its own way and dates written DD/MM/YYYY.
    dvla = pq.read_table(view(synth, RIGHT))
    dates = pc.strftime(dvla.column("date_of_birth"), format="%d/%m/%Y")
    renamed = pa.table({
        "licence_ref": dvla.column("record_id"), "forename": dvla.column("first_name"),
        "family_name": dvla.column("surname"), "born": dates, "post_code": dvla.column("postcode"),
        "home": dvla.column("address_line_1"), "middle_name": dvla.column("middle_name"), "sex": dvla.column("sex"),
    })
    csv_in = tmp_path / "dvla.csv"
    pacsv.write_csv(renamed, csv_in)
    model = tmp_path / "model.json"

    first = accord("link", view(synth, LEFT), view(synth, RIGHT), "--out", tmp_path / "pairs.parquet",
                   *_mapped_args(), "--model", model)
    assert first.code == 0, first.err
    assert "model trained and written to" in first.out and model.is_file()
    right_map = "first_name=forename,surname=family_name,dob=born,postcode=post_code,address=home"
    second = accord("link", view(synth, LEFT), csv_in, "--out", tmp_path / "pairs.csv", "--left-map", SYNTH_MAP,
                    "--right-map", right_map, "--right-id", "licence_ref", "--model", model)
    assert second.code == 0, second.err
    assert "model read from" in second.out
    parquet_pairs, csv_pairs = read_pairs(tmp_path / "pairs.parquet"), read_pairs(tmp_path / "pairs.csv")
    assert parquet_pairs.num_rows > 500
    assert pair_set(csv_pairs) == pair_set(parquet_pairs)
    assert csv_pairs.column_names[:3] == ["left_id", "right_id", "match_probability"]
    assert (tmp_path / "pairs.csv").read_text().startswith("left_id,right_id,match_probability,match_weight,")
    got = score(parquet_pairs, synth)
    report(f"\naccord link probabilistic: {got}")
    assert got.f1 >= 0.98
    assert not first.err_lines and not second.err_lines  # no progress noise when not on a terminal


def test_agreement_model_is_trained_once_then_reused(accord: Callable[..., CliRun], hub: Hub, synth: Path,
                                                     tmp_path: Path) -> None:
    args = _governed_args(synth)
    first = accord("link", *args, "--out", tmp_path / "first.parquet")
    assert first.code == 0, first.err
    assert f"stored as agreement {LINKING}'s version 1" in first.out
    # Training reads RIGHT as well as linking it: both are decided and recorded.
    assert [d.action for d in _decisions(hub)] == ["linkage.link", "linkage.train"]

    from splink.internals.linker_components.training import LinkerTraining

    def no_training(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the stored model should be used: no EM step")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(LinkerTraining, "estimate_parameters_using_expectation_maximisation", no_training)
        patch.setattr(LinkerTraining, "estimate_u_using_random_sampling", no_training)
        second = accord("link", *args, "--out", tmp_path / "second.parquet")
    assert second.code == 0, second.err
    assert f"agreement {LINKING}'s model version 1" in second.out
    assert read_pairs(tmp_path / "second.parquet").equals(read_pairs(tmp_path / "first.parquet"))
    with hub.transaction() as session:
        stored = session.scalars(select(LinkageModelRecord)).all()
        assert [(r.agreement_id, r.version) for r in stored] == [(LINKING, 1)]
        assert stored[0].training["left_rows"] == pq.read_metadata(view(synth, LEFT)).num_rows
    # The stored model is used: linking alone is decided.
    assert [d.action for d in _decisions(hub)][2:] == ["linkage.link"]

    third = accord("link", *args, "--out", tmp_path / "third.parquet", "--retrain")
    assert third.code == 0, third.err
    assert f"stored as agreement {LINKING}'s version 2" in third.out
    assert [d.action for d in _decisions(hub)][3:] == ["linkage.link", "linkage.train"]
    assert {(d.body_id, d.agreement_id, d.dataset_id, d.allowed) for d in _decisions(hub)} == {
        (BODY, LINKING, RIGHT, True)}


def test_deterministic_and_pprl_modes(accord: Callable[..., CliRun], synth: Path, tmp_path: Path) -> None:
    det = accord("link", view(synth, LEFT), view(synth, RIGHT), "--out", tmp_path / "det.csv", *_mapped_args(),
                 "--mode", "deterministic")
    assert det.code == 0, det.err
    det_pairs = read_pairs(tmp_path / "det.csv")
    assert det_pairs.column_names[:3] == ["left_id", "right_id", "match_probability"]
    assert {"grade", "rule"} <= set(det_pairs.column_names)
    assert score(det_pairs, synth).precision >= 0.95

    pprl = accord("link", view(synth, LEFT), view(synth, RIGHT), "--out", tmp_path / "pprl.parquet",
                  *_mapped_args(), "--mode", "pprl", "--threshold", "0.9")
    assert pprl.code == 0, pprl.err
    assert "fresh random key" in pprl.err
    pprl_pairs = read_pairs(tmp_path / "pprl.parquet")
    assert pprl_pairs.column_names[:3] == ["left_id", "right_id", "match_probability"]
    assert pc.min(pprl_pairs.column("match_probability")).as_py() >= 0.9
    assert score(pprl_pairs, synth).f1 >= 0.95


def _encode_both(synth: Path, tmp_path: Path, secret: bytes, agreement: str, suffix: str = "") -> tuple[Path, Path]:
    """Each body's file encoded on its own machine (`accord encode`), for ``agreement``."""
    from accord.linkage import pprl
    from accord.linkage.prepare import prepare_file

    key = pprl.derive_agreement_key(secret, agreement, 1)
    paths = []
    for dataset, name in ((LEFT, f"hmrc{suffix}.parquet"), (RIGHT, f"dvla{suffix}.csv")):
        std = prepare_file(view(synth, dataset), SYNTH_MAP, source=dataset).table
        pprl.write_encoded(pprl.encode_table(std, key), tmp_path / name)
        paths.append(tmp_path / name)
    return paths[0], paths[1]


def test_pprl_on_encodings_uploaded_by_the_bodies(accord: Callable[..., CliRun], hub: Hub, synth: Path,
                                                  tmp_path: Path) -> None:
    secret = b"a secret the two bodies share, 32+ bytes long"
    (tmp_path / "agreement.secret").write_bytes(secret + b"\n")
    hmrc, dvla = _encode_both(synth, tmp_path, secret, LINKING)

    # Two encodings: no identifier is read, so no body is named and nothing is decided.
    both = accord("link", hmrc, dvla, "--out", tmp_path / "enc.parquet", "--mode", "pprl", "--agreement", LINKING)
    assert both.code == 0, both.err
    assert "pprl on Bloom-filter encodings" in both.out and "random key" not in both.err
    encoded_pairs = read_pairs(tmp_path / "enc.parquet")
    assert score(encoded_pairs, synth).f1 >= 0.95
    assert _decisions(hub) == []

    # One side uploaded as an encoding, the other (DVLA's plaintext) encoded at the hub with the agreement's key:
    # reading it under the agreement needs a body, is decided (to link, and to encode) and gives the same pairs.
    mixed_args = [hmrc, view(synth, RIGHT), "--out", tmp_path / "mixed.parquet", "--right-map", SYNTH_MAP,
                  "--mode", "pprl", "--agreement", LINKING, "--secret-file", tmp_path / "agreement.secret"]
    unnamed = accord("link", *mixed_args)
    assert unnamed.code == 2 and "--agreement needs --body" in unnamed.err
    mixed = accord("link", *mixed_args, "--body", BODY)
    assert mixed.code == 0, mixed.err
    assert pair_set(read_pairs(tmp_path / "mixed.parquet")) == pair_set(encoded_pairs)
    assert [(d.action, d.allowed) for d in _decisions(hub)] == [("linkage.link", True), ("linkage.encode", True)]

    # DVLA's encoding linked with ONS's plaintext (encoded at the hub as ONS's own file): reading the encoding is
    # decided, for the fields its filters stand for (named as DVLA's dataset names them), and nothing is encoded
    # of RIGHT.
    reverse = accord("link", view(synth, LEFT), dvla, "--out", tmp_path / "reverse.parquet", *_mapped_args(),
                     "--mode", "pprl", "--agreement", LINKING, "--secret-file", tmp_path / "agreement.secret",
                     "--body", BODY)
    assert reverse.code == 0, reverse.err
    assert pair_set(read_pairs(tmp_path / "reverse.parquet")) == pair_set(encoded_pairs)
    last = _decisions(hub)[-1]
    assert (last.action, last.allowed) == ("linkage.link", True) and len(_decisions(hub)) == 3
    assert set(last.fields_permitted) == set(LINKING_FIELDS)

    other = accord("link", hmrc, dvla, "--out", tmp_path / "x.parquet", "--mode", "pprl",
                   "--agreement", "gro-deaths-to-dwp")
    assert other.code == 2 and f"made for agreement {LINKING}, not gro-deaths-to-dwp" in other.err
    assert not (tmp_path / "x.parquet").exists()

    # The agreement named must be in force, even when no record is read.
    consulting = accord("link", hmrc, dvla, "--out", tmp_path / "x.parquet", "--mode", "pprl",
                        "--agreement", IN_CONSULTATION)
    assert consulting.code == 2 and f"agreement '{IN_CONSULTATION}' is consultation, not active" in consulting.err
    # Encodings made for an agreement that has not started yet are not linked (whether named or not).
    early_hmrc, early_dvla = _encode_both(synth, tmp_path, secret, FUTURE, suffix="-future")
    for extra in ([], ["--agreement", FUTURE]):
        early = accord("link", early_hmrc, early_dvla, "--out", tmp_path / "x.parquet", "--mode", "pprl", *extra)
        assert early.code == 2 and f"agreement '{FUTURE}' starts on" in early.err, early.err
    assert not (tmp_path / "x.parquet").exists()
    assert len(_decisions(hub)) == 3


def test_threshold_keeps_only_likelier_pairs(accord: Callable[..., CliRun], synth: Path, tmp_path: Path) -> None:
    model = tmp_path / "m.json"
    low = accord("link", view(synth, LEFT), view(synth, RIGHT), "--out", tmp_path / "low.parquet", *_mapped_args(),
                 "--model", model, "--threshold", "0.01")
    high = accord("link", view(synth, LEFT), view(synth, RIGHT), "--out", tmp_path / "high.parquet",
                  *_mapped_args(), "--model", model, "--threshold", "0.999")
    assert low.code == 0 and high.code == 0, low.err + high.err
    low_pairs, high_pairs = read_pairs(tmp_path / "low.parquet"), read_pairs(tmp_path / "high.parquet")
    assert pair_set(high_pairs) < pair_set(low_pairs)
    assert pc.min(high_pairs.column("match_probability")).as_py() >= 0.999


# --------------------------------------------------------------------------- under an agreement


def test_link_under_an_agreement_is_decided_and_recorded(accord: Callable[..., CliRun], hub: Hub, synth: Path,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.linkage import deterministic
    from accord.services.access import commitment
    from accord.services.subjects import subject_column

    seen: list[pa.Table] = []
    link_tables = deterministic.link_tables

    def spy(left: pa.Table, right: pa.Table, *args: object, **kwargs: object) -> pa.Table:
        seen.append(right)
        return link_tables(left, right, *args, **kwargs)

    monkeypatch.setattr(deterministic, "link_tables", spy)
    out = tmp_path / "pairs.parquet"
    officer = add_officer(hub, BODY, "oidc|ada", name="Ada Analyst")
    run = accord("link", *_governed_args(synth), "--mode", "deterministic", "--officer", "oidc|ada", "--out", out)
    assert run.code == 0, run.err
    assert out.is_file() and read_pairs(out).num_rows > 500

    [decision] = _decisions(hub)
    assert f"decisions {decision.id} recorded" in run.out
    assert (decision.body_id, decision.officer, decision.action, decision.dataset_id, decision.agreement_id) == (
        BODY, f"officer:{officer['id']} (Ada Analyst)", "linkage.link", RIGHT, LINKING)
    assert decision.allowed
    assert decision.records == pq.read_metadata(view(synth, LEFT)).num_rows  # the records ONS brought
    # The linkage asked for every identifier column of RIGHT; sex is not in the agreement, so it was not read.
    assert "sex" in decision.fields_requested and set(decision.fields_permitted) == set(LINKING_FIELDS)
    assert "not read, as agreement" in run.err and "sex" in run.err
    [right] = seen
    assert right.column("sex").null_count == right.num_rows
    assert right.column("first_name").null_count < right.num_rows

    # The audit entry: a bulk action, so it names no one but counts DVLA's people and commits to their keys.
    [entry] = _audit_entries(hub)
    assert (entry["outcome"], entry["action"], entry["body_id"], entry["actor"]) == (
        "allow", "linkage.link", BODY, f"officer:{officer['id']} (Ada Analyst)")
    assert entry["subjects"] == [] and entry["details"]["removed_fields"] == ["sex"]
    dvla = pq.read_table(view(synth, RIGHT))
    keys = subject_column(hub, dvla, {"first_name": "first_name", "surname": "surname", "dob": "date_of_birth"},
                          "test")
    expected = {key for key in keys.to_pylist() if key}
    assert entry["details"]["subjects"] == {"count": len(expected), "sha256": commitment(expected)}
    assert entry["details"]["outcome"] == {"left_records": decision.records}


@pytest.mark.parametrize(("body", "agreement", "reason"), [
    ("hmrc", LINKING, f"no agreement names 'hmrc' as a recipient of dataset '{RIGHT}'"),
    (BODY, FUTURE, f"agreement '{FUTURE}' starts on"),
])
def test_link_refused_under_an_agreement_reads_nothing(accord: Callable[..., CliRun], hub: Hub, synth: Path,
                                                       tmp_path: Path, files_read: list[str], body: str,
                                                       agreement: str, reason: str) -> None:
    out = tmp_path / "pairs.parquet"
    run = accord("link", *_governed_args(synth, agreement, body), "--out", out)
    assert run.code == 1, run.err
    # Both uses the run would make of RIGHT (linking, and training a model on it) are refused and recorded.
    decisions = _decisions(hub)
    assert [(d.body_id, d.action, d.dataset_id, d.allowed) for d in decisions] == [
        (body, "linkage.link", RIGHT, False), (body, "linkage.train", RIGHT, False)]
    assert f"refused (decisions {decisions[0].id}, {decisions[1].id}, recorded in the audit log)" in run.err
    assert reason in run.err
    assert all(any(reason in r for r in d.reasons) for d in decisions)
    entries = _audit_entries(hub)
    assert [(e["outcome"], e["action"], e["body_id"]) for e in entries] == [
        ("deny", "linkage.link", body), ("deny", "linkage.train", body)]
    # Nothing of RIGHT was read (LEFT, the body's own file, was), nothing trained, nothing written.
    assert files_read == [view(synth, LEFT).name]
    assert not out.exists() and not _no_partial_files(tmp_path)
    with hub.transaction() as session:
        assert session.scalars(select(LinkageModelRecord)).all() == []


# --------------------------------------------------------------------------- bad input


def _assert_bad_input(run: CliRun, out: Path, *mentions: str) -> None:
    run.assert_bad_input(*mentions)
    assert not out.exists()
    assert not _no_partial_files(out.parent)


def test_missing_mapped_column(accord: Callable[..., CliRun], synth: Path, tmp_path: Path) -> None:
    out = tmp_path / "pairs.csv"
    run = accord("link", view(synth, LEFT), view(synth, RIGHT), "--out", out, "--left-map", "dob=birth_date")
    _assert_bad_input(run, out, "LEFT hmrc-paye.parquet", "column 'birth_date' (mapped to dob) is not in the input")


def test_empty_file(accord: Callable[..., CliRun], synth: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    out = tmp_path / "pairs.parquet"
    _assert_bad_input(accord("link", view(synth, LEFT), empty, "--out", out, *_mapped_args()), out,
                      "RIGHT empty.csv", "is empty")


def test_undecodable_text(accord: Callable[..., CliRun], synth: Path, tmp_path: Path) -> None:
    latin = tmp_path / "latin.csv"
    latin.write_bytes("record_id,first_name,surname\n1,Ana,Mu\u00f1oz\n".encode("latin-1"))
    out = tmp_path / "pairs.csv"
    _assert_bad_input(accord("link", latin, view(synth, RIGHT), "--out", out, "--right-map", SYNTH_MAP), out,
                      "LEFT latin.csv", "line 2 is not UTF-8 text")


def test_unparseable_date_column(accord: Callable[..., CliRun], synth: Path, tmp_path: Path) -> None:
    dates = tmp_path / "dates.csv"
    dates.write_text("record_id,first_name,surname,dob\n1,Ann,Lee,yesterday\n2,Bob,Roe,1970-01-02\n",
                     encoding="utf-8")
    out = tmp_path / "pairs.csv"
    _assert_bad_input(accord("link", view(synth, LEFT), dates, "--out", out, "--left-map", SYNTH_MAP), out,
                      "RIGHT dates.csv", "column 'dob'", "not dates in a known format", "row 1")


@pytest.mark.parametrize(("extra", "mentions"), [
    (["--out", "pairs.json"], ["must be a .csv or .parquet file"]),
    (["--out", "pairs.csv", "--threshold", "1.5"], ["--threshold must be a probability"]),
    (["--out", "pairs.csv", "--memory-limit", "lots"], ["--memory-limit must be a size"]),
    (["--out", "pairs.csv", "--chunks", "0"], ["--chunks must be 1 or more"]),
    (["--out", "pairs.csv", "--mode", "fuzzy"], ["--mode must be one of deterministic, probabilistic, pprl"]),
    (["--out", "pairs.csv", "--mode", "deterministic", "--engine", "spark"], ["applies to --mode probabilistic"]),
    (["--out", "pairs.csv", "--mode", "pprl", "--secret-file", "s.key"], ["--secret-file needs --agreement"]),
    (["--out", "nowhere/pairs.csv"], ["does not exist"]),
    (["--out", "pairs.csv", "--agreement", "no-such-agreement", "--body", BODY],
     ["no agreement 'no-such-agreement' exists"]),
    # Under an agreement, reading RIGHT is decided for a body: without one, nothing is read or recorded.
    (["--out", "pairs.csv", "--agreement", LINKING], ["--agreement needs --body"]),
    (["--out", "pairs.csv", "--agreement", IN_CONSULTATION], ["--agreement needs --body"]),
    (["--out", "pairs.csv", "--body", BODY], ["--body applies with --agreement only"]),
    (["--out", "pairs.csv", "--agreement", LINKING, "--body", BODY, "--dataset", "hmrc-paye"],
     [f"agreement '{LINKING}' does not disclose hmrc-paye"]),
    (["--out", "pairs.csv", "--agreement", LINKING, "--body", BODY, "--right-id", "driver_number"],
     ["--right-id driver_number", "row key"]),
])
def test_bad_options(accord: Callable[..., CliRun], hub: Hub, synth: Path, tmp_path: Path, extra: list[str],
                     mentions: list[str]) -> None:
    out = tmp_path / extra[1]
    args = [view(synth, LEFT), view(synth, RIGHT), *_mapped_args(), *extra]
    run = accord("link", *args)
    assert run.code == 2 and len(run.err_lines) == 1, run.err
    for text in mentions:
        assert text in run.err_lines[0]
    assert not out.exists()
    assert _decisions(hub) == []


def test_a_failure_while_linking_leaves_no_output(accord: Callable[..., CliRun], synth: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from accord.linkage import probabilistic

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(probabilistic, "predict", broken)
    out = tmp_path / "pairs.parquet"
    run = accord("link", view(synth, LEFT), view(synth, RIGHT), "--out", out, *_mapped_args(),
                 "--model", tmp_path / "m.json")
    assert run.code == 1 and "disk full" in run.err
    assert not out.exists() and not _no_partial_files(tmp_path)


# --------------------------------------------------------------------------- one group, two forms


def test_subcommands_and_linking_share_the_group(accord: Callable[..., CliRun], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[str, bool]] = []

    def probe(matches: Path, flag: bool = typer.Option(False, "--flag")) -> None:
        seen.append((str(matches), flag))

    link_cli.app.command("probe")(probe)
    try:
        run = accord("link", "probe", "some.parquet", "--flag")
    finally:
        link_cli.app.registered_commands.pop()
    assert run.code == 0, run.err
    assert seen == [("some.parquet", True)]
    usage = accord("link", "--help")
    assert usage.code == 0 and "accord link LEFT RIGHT --out OUT" in usage.out
    missing = accord("link", "only-left.csv")
    assert missing.code == 2 and "give two input files" in missing.err


def test_evaluate_is_wired_when_link_tools_exists(accord: Callable[..., CliRun]) -> None:
    import importlib.util

    if importlib.util.find_spec("accord.cli.link_tools") is None:
        pytest.skip("accord.cli.link_tools (accord link evaluate) is not there yet")
    run = accord("link", "evaluate", "--help")
    assert run.code == 0 and "--truth-left" in run.out

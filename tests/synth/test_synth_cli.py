"""`accord synth`: bad options give one clear line and exit code 2, and leave nothing behind."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import typer

import accord.cli.main as main
from accord.cli import synth


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """Run the command through the real entry point's error handling (accord.cli.main.run)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command("synth")(synth.synth)
    app.command("other", hidden=True)(lambda: None)  # keep 'synth' a subcommand, as in the real app
    monkeypatch.setattr(main, "app", app)
    monkeypatch.setattr(sys, "argv", ["accord", "synth", *args])
    with pytest.raises(SystemExit) as exc:
        main.run()
    captured = capsys.readouterr()
    return exc.value.code, captured.out, captured.err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--persons", "-5"], "persons must be between 1 and"),
        (["--persons", "0"], "persons must be between 1 and"),
        (["--persons", "10", "--seed", "-1"], "seed must be between 0 and"),
        (["--persons", "10", "--chunk-size", "0"], "chunk size must be at least 1"),
        (["--persons", "10", "--bodies", "dwp,nhs"], "unknown body 'nhs'"),
        (["--persons", "10", "--bodies", ","], "no bodies given"),
    ],
)
def test_bad_options_exit_2_with_one_line(monkeypatch, capsys, tmp_path: Path, args: list[str], message: str) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    code, _, err = _run(monkeypatch, capsys, *args, "--out", str(out))
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unwritable_directory(monkeypatch, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    for out, message in [(blocker / "out", "does not exist"), (blocker, "not a directory"),
                         (Path("/proc/accord-synth-test"), "cannot write")]:
        code, _, err = _run(monkeypatch, capsys, "--persons", "10", "--out", str(out))
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err


def test_existing_directory_is_not_overwritten_unless_asked(monkeypatch, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    code, _, err = _run(monkeypatch, capsys, "--persons", "10", "--out", str(out))
    assert code == 2 and "not empty" in err
    assert (out / "keep.txt").read_text() == "mine"
    code, stdout, _ = _run(monkeypatch, capsys, "--persons", "50", "--out", str(out), "--overwrite", "--bodies", "gro")
    assert code == 0 and "wrote 3 datasets" in stdout
    assert not (out / "keep.txt").exists() and (out / "gro-deaths.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no temporary directories left


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("dwp: {typo: 2}", "dwp.typo: expected a rate between 0 and 1"),
        ("dwp: {typo: yes}", "dwp.typo: expected a rate between 0 and 1"),
        ("nhs: {typo: 0.1}", "unknown body 'nhs'"),
        ("dwp: {spelling: 0.1}", "unknown setting 'spelling'"),
        ("dwp: {fictitious: 0.1}", "'fictitious' applies only to electoral"),
        ("dwp: [1, 2", "invalid YAML at line"),
        ("- 1\n- 2\n", "expected a mapping"),
    ],
)
def test_bad_noise_file(monkeypatch, capsys, tmp_path: Path, text: str, message: str) -> None:  # noqa: ANN001
    noise = tmp_path / "noise.yaml"
    noise.write_text(text)
    out = tmp_path / "out"
    code, _, err = _run(monkeypatch, capsys, "--persons", "10", "--out", str(out), "--noise", str(noise))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()


def test_missing_noise_file(monkeypatch, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    code, _, err = _run(monkeypatch, capsys, "--persons", "10", "--out", str(tmp_path / "o"), "--noise",
                        str(tmp_path / "nope.yaml"))
    assert code == 2 and "no such noise file" in err


def test_good_run_with_noise_file_and_csv(monkeypatch, capsys, tmp_path: Path) -> None:  # noqa: ANN001
    noise = tmp_path / "noise.yaml"
    noise.write_text("default: {typo: 0.2}\nelectoral: {fictitious: 0.1}\n")
    out = tmp_path / "out"
    code, stdout, err = _run(monkeypatch, capsys, "--persons", "2000", "--seed", "9", "--out", str(out),
                             "--bodies", "electoral,dwp", "--csv", "--noise", str(noise))
    assert code == 0, err
    assert "about 2,000 people" in stdout and "truth" in stdout
    assert (out / "dwp-benefits.csv").exists() and (out / "truth" / "dwp-benefits.parquet").exists()
    import json

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["noise"]["dwp"]["typo"] == 0.2 and manifest["noise"]["electoral"]["fictitious"] == 0.1
    assert manifest["bodies"] == ["dwp", "electoral"]


def test_help_lists_every_body() -> None:
    from accord.synth import BODY_KEYS

    assert synth.BODIES.split(",") == list(BODY_KEYS)

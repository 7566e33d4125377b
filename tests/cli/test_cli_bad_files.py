"""Bad input files: exit 2, one line naming the file (and line and column), never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from accord_testing import count_rows as counts
from cli_support import agreement_spec, run_script, write

from accord.runtime import Hub

COMMANDS = [("datasets", "add"), ("agreements", "create")]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_malformed_yaml_names_the_file_line_and_column(accord, seeded: Hub, tmp_path: Path, command) -> None:  # noqa: ANN001
    path = tmp_path / "broken.yaml"
    path.write_text("id: broken\nname: [unclosed\nbody_id: dwp\n")
    before = counts(seeded)
    line = accord(*command, path).assert_bad_input(str(path), "invalid YAML", "line ")
    assert "column" in line
    assert counts(seeded) == before


def test_malformed_json_names_the_file_line_and_column(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    path = tmp_path / "broken.json"
    path.write_text('{\n  "id": "broken",\n  "name": oops\n}\n')
    accord("agreements", "create", path).assert_bad_input(str(path), "invalid JSON at line 3, column")


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c))
def test_a_missing_file_is_named(accord, seeded: Hub, tmp_path: Path, command) -> None:  # noqa: ANN001
    accord(*command, tmp_path / "nowhere.yaml").assert_bad_input("nowhere.yaml", "no such file")


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\xff\xfe\x00binary", "not UTF-8"),
        (b"", "is not valid"),  # empty YAML is null, not a mapping
        (b"- just\n- a list\n", "is not valid"),
        (b"plain scalar\n", "is not valid"),
    ],
    ids=["binary", "empty", "list", "scalar"],
)
def test_files_that_are_not_a_mapping_are_refused(  # noqa: ANN001
    accord, seeded: Hub, tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "odd.yaml"
    path.write_bytes(content)
    accord("datasets", "add", path).assert_bad_input("odd.yaml", says)


def test_a_directory_given_as_the_file_is_refused(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    accord("agreements", "create", tmp_path).assert_bad_input(str(tmp_path), "cannot be read")


def test_bracketed_file_names_are_printed_as_they_are(accord, seeded: Hub, tmp_path: Path) -> None:  # noqa: ANN001
    """Console markup in a message (here a file name) is shown literally, not interpreted."""
    path = tmp_path / "[draft] agreement [/b].yaml"
    accord("agreements", "create", path).assert_bad_input("[draft] agreement [/b].yaml")


# --------------------------------------------- the console script, as a user runs it


def test_console_script_refuses_an_invalid_agreement_on_one_line(tmp_path: Path) -> None:
    """The installed `accord` command: exit 2, one stderr line, nothing stored, no traceback."""
    data_dir = tmp_path / "data"
    spec = agreement_spec(disclosers=["no-such-body"], areas=["Atlantis"])
    result = run_script("agreements", "create", str(write(tmp_path, "bad.yaml", spec)), data_dir=data_dir)
    line = result.assert_bad_input("is refused", "no body 'no-such-body'", "Atlantis")
    assert result.out.strip() == ""
    assert line.count("\n") == 0

    listed = run_script("agreements", "list", data_dir=data_dir)
    assert listed.code == 0 and "supporting-families-extension" not in listed.out

    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n")
    run_script("datasets", "add", str(broken), data_dir=data_dir).assert_bad_input("broken.yaml", "line 2")
    run_script("register", "export", "--format", "pdf", data_dir=data_dir).assert_bad_input("pdf")


def test_usage_errors_exit_2_without_a_traceback(accord, seeded: Hub) -> None:  # noqa: ANN001
    for args in (("agreements", "advance", "debt-pilot-northshire"), ("bodies", "add", "x"), ("no-such-command",)):
        result = accord(*args)
        assert result.code == 2, (args, result.err)
        assert "Traceback" not in result.out + result.err
        assert result.err.strip()

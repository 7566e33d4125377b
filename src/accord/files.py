"""What people hand to Accord: YAML and JSON files, column mappings, dates on the command line and files to
hash, each read with errors that say where."""

from __future__ import annotations

import hashlib
import json
import re
import sys
import tempfile
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from accord.clock import utcnow
from accord.errors import InvalidInput


def read_structured(path: Path, what: str = "file") -> Any:
    """Read a YAML or JSON file, naming the file and position of any syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such {what}") from None
    except UnicodeDecodeError:
        raise InvalidInput(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise InvalidInput(f"{path}: invalid YAML{where}") from None


def parse_mapping(text: str | None, source: str = "mapping") -> dict[str, str]:
    """'first_name=forename,dob=birth_date' -> {'first_name': 'forename', 'dob': 'birth_date'}."""
    mapping: dict[str, str] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        std, sep, col = item.partition("=")
        if not sep or not std.strip() or not col.strip():
            raise InvalidInput(f"{source}: '{item}' should be field=column")
        mapping[std.strip()] = col.strip()
    return mapping


def parse_date_option(text: str, option: str) -> date:
    """A past date given on the command line as YYYY-MM-DD, or InvalidInput naming the option."""
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(f"{option} must be a date as YYYY-MM-DD, not '{text}'") from None
    if value > utcnow().date() or value.year < 1850:
        raise InvalidInput(f"{option} must be a past date")
    return value


def sha256_of(path: Path) -> str:
    """The file's SHA-256, read in blocks (a holding or an upload may be gigabytes)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


SERVER_PATH = "(a file on the server)"


def server_paths(*directories: Path) -> re.Pattern[str]:
    """A pattern matching any path under the server's own directories: the given ones (the data directory),
    the temporary directory, the Python installation, Accord's code, the home and working directories.

    The last guard before an error leaves the server (problem+json, pages): messages are written not to
    name server files, and this catches any that a library's message quotes anyway.
    """
    roots = {*(Path(d).absolute() for d in directories), Path(tempfile.gettempdir()), Path(sys.prefix), Path(sys.base_prefix),
             Path(__file__).resolve().parent.parent, Path.home(), Path.cwd()}
    spelled = {str(root) for root in roots} | {str(root.resolve()) for root in roots}
    usable = sorted((s.rstrip("/") for s in spelled if len(s.rstrip("/")) > 1), key=len, reverse=True)
    return re.compile(r"(?<![\w./-])(?:" + "|".join(map(re.escape, usable)) + r")(?![\w.-])[^\s'\"<>(),;:]*")


def without_server_paths(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(SERVER_PATH, text) if text else text

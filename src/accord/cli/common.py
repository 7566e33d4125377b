"""What every command shares: settings, the hub, reading input files, printing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from rich.console import Console

from accord.config import load_settings
from accord.errors import InvalidInput
from accord.runtime import Hub

M = TypeVar("M", bound=BaseModel)

console = Console()
err = Console(stderr=True)


def open_hub() -> Hub:
    return Hub.open(load_settings())


def read_structured(path: Path) -> Any:
    """Read a YAML or JSON file, naming the file and position of any syntax error."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
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


def parse_as(model: type[M], data: Any, source: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(top level)"
            problems.append(f"{where}: {error['msg']}")
        raise InvalidInput(f"{source} is not valid", problems) from None


def print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))

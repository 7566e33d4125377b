"""What every command shares: settings, the hub, reading input files, printing."""

from __future__ import annotations

import json
from typing import Any, TypeVar

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

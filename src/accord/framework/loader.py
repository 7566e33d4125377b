"""Load and validate a framework file, with errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from accord.errors import ConfigurationError
from accord.framework.model import Framework

DEFAULT_FRAMEWORK = Path(__file__).resolve().parent / "uk_dea_2017_part5.yaml"


def load_framework(path: Path | None = None) -> Framework:
    path = Path(path) if path else DEFAULT_FRAMEWORK
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"framework file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"framework file {path} cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(f"framework file {path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigurationError(f"framework file {path} must be a mapping at the top level")
    try:
        return Framework.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            message = error["msg"].removeprefix("Value error, ")
            where = ".".join(str(part) for part in error["loc"])
            problems.append(f"{where}: {message}" if where else message)
        raise ConfigurationError(f"framework file {path} is invalid", problems) from None

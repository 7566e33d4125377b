"""Public names of a package that load their module when first used (PEP 562).

A purpose package declares its public names in ``__init__`` but imports nothing
heavy there: finding the purposes (``services.purposes``) imports every package,
and ``accord --help`` must not pay for DuckDB, Splink or NumPy.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, names: Mapping[str, str]) -> tuple[list[str], Callable[[str], Any]]:
    """``(__all__, __getattr__)`` for ``package``, whose ``names`` map each public name to its submodule."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return sorted(names), __getattr__

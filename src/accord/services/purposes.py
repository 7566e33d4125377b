"""Purposes register themselves: no central list names them.

Each package under ``accord.services`` that has a ``registration`` module is
found here, and its ``register(registration)`` function says, in one place,
what the package adds: its catalogue actions, API router, CLI groups, pages,
job kinds, retention payloads and server workers. A new purpose is a new
package (and its migration); nothing else is edited.

Registration modules import nothing heavy (no DuckDB, Splink, pyarrow or
NumPy), so finding the purposes costs ``accord --help`` almost nothing. The
faces' objects are named by import path (``"accord.api.routes.verification:router"``)
and imported by the face that mounts them, when it mounts them: a service
never imports a face, and a command's heavy work loads when it runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from accord.policy import Action


@dataclass
class Registration:
    """What one package adds. Face objects are ``"module:attribute"`` paths, imported by the face."""

    package: str
    actions: list[Action] = field(default_factory=list)
    api_routers: list[str] = field(default_factory=list)
    cli_groups: list[tuple[str, str]] = field(default_factory=list)  # (command name, path of a Typer app)
    cli_commands: list[tuple[str, str]] = field(default_factory=list)  # (command name, path of a function)
    pages: list[str] = field(default_factory=list)  # paths of the pages' routers
    job_kinds: dict[str, str] = field(default_factory=dict)  # kind -> path of start(hub, job) -> Work
    retention: dict[str, str] = field(default_factory=dict)  # what is deleted -> path of purge(session, now) -> int
    workers: list[str] = field(default_factory=list)  # paths of classes Worker(hub) with start() and stop()

    def action(self, *actions: Action) -> None:
        self.actions.extend(actions)

    def api_router(self, path: str) -> None:
        self.api_routers.append(path)

    def cli_group(self, name: str, path: str) -> None:
        self.cli_groups.append((name, path))

    def cli_command(self, name: str, path: str) -> None:
        self.cli_commands.append((name, path))

    def page(self, path: str) -> None:
        self.pages.append(path)

    def job_kind(self, kind: str, path: str) -> None:
        self.job_kinds[kind] = path

    def retained(self, payload: str, path: str) -> None:
        self.retention[payload] = path

    def worker(self, path: str) -> None:
        self.workers.append(path)


@dataclass(frozen=True)
class Purposes:
    """Every package's registration, in package order, with the merged views the layers use."""

    registrations: tuple[Registration, ...]

    def _all(self, pick: Callable[[Registration], list]) -> list:
        return [item for registration in self.registrations for item in pick(registration)]

    @property
    def actions(self) -> list[Action]:
        return self._all(lambda r: r.actions)

    @property
    def api_routers(self) -> list[str]:
        return self._all(lambda r: r.api_routers)

    @property
    def cli_groups(self) -> list[tuple[str, str]]:
        return self._all(lambda r: r.cli_groups)

    @property
    def cli_commands(self) -> list[tuple[str, str]]:
        return self._all(lambda r: r.cli_commands)

    @property
    def pages(self) -> list[str]:
        return self._all(lambda r: r.pages)

    @property
    def workers(self) -> list[str]:
        return self._all(lambda r: r.workers)

    @property
    def job_kinds(self) -> dict[str, str]:
        return _merged(self.registrations, "job_kinds")

    @property
    def retention(self) -> dict[str, str]:
        return _merged(self.registrations, "retention")


def _merged(registrations: tuple[Registration, ...], name: str) -> dict[str, str]:
    merged: dict[str, str] = {}
    for registration in registrations:
        for key, path in getattr(registration, name).items():
            if key in merged:
                raise ValueError(f"{registration.package} registers {name} '{key}', already registered")
            merged[key] = path
    return merged


@cache
def purposes() -> Purposes:
    """Every registration under ``accord.services``, found once per process (the code does not change)."""
    package = importlib.import_module("accord.services")
    found = []
    for module in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not module.ispkg:
            continue
        name = f"accord.services.{module.name}"
        if importlib.util.find_spec(f"{name}.registration") is None:
            continue
        registration = Registration(name)
        importlib.import_module(f"{name}.registration").register(registration)
        found.append(registration)
    return Purposes(tuple(found))


def resolve(path: str) -> Any:
    """The object a registration names: ``"package.module:attribute"``."""
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)

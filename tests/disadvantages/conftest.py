"""Fixtures for the multiple-disadvantage tests: the synthetic population, generated once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from disadvantages_support import PERSONS, SEED, Truth, truth

from accord.synth.generate import generate


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("disadvantages") / "synth"
    generate(persons=PERSONS, seed=SEED, out=out, overwrite=True, workers=1)
    return out


@pytest.fixture(scope="session")
def answer_key(synth: Path) -> Truth:
    return truth(synth)

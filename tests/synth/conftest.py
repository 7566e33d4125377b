"""Synthetic data fixtures: small populations generated once per test session."""

from __future__ import annotations

import pytest
from synth_support import HIGH_NOISE, Generated

from accord.synth import generate


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """30,000 people with the default noise: two blocks, every body."""
    out = tmp_path_factory.mktemp("synth") / "small"
    return Generated(generate(persons=30_000, seed=11, out=out, workers=1), out)


@pytest.fixture(scope="session")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """50,000 people with high noise rates, for measuring them."""
    out = tmp_path_factory.mktemp("synth") / "noisy"
    return Generated(generate(persons=50_000, seed=5, out=out, noise=HIGH_NOISE, workers=1), out)

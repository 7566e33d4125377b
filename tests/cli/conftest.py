"""Fixtures for the CLI tests: ``seeded``, the example register in the command line's own database.

``data_dir``, ``accord(*args)`` and ``cli_hub`` are the shared fixtures in tests/conftest.py.
A few tests also run the installed console script in a subprocess; see cli_support.py.
"""

from __future__ import annotations

import pytest
from accord_testing import seed_register

from accord.runtime import Hub


@pytest.fixture
def seeded(cli_hub: Hub) -> Hub:
    seed_register(cli_hub)
    return cli_hub

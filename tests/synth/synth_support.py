"""Helpers shared by the synthetic-data tests (a uniquely named module: several
test folders have a conftest.py, so ``from conftest import`` is ambiguous)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from accord.synth import Manifest


@dataclass
class Generated:
    manifest: Manifest
    out: Path

    def view(self, name: str) -> dict[str, list]:
        return pq.read_table(self.out / f"{name}.parquet").to_pydict()

    def truth(self, name: str) -> dict[str, list]:
        return pq.read_table(self.out / "truth" / f"{name}.parquet").to_pydict()

    def population(self, name: str) -> dict[str, list]:
        return pq.read_table(self.out / "truth" / "population" / f"{name}.parquet").to_pydict()

    def persons_by_id(self) -> dict[int, dict]:
        persons = self.population("persons")
        keys = list(persons)
        return {pid: dict(zip(keys, row)) for pid, row in zip(persons["person_id"], zip(*persons.values()))}

    def addresses_by_uprn(self) -> dict[int, dict]:
        addresses = self.population("addresses")
        keys = list(addresses)
        return {u: dict(zip(keys, row)) for u, row in zip(addresses["uprn"], zip(*addresses.values()))}


# High rates, so that each rate can be measured precisely on a modest population.
HIGH_NOISE = {
    "default": {"typo": 0.10, "nickname": 0.30, "date_swap": 0.30, "missing": 0.10, "stale_address": 0.40,
                "maiden_name": 0.40, "postcode_format": 0.20, "duplicate": 0.05, "deceased_retained": 0.40,
                "omit": 0.0},
    "electoral": {"omit": 0.20, "fictitious": 0.05},
    "council-tax": {"false_discount": 0.25},
}


def within(measured: int, total: int, rate: float) -> tuple[bool, str]:
    """Whether measured/total is within four standard errors (plus a little) of rate."""
    assert total > 0, "nothing eligible to measure the rate on"
    share = measured / total
    tolerance = 4 * np.sqrt(rate * (1 - rate) / total) + 0.003
    return abs(share - rate) <= tolerance, f"{share:.4f} vs {rate} (±{tolerance:.4f}, n={total})"

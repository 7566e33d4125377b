"""Synthetic UK population and per-body datasets, with the ground truth kept apart.

Nobody may develop or demonstrate a personal-data system on real people. This
package makes a population of made-up people in households at addresses, with
life events over a five-year period, and writes what each public body would
hold about them (DWP, HMRC, GRO, councils, electoral registration, energy
suppliers, DVLA, schools, police, health, debt owners), with realistic noise,
plus the answer key mapping every record to its person.

    from accord.synth import generate
    manifest = generate(persons=10_000, seed=1, out="var/synth")

See docs/synth.md.
"""

from accord.synth.generate import Manifest, generate, parse_bodies
from accord.synth.noise import BODY_KEYS, DEFAULTS, BodyNoise
from accord.synth.views import DATASETS

__all__ = ["BODY_KEYS", "DATASETS", "DEFAULTS", "BodyNoise", "Manifest", "generate", "parse_bodies"]

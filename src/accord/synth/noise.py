"""Noise: the errors, gaps and disagreements of real administrative data, per body.

Every rate is a probability in [0, 1], applied independently to each record
that could show that kind of error (its "eligible" records):

============== ===================================================================
setting        what it does (eligible records)
============== ===================================================================
omit           the person is missing from the body although they qualify (people who qualify)
duplicate      the record appears twice in the body, each copy noised independently (all records)
typo           a typing error in a name or NINO, per field (records with a value in the field)
nickname       a nickname in place of the given name, e.g. Bill for William (given names with a nickname)
date_swap      day and month of the date of birth transposed (dates whose day is 12 or less and differs from the month)
missing        an optional field left empty, per field (records with a value in the field)
stale_address  the address before the person's move (people who moved during the period)
maiden_name    the surname before marriage (people whose surname changed on marriage)
postcode_format the postcode written another way: no space, lower case or two spaces (records with a postcode)
deceased_retained a person who died is still on the body's list, e.g. DWP payments after death (people who died)
false_discount council tax only: a single-person discount claimed by a household of two or more adults
fictitious     electoral registration applications only: applications for people who do not exist, as a share of genuine ones
============== ===================================================================

The ground truth records which noise each record received, so linkage can be
scored against it and the tests can check the rates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from accord.errors import InvalidInput
from accord.files import read_structured

BODY_KEYS = (
    "dwp", "hmrc", "gro", "council-tax", "electoral", "energy", "dvla",
    "early-help", "schools", "police", "health", "debts",
)


@dataclass(frozen=True)
class BodyNoise:
    omit: float = 0.02
    duplicate: float = 0.005
    typo: float = 0.01
    nickname: float = 0.02
    date_swap: float = 0.005
    missing: float = 0.02
    stale_address: float = 0.10
    maiden_name: float = 0.05
    postcode_format: float = 0.05
    deceased_retained: float = 0.02
    false_discount: float = 0.0
    fictitious: float = 0.0


SETTINGS = tuple(f.name for f in fields(BodyNoise))
ONLY = {"false_discount": {"council-tax"}, "fictitious": {"electoral"}}

DEFAULTS: dict[str, BodyNoise] = {
    # Benefit records are checked at claim: few typos, NINO always asked. Some awards are
    # still paid after death (deceased_retained), the anomaly Tell Us Once exists for.
    "dwp": BodyNoise(omit=0.0, duplicate=0.002, typo=0.005, nickname=0.01, date_swap=0.002, missing=0.01,
                     stale_address=0.05, maiden_name=0.05, postcode_format=0.01, deceased_retained=0.03),
    "hmrc": BodyNoise(omit=0.0, duplicate=0.01, typo=0.01, nickname=0.03, date_swap=0.005, missing=0.02,
                      stale_address=0.20, maiden_name=0.10, postcode_format=0.05, deceased_retained=0.01),
    # Civil registration is transcribed from the informant: high quality, names as at the event.
    "gro": BodyNoise(omit=0.0, duplicate=0.001, typo=0.003, nickname=0.0, date_swap=0.001, missing=0.005,
                     stale_address=0.0, maiden_name=0.0, postcode_format=0.02, deceased_retained=0.0),
    "council-tax": BodyNoise(omit=0.0, duplicate=0.005, typo=0.02, nickname=0.05, date_swap=0.0, missing=0.0,
                             stale_address=0.0, maiden_name=0.10, postcode_format=0.05, deceased_retained=0.15,
                             false_discount=0.04),
    "electoral": BodyNoise(omit=0.12, duplicate=0.01, typo=0.015, nickname=0.04, date_swap=0.01, missing=0.03,
                           stale_address=0.25, maiden_name=0.10, postcode_format=0.03, deceased_retained=0.05,
                           fictitious=0.01),
    "energy": BodyNoise(omit=0.0, duplicate=0.01, typo=0.03, nickname=0.10, date_swap=0.0, missing=0.05,
                        stale_address=0.0, maiden_name=0.15, postcode_format=0.10, deceased_retained=0.30),
    "dvla": BodyNoise(omit=0.0, duplicate=0.002, typo=0.005, nickname=0.0, date_swap=0.0, missing=0.01,
                      stale_address=0.20, maiden_name=0.10, postcode_format=0.02, deceased_retained=0.05),
    "early-help": BodyNoise(omit=0.10, duplicate=0.02, typo=0.03, nickname=0.08, date_swap=0.02, missing=0.05,
                            stale_address=0.15, maiden_name=0.05, postcode_format=0.05, deceased_retained=0.02),
    "schools": BodyNoise(omit=0.01, duplicate=0.005, typo=0.01, nickname=0.05, date_swap=0.005, missing=0.02,
                         stale_address=0.15, maiden_name=0.0, postcode_format=0.03, deceased_retained=0.0),
    "police": BodyNoise(omit=0.05, duplicate=0.05, typo=0.05, nickname=0.10, date_swap=0.03, missing=0.10,
                        stale_address=0.30, maiden_name=0.10, postcode_format=0.10, deceased_retained=0.0),
    "health": BodyNoise(omit=0.02, duplicate=0.01, typo=0.01, nickname=0.02, date_swap=0.005, missing=0.03,
                        stale_address=0.20, maiden_name=0.10, postcode_format=0.05, deceased_retained=0.03),
    "debts": BodyNoise(omit=0.0, duplicate=0.02, typo=0.02, nickname=0.03, date_swap=0.01, missing=0.05,
                       stale_address=0.25, maiden_name=0.10, postcode_format=0.05, deceased_retained=0.05),
}


def default_noise() -> dict[str, BodyNoise]:
    return dict(DEFAULTS)


def noise_from_mapping(data: Any, source: str = "noise settings") -> dict[str, BodyNoise]:
    """Defaults overridden by a mapping {body: {setting: rate}}; a 'default' key applies to every body first."""
    if data is None:
        return default_noise()
    if not isinstance(data, dict):
        raise InvalidInput(f"{source}: expected a mapping of body to settings")
    result = default_noise()
    common = data.get("default", {}) or {}
    for body, overrides in data.items():
        if body != "default" and body not in BODY_KEYS:
            raise InvalidInput(f"{source}: unknown body '{body}' (known: {', '.join(BODY_KEYS)})")
        if not isinstance(overrides or {}, dict):
            raise InvalidInput(f"{source}: '{body}' should be a mapping of setting to rate")
    for body in BODY_KEYS:
        merged = {**{k: v for k, v in common.items() if not (k in ONLY and body not in ONLY[k])},
                  **(data.get(body) or {})}
        result[body] = _apply(result[body], merged, f"{source}: {body}", body)
    return result


def _apply(base: BodyNoise, overrides: dict, where: str, body: str) -> BodyNoise:
    changes = {}
    for key, value in overrides.items():
        if key not in SETTINGS:
            raise InvalidInput(f"{where}: unknown setting '{key}' (known: {', '.join(SETTINGS)})")
        if key in ONLY and body not in ONLY[key]:
            raise InvalidInput(f"{where}: '{key}' applies only to {', '.join(sorted(ONLY[key]))}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
            raise InvalidInput(f"{where}.{key}: expected a rate between 0 and 1, got {value!r}")
        changes[key] = float(value)
    return replace(base, **changes)


def load_noise_file(path: Path) -> dict[str, BodyNoise]:
    """Read noise settings from a YAML (or JSON) file, naming the file and position of any error."""
    return noise_from_mapping(read_structured(Path(path), "noise file"), str(path))


def noise_as_dict(noise: dict[str, BodyNoise]) -> dict[str, dict[str, float]]:
    return {body: asdict(settings) for body, settings in noise.items()}


# --------------------------------------------------------------------------- string noise

_KEYBOARD = [
    "qwertyuiop", "asdfghjkl", "zxcvbnm",
]
_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_KEYBOARD):
    for _c, _ch in enumerate(_row):
        near = []
        for dr in (-1, 0, 1):
            rr = _r + dr
            if 0 <= rr < len(_KEYBOARD):
                for dc in (-1, 0, 1):
                    cc = _c + dc
                    if (dr or dc) and 0 <= cc < len(_KEYBOARD[rr]):
                        near.append(_KEYBOARD[rr][cc])
        _NEIGHBOURS[_ch] = "".join(near)


def typo(text: str, rng: np.random.Generator) -> str:
    """One typing error: a neighbouring key, a dropped, doubled or transposed character. Never a no-op."""
    for _ in range(8):
        n = len(text)
        kind = int(rng.integers(0, 4)) if n > 2 else 0
        i = int(rng.integers(0, n))
        ch = text[i]
        if kind == 0:
            near = _NEIGHBOURS.get(ch.lower())
            if not near:
                if ch.isdigit():
                    new = str((int(ch) + int(rng.integers(1, 10))) % 10)
                else:
                    continue
            else:
                new = near[int(rng.integers(0, len(near)))]
                new = new.upper() if ch.isupper() else new
            out = text[:i] + new + text[i + 1:]
        elif kind == 1:
            out = text[:i] + text[i + 1:]
        elif kind == 2:
            out = text[:i] + ch + text[i:]
        else:
            i = min(i, n - 2)
            out = text[:i] + text[i + 1] + text[i] + text[i + 2:]
        if out != text and out.strip():
            return out
    return text + text[-1]


def postcode_variant(postcode: str, rng: np.random.Generator) -> str:
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return postcode.replace(" ", "")
    if kind == 1:
        return postcode.lower()
    return postcode.replace(" ", "  ")


def swap_day_month(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dates with day and month transposed, and which dates are eligible (day <= 12 and != month)."""
    ymd = dates.astype("datetime64[D]")
    month_start = ymd.astype("datetime64[M]")
    year = ymd.astype("datetime64[Y]")
    month = (month_start - year.astype("datetime64[M]")).astype(np.int64) + 1
    day = (ymd - month_start).astype(np.int64) + 1
    eligible = (day <= 12) & (day != month)
    swapped = (year.astype("datetime64[M]") + (np.where(eligible, day, month) - 1)).astype("datetime64[D]") + (
        np.where(eligible, month, day) - 1
    )
    return swapped, eligible

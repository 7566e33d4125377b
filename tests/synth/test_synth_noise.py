"""Noise: each rate lands within tolerance of its setting, and the truth says exactly which records got it."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date

import pytest
from synth_support import within

from accord.synth.geography import COUNCIL_IDS, normalise_postcode
from accord.synth.names import NICKNAMES
from accord.synth.population import PERIOD_END

END = date.fromisoformat(str(PERIOD_END))
# datasets whose records carry a person's own name, date of birth and (current or stale) address
PERSONAL = ["dwp-benefits", "hmrc-paye", "dvla-drivers", "health-indicators", "police-incidents", "hmrc-debts",
            "dwp-debts", "schools-pupils"]
DOB_CAN_BE_MISSING = {"dwp-benefits", "hmrc-paye", "health-indicators", "police-incidents", "hmrc-debts", "dwp-debts"}


def _swap(d: date) -> date:
    return date(d.year, d.day, d.month)


@pytest.fixture(scope="module")
def measured(noisy):  # noqa: ANN001, ANN201
    """Counts of (flagged, eligible) per noise kind, after checking each record against the population."""
    people = noisy.persons_by_id()
    addresses = noisy.addresses_by_uprn()
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])

    def count(kind: str, flagged: bool) -> None:
        counts[kind][0] += int(flagged)
        counts[kind][1] += 1

    for name in PERSONAL:
        view, truth = noisy.view(name), noisy.truth(name)
        keys = list(view)
        for i, pid in enumerate(truth["person_id"]):
            rec = {k: view[k][i] for k in keys}
            flags = {k: truth[k][i] for k in truth}
            missing = set((flags["missing_fields"] or "").split(","))
            p = people[pid]
            # given name
            true_first = p["first_name"]
            if true_first in NICKNAMES:
                count("nickname", flags["nickname"])
            count("typo", flags["typo_first_name"])
            if not flags["typo_first_name"]:
                if flags["nickname"]:
                    assert rec["first_name"] in NICKNAMES[true_first]
                else:
                    assert rec["first_name"] == true_first, (name, rec, p)
            elif not flags["nickname"]:
                assert rec["first_name"] != true_first
            # surname
            if p["surname_changed"] is not None:
                count("maiden_name", flags["maiden_name"])
            expected = p["birth_surname"] if flags["maiden_name"] else p["surname"]
            assert (rec["surname"] != expected) == flags["typo_surname"], (name, rec, p)
            # date of birth
            dob = p["date_of_birth"]
            if dob.day <= 12 and dob.day != dob.month:
                count("date_swap", flags["date_swap"])
            if name in DOB_CAN_BE_MISSING:
                count("missing", "date_of_birth" in missing)
            if "date_of_birth" in missing:
                assert rec["date_of_birth"] is None
            else:
                assert rec["date_of_birth"] == (_swap(dob) if flags["date_swap"] else dob)
            # address and postcode
            if p["previous_uprn"] is not None:
                count("stale_address", flags["stale_address"])
            uprn = p["previous_uprn"] if flags["stale_address"] else p["uprn"]
            assert rec["address_line_1"] == addresses[uprn]["address_line_1"]
            count("postcode_format", flags["postcode_format"])
            if "postcode" in missing:
                assert rec["postcode"] is None
            else:
                assert normalise_postcode(rec["postcode"]) == addresses[uprn]["postcode"]
                assert (rec["postcode"] != addresses[uprn]["postcode"]) == flags["postcode_format"]
            count("duplicate", flags["duplicate"])
    return counts


@pytest.mark.parametrize("kind", ["nickname", "typo", "maiden_name", "date_swap", "missing", "stale_address",
                                  "postcode_format"])
def test_noise_rate_matches_setting(measured, noisy, kind: str) -> None:  # noqa: ANN001
    from synth_support import HIGH_NOISE

    flagged, eligible = measured[kind]
    ok, detail = within(flagged, eligible, HIGH_NOISE["default"][kind if kind != "typo" else "typo"])
    assert ok, f"{kind}: {detail}"


def test_duplicate_rate_matches_setting(measured) -> None:  # noqa: ANN001
    from synth_support import HIGH_NOISE

    rate = HIGH_NOISE["default"]["duplicate"]
    flagged, total = measured["duplicate"]
    originals = total - flagged
    ok, detail = within(flagged, originals, rate)
    assert ok, f"duplicate: {detail}"


def test_people_missing_from_the_register_and_the_dead_left_on_it(noisy) -> None:  # noqa: ANN001
    manifest = json.loads((noisy.out / "manifest.json").read_text())
    rates = manifest["noise"]["electoral"]
    people = noisy.persons_by_id()
    on_register: set[int] = set()
    for council in COUNCIL_IDS:
        on_register |= set(noisy.truth(f"{council}-electoral-register")["person_id"])
    adults = [p for p in people.values() if int((END - p["date_of_birth"]).days / 365.25) >= 18]
    alive = [p["person_id"] for p in adults if p["date_of_death"] is None]
    dead = [p["person_id"] for p in adults if p["date_of_death"] is not None]
    ok, detail = within(sum(1 for p in alive if p not in on_register), len(alive), rates["omit"])
    assert ok, f"omit: {detail}"
    ok, detail = within(sum(1 for p in dead if p in on_register), len(dead), rates["deceased_retained"])
    assert ok, f"deceased_retained: {detail}"


def test_false_single_person_discounts(noisy) -> None:  # noqa: ANN001
    manifest = json.loads((noisy.out / "manifest.json").read_text())
    rate = manifest["noise"]["council-tax"]["false_discount"]
    people = noisy.persons_by_id()
    adults: dict[int, int] = defaultdict(int)
    for p in people.values():
        if p["date_of_death"] is None and int((END - p["date_of_birth"]).days / 365.25) >= 18:
            adults[p["household_id"]] += 1
    flagged = eligible = 0
    for council in COUNCIL_IDS:
        view, truth = noisy.view(f"{council}-tax"), noisy.truth(f"{council}-tax")
        for spd, hid, false, dup in zip(view["single_person_discount"], truth["household_id"],
                                        truth["false_discount"], truth["duplicate"]):
            if false:
                assert spd and adults[hid] >= 2
            elif spd:
                assert adults[hid] == 1
            if adults[hid] >= 2 and not dup:
                eligible += 1
                flagged += int(false)
    ok, detail = within(flagged, eligible, rate)
    assert ok, f"false_discount: {detail}"


def test_fictitious_registration_applications(noisy) -> None:  # noqa: ANN001
    manifest = json.loads((noisy.out / "manifest.json").read_text())
    rate = manifest["noise"]["electoral"]["fictitious"]
    fake = genuine = 0
    for council in COUNCIL_IDS:
        truth = noisy.truth(f"{council}-registration-applications")
        for pid, fictitious in zip(truth["person_id"], truth["fictitious"]):
            assert (pid is None) == fictitious
            fake += int(fictitious)
            genuine += int(not fictitious)
    ok, detail = within(fake, genuine, rate)
    assert ok, f"fictitious: {detail}"


def test_zero_noise_gives_clean_views(tmp_path) -> None:  # noqa: ANN001
    from accord.synth import BODY_KEYS, generate

    zero = {"default": {k: 0.0 for k in ("omit", "duplicate", "typo", "nickname", "date_swap", "missing",
                                         "stale_address", "maiden_name", "postcode_format", "deceased_retained")}}
    generate(persons=3_000, seed=2, out=tmp_path / "clean", noise=zero, bodies="dwp,dvla", workers=1)
    from synth_support import Generated

    clean = Generated(None, tmp_path / "clean")  # type: ignore[arg-type]
    people = clean.persons_by_id()
    for name in ("dwp-benefits", "dvla-drivers"):
        view, truth = clean.view(name), clean.truth(name)
        assert not any(any(truth[f]) for f in truth if f not in ("record_id", "person_id", "household_id", "missing_fields"))
        for first, surname, dob, pid in zip(view["first_name"], view["surname"], view["date_of_birth"], truth["person_id"]):
            p = people[pid]
            assert (first, surname, dob) == (p["first_name"], p["surname"], p["date_of_birth"])
    assert BODY_KEYS

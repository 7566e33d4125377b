"""The population: households, families and life events hang together."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from accord.synth.population import PERIOD_END, PERIOD_START

END = date.fromisoformat(str(PERIOD_END))
START = date.fromisoformat(str(PERIOD_START))


def _age(dob: date, on: date) -> float:
    return (on - dob).days / 365.25


def test_everyone_alive_in_a_household_shares_its_address(small) -> None:  # noqa: ANN001
    persons = small.population("persons")
    households = {h: u for h, u in zip(small.population("households")["household_id"],
                                       small.population("households")["uprn"])}
    for hid, uprn, dod in zip(persons["household_id"], persons["uprn"], persons["date_of_death"]):
        if dod is None:
            assert uprn == households[hid], f"person in household {hid} lives elsewhere"


def test_people_who_died_keep_their_address_at_death(small) -> None:  # noqa: ANN001
    persons = small.population("persons")
    households = small.population("households")
    moved = {h: (m, u0, u1) for h, m, u0, u1 in zip(households["household_id"], households["move_date"],
                                                     households["uprn_at_start"], households["uprn"])}
    for hid, uprn, dod, dob in zip(persons["household_id"], persons["uprn"], persons["date_of_death"],
                                   persons["date_of_birth"]):
        move, before, after = moved[hid]
        if dod is not None and move is not None:
            assert uprn == (after if dod > move and dob < move else before if dob < move else after)


def test_every_household_has_an_adult(small) -> None:  # noqa: ANN001
    persons = small.population("persons")
    oldest: dict[int, float] = defaultdict(float)
    for hid, dob in zip(persons["household_id"], persons["date_of_birth"]):
        oldest[hid] = max(oldest[hid], _age(dob, END))
    assert all(age >= 18 for age in oldest.values())
    assert len(oldest) == len(small.population("households")["household_id"])


def test_children_are_at_least_16_years_younger_than_their_parents(small) -> None:  # noqa: ANN001
    people = small.persons_by_id()
    checked = 0
    for person in people.values():
        for parent_key in ("mother_id", "father_id"):
            parent = person[parent_key]
            if parent is not None:
                assert people[parent]["household_id"] == person["household_id"]
                assert person["date_of_birth"] >= people[parent]["date_of_birth"] + timedelta(days=int(16 * 365.25))
                checked += 1
    assert checked > 1000


def test_mothers_are_alive_when_their_children_are_born(small) -> None:  # noqa: ANN001
    people = small.persons_by_id()
    for person in people.values():
        mother = person["mother_id"]
        if mother is not None and people[mother]["date_of_death"] is not None:
            assert people[mother]["date_of_death"] > person["date_of_birth"]


def test_deaths_follow_births_and_nothing_follows_death(small) -> None:  # noqa: ANN001
    people = small.persons_by_id()
    deaths = [p for p in people.values() if p["date_of_death"] is not None]
    assert 0.02 < len(deaths) / len(people) < 0.08  # roughly 1% a year over five years
    for p in deaths:
        assert START <= p["date_of_death"] <= END and p["date_of_death"] >= p["date_of_birth"]
    events = small.population("events")
    for kind, when, pid in zip(events["event_type"], events["event_date"], events["person_id"]):
        dod = people[pid]["date_of_death"]
        assert START <= when <= END, kind
        if dod is not None and kind != "death":
            assert when < dod, f"{kind} after death"
        if kind == "birth":
            assert when == people[pid]["date_of_birth"]


def test_marriages_change_surnames(small) -> None:  # noqa: ANN001
    people = small.persons_by_id()
    events = small.population("events")
    marriages = [(pid, rel, when) for kind, pid, rel, when in zip(
        events["event_type"], events["person_id"], events["related_person_id"], events["event_date"]) if kind == "marriage"]
    assert marriages
    for pid, spouse, when in marriages:
        assert people[pid]["spouse_id"] == spouse and people[spouse]["spouse_id"] == pid
        assert _age(people[pid]["date_of_birth"], when) >= 18
    renamed = [(pid, when) for kind, pid, when in zip(events["event_type"], events["person_id"], events["event_date"])
               if kind == "surname_change"]
    assert len(renamed) > 0.6 * len(marriages) / 2
    for pid, when in renamed:
        p = people[pid]
        assert p["surname"] != p["birth_surname"] or p["surname"] == people[p["spouse_id"]]["surname"]
        assert p["surname"] == people[p["spouse_id"]]["birth_surname"]
        assert p["surname_changed"] == when
    # people whose surname changed before the period are married too
    changed = [p for p in people.values() if p["surname_changed"] is not None]
    assert all(p["spouse_id"] is not None for p in changed)


def test_moves_are_recorded_as_events(small) -> None:  # noqa: ANN001
    people = small.persons_by_id()
    events = small.population("events")
    moves = {pid: (f, t) for kind, pid, f, t in zip(events["event_type"], events["person_id"], events["from_uprn"],
                                                    events["to_uprn"]) if kind == "move"}
    movers = [p for p in people.values() if p["previous_uprn"] is not None]
    assert 0.1 < len(movers) / len(people) < 0.4
    for p in movers:
        assert moves[p["person_id"]] == (p["previous_uprn"], p["uprn"])


def test_names_are_diverse(small) -> None:  # noqa: ANN001
    persons = small.population("persons")
    surnames = persons["surname"]
    assert len(set(surnames)) > 2000
    assert len(set(persons["first_name"])) > 1500
    counts: dict[str, int] = defaultdict(int)
    for s in surnames:
        counts[s] += 1
    assert max(counts, key=counts.get) == "Smith"
    groups = set(persons["heritage_group"])
    assert {"british", "south_asian", "european", "african"} <= groups

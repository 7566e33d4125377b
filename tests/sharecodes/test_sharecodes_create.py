"""Creating share codes: the code itself, its validity, and what the hub keeps (never the code)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sharecodes_support import Driver, by_body, key, licence_without_nino, make, person_key, subject
from sqlalchemy import func, select

from accord.clock import utcnow
from accord.errors import InvalidInput, NotFound
from accord.runtime import Hub
from accord.services import citizens, sharecodes
from accord.services.holdings import files as holding_files  # test-only: to remove the holding's file
from accord.services.subjects import subject_key
from accord.storage.models import AuditEntry
from accord.storage.tables.sharecodes import Consent, ShareCode

AMBIGUOUS = set("0O1IL")


def test_codes_are_8_characters_from_an_alphabet_without_look_alikes() -> None:
    assert not AMBIGUOUS & set(sharecodes.ALPHABET)
    assert len(set(sharecodes.ALPHABET)) == len(sharecodes.ALPHABET) >= 20
    codes = [sharecodes.new_code() for _ in range(5000)]
    assert all(len(code) == 8 and set(code) <= set(sharecodes.ALPHABET) for code in codes)
    assert len(set(codes)) == len(codes)  # 23^8 possibilities: a repeat here means a broken generator
    # every character of the alphabet turns up in every position (drawn uniformly, not a fixed pattern)
    for position in range(8):
        assert {code[position] for code in codes} == set(sharecodes.ALPHABET)


def test_codes_are_read_leniently_but_only_from_the_alphabet() -> None:
    assert sharecodes.normalise_code(" acde-fg hj ") == "ACDEFGHJ"
    assert sharecodes.normalise_code("ACDE FGH") is None  # 7 characters
    assert sharecodes.normalise_code("ACDEFGH0") is None  # 0 is never in a code
    assert sharecodes.normalise_code("ACDEFGHJK") is None


def test_a_new_code_lasts_21_days_by_default_and_can_be_shorter(dvla_hub: Hub, drivers: list[Driver]) -> None:
    now = utcnow()
    made = make(dvla_hub, drivers[0], ["penalty_points"], now=now)
    assert made.expires_at == now + timedelta(days=21)
    short = make(dvla_hub, drivers[0], ["penalty_points"], now=now, days=3)
    assert short.expires_at == now + timedelta(days=3)
    longest = dvla_hub.settings.share_code_max_days
    with pytest.raises(InvalidInput, match=f"from 1 to {longest} days"):
        make(dvla_hub, drivers[0], ["penalty_points"], days=longest + 1)
    with pytest.raises(InvalidInput):
        make(dvla_hub, drivers[0], ["penalty_points"], days=0)


def test_codes_are_unique_and_stored_only_as_keyed_hashes(dvla_hub: Hub, drivers: list[Driver]) -> None:
    made = [make(dvla_hub, driver, ["penalty_points", "name"]) for driver in drivers[:3] for _ in range(3)]
    assert len({m.code for m in made}) == len(made)
    with dvla_hub.transaction() as session:
        stored = {row.id: row.code_hash for row in session.scalars(select(ShareCode))}
        consents = list(session.scalars(select(Consent)))
        payloads = [entry.payload for entry in session.scalars(select(AuditEntry))]
    assert {m.share_code_id: sharecodes.code_hash(dvla_hub, m.code) for m in made} == stored
    dump = json.dumps([list(stored.values()), [c.__dict__.get("events") for c in consents], payloads], default=str)
    for item in made:
        assert item.code not in dump and item.code.lower() not in dump
    # the hash is keyed: a plain SHA-256 of the code is not what is kept
    import hashlib

    assert hashlib.sha256(made[0].code.encode()).hexdigest() not in stored.values()


def test_the_consent_names_the_person_only_by_key_and_the_licence_only_sealed(dvla_hub: Hub, drivers: list[Driver]) -> None:
    driver = drivers[0]
    made = make(dvla_hub, driver, ["licence_status"])
    with dvla_hub.transaction() as session:
        consent = session.get(Consent, made.consent_id)
        row = {c.name: getattr(consent, c.name) for c in Consent.__table__.columns}
    assert row["person_key"] == subject(dvla_hub, driver)  # the licence record's subject, not what was typed
    text = repr(row)
    for identifying in (driver.nino, driver.licence, driver.row["record_id"], driver.row["surname"]):
        assert identifying not in text
    assert row["record_locator"] and len(row["record_locator"]) > 12


def test_only_the_holders_licence_and_postcode_make_a_code(dvla_hub: Hub, drivers: list[Driver]) -> None:
    first, second = drivers[0], drivers[1]
    with pytest.raises(InvalidInput, match="you can only share your own driving licence"):
        sharecodes.create(dvla_hub, person_key(dvla_hub, first), licence_number=first.licence,
                          postcode=second.postcode, purpose="vehicle_hire", items=["penalty_points"])
    with pytest.raises(InvalidInput, match="16 letters"):
        sharecodes.create(dvla_hub, person_key(dvla_hub, first), licence_number="ABC", postcode=first.postcode,
                          purpose="vehicle_hire", items=["penalty_points"])
    # spacing and case as people type them
    made = sharecodes.create(
        dvla_hub, person_key(dvla_hub, first), licence_number=" ".join(first.licence.lower()),
        postcode=first.postcode.lower(), purpose="employment", items=["penalty_points"],
    )
    assert made.purpose == "Prove my driving record to an employer"


def test_purpose_and_items_must_come_from_the_lists(dvla_hub: Hub, drivers: list[Driver]) -> None:
    with pytest.raises(InvalidInput, match="why"):
        make(dvla_hub, drivers[0], ["penalty_points"], purpose="marketing")
    with pytest.raises(InvalidInput, match="at least one"):
        make(dvla_hub, drivers[0], [])
    with pytest.raises(InvalidInput, match="cannot be shared: nino"):
        make(dvla_hub, drivers[0], ["penalty_points", "nino"])
    with pytest.raises(InvalidInput, match="entitlements"):  # the synthetic extract has no entitlements column
        make(dvla_hub, drivers[0], ["penalty_points", "entitlements"])
    assert make(dvla_hub, drivers[0], ["name", "penalty_points", "name"]).items == ["penalty_points", "name"]


def test_no_codes_without_dvla_records(dvla_hub: Hub, drivers: list[Driver]) -> None:
    holding_files.current(dvla_hub, sharecodes.DATASET).unlink()
    with pytest.raises(NotFound, match="no records loaded"):
        make(dvla_hub, drivers[0], ["penalty_points"])


def test_withdrawing_a_code_withdraws_its_consent_and_only_its_holder_can(dvla_hub: Hub, drivers: list[Driver]) -> None:
    made = make(dvla_hub, drivers[0], ["penalty_points"])
    with pytest.raises(NotFound):
        sharecodes.withdraw(dvla_hub, key(dvla_hub, drivers[1]), made.share_code_id)
    assert sharecodes.withdraw(dvla_hub, key(dvla_hub, drivers[0]), made.share_code_id) is True
    assert sharecodes.withdraw(dvla_hub, key(dvla_hub, drivers[0]), made.share_code_id) is False
    [listed] = sharecodes.my_codes(dvla_hub, key(dvla_hub, drivers[0]))
    assert listed["status"] == "withdrawn"
    with dvla_hub.transaction() as session:
        consent = session.get(Consent, made.consent_id)
        assert consent.withdrawn_at is not None
        assert [e["event"] for e in consent.events] == ["given", "withdrawn"]
    with pytest.raises(sharecodes.ShareCodeUnusable, match="withdrawn"):
        sharecodes.redeem(dvla_hub, made.code, drivers[0].suffix, by_body(), request_id="after-withdrawal")


def test_my_codes_lists_only_the_persons_own_codes_newest_first(dvla_hub: Hub, drivers: list[Driver]) -> None:
    now = utcnow()
    older = make(dvla_hub, drivers[0], ["penalty_points"], now=now - timedelta(days=1))
    newer = make(dvla_hub, drivers[0], ["name", "address"], multiple_use=True, now=now)
    make(dvla_hub, drivers[1], ["name"])
    listed = sharecodes.my_codes(dvla_hub, key(dvla_hub, drivers[0]), now)
    assert [c["id"] for c in listed] == [newer.share_code_id, older.share_code_id]
    assert listed[0]["item_labels"] == ["Name", "Address"] and listed[0]["multiple_use"] is True
    assert all(c["status"] == "active" for c in listed)
    assert all(c["uses"] == 0 for c in listed)


def test_a_signed_in_person_cannot_create_a_code_for_someone_elses_licence(
    dvla_hub: Hub, drivers: list[Driver]
) -> None:
    """Knowing another driver's licence number and postcode is not enough: DVLA's record must be about
    the person signed in, through the person key (the NINO DVLA holds is the one their identity
    provider verified). A name and date of birth, which a provider may take from what its user typed,
    are not enough either."""
    holder, other = drivers[0], drivers[1]
    options = {"licence_number": holder.licence, "postcode": holder.postcode, "purpose": "vehicle_hire",
               "items": ["penalty_points", "name"]}
    with dvla_hub.transaction() as session:
        logged = session.scalar(select(func.count()).select_from(AuditEntry))
    with pytest.raises(InvalidInput, match="you can only share your own driving licence") as someone_else:
        sharecodes.create(dvla_hub, person_key(dvla_hub, other), **options)
    # the refusal is the one a mistyped postcode gets: it does not say the licence exists, nor whose it is
    with pytest.raises(InvalidInput) as mistyped:
        sharecodes.create(dvla_hub, person_key(dvla_hub, holder), **{**options, "postcode": other.postcode})
    assert str(someone_else.value) == str(mistyped.value)
    assert holder.name not in str(someone_else.value) and holder.licence not in str(someone_else.value)
    # the holder's name and date of birth (the key a provider's unverified profile could give) are not the person key
    name_key = subject_key(dvla_hub, first_name=holder.identity[0], surname=holder.identity[1], dob=holder.identity[2])
    assert name_key is not None and name_key in key(dvla_hub, holder)
    with pytest.raises(InvalidInput, match="you can only share your own driving licence"):
        sharecodes.create(dvla_hub, name_key, **options)
    # nor does an empty key name anyone; and the key is one string, never a collection of keys to pick from
    with pytest.raises(InvalidInput, match="you can only share your own driving licence"):
        sharecodes.create(dvla_hub, "", **options)
    with pytest.raises(TypeError):
        sharecodes.create(dvla_hub, key(dvla_hub, holder), **options)
    # nothing was made or given, and nothing was logged about the holder
    with dvla_hub.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ShareCode)) == 0
        assert session.scalar(select(func.count()).select_from(Consent)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == logged
    assert sharecodes.my_codes(dvla_hub, key(dvla_hub, other)) == []
    assert citizens.accesses(dvla_hub, key(dvla_hub, holder), utcnow()) == []
    # the holder, signed in as themself, can
    made = sharecodes.create(dvla_hub, person_key(dvla_hub, holder), **options)
    assert [c["id"] for c in sharecodes.my_codes(dvla_hub, key(dvla_hub, holder))] == [made.share_code_id]
    assert sharecodes.my_codes(dvla_hub, key(dvla_hub, other)) == []


def test_a_licence_on_which_dvla_holds_no_nino_cannot_be_shared(dvla_hub: Hub, synth_dir: Path) -> None:
    """Without the NINO nothing ties the record to a verified identity (a name and date of birth are not enough)."""
    row = licence_without_nino(synth_dir)
    identity = citizens.DemoCitizen("X", "AA000000A", row["first_name"], row["surname"], row["date_of_birth"].isoformat())
    for candidate in identity.keys(dvla_hub):
        with pytest.raises(InvalidInput, match="you can only share your own driving licence"):
            sharecodes.create(dvla_hub, candidate, licence_number=row["driver_number"], postcode=row["postcode"],
                              purpose="vehicle_hire", items=["penalty_points"])


def test_the_holding_is_read_only_under_a_grant_and_only_for_what_is_needed(
    dvla_hub: Hub, drivers: list[Driver], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Finding the licence reads its number, postcode and the NINO that ties it to its holder; a redemption reads the consented items' columns
    (and the licence number, the second factor), each under a grant resting on the driver."""
    from accord.framework import Purpose
    from accord.services import holdings

    reads = []
    real_read = holdings.read

    def spy(grant, columns, **options):  # noqa: ANN001, ANN003, ANN202
        table = real_read(grant, columns, **options)
        reads.append((grant, tuple(columns), tuple(table.column_names)))
        return table

    monkeypatch.setattr(holdings, "read", spy)
    driver = drivers[0]
    made = make(dvla_hub, driver, ["penalty_points"], purpose="insurance")
    sharecodes.redeem(dvla_hub, made.code, driver.suffix, by_body(), request_id="spied")
    [(found, _, found_columns), (redeemed, _, redeemed_columns)] = reads
    assert found.allowed and found.dataset_id == sharecodes.DATASET
    assert found.request.action == "sharecode.create" and found.request.purpose == Purpose("consent", "insurance")
    assert set(found.readable) == {"driver_number", "postcode", "national_insurance_number"}
    assert set(found_columns) <= {"driver_number", "postcode", "national_insurance_number", holdings.ROW_KEY,
                                  holdings.SUBJECT}
    assert redeemed.allowed and redeemed.request.action == "sharecode.redeem"
    assert redeemed.body_id == "swiftwheels-hire" and redeemed.request.purpose == Purpose("consent", "insurance")
    assert set(redeemed.readable) == {"penalty_points", "driver_number"}
    assert set(redeemed_columns) <= {"penalty_points", "driver_number", holdings.ROW_KEY, holdings.SUBJECT}
    assert "surname" not in redeemed_columns and "date_of_birth" not in redeemed_columns

"""The deterministic cascade: grades, rules and agreed fields for constructed cases."""

from __future__ import annotations

import pyarrow as pa
import pytest
from linkage_support import applicant, record

from accord.linkage.deterministic import (
    MATCH, NO_MATCH, PARTIAL, RESULT_SCHEMA, compare, grade, verify, verify_all,
)
from accord.linkage.index import BLOCKING_KEYS, NAME_KEY, BlockingIndex
from accord.linkage.similarity import jaro_winkler, one_edit_apart

# The DWP record the applicants below are checked against.
DWP = dict(first_name="Margaret", surname="Thompson", dob="1961-03-12", postcode="SW1A 1AA", nino="AB123456C")


DWP_SURNAME = record(surname=DWP["surname"])["surname"]  # standardised


def dwp(id: str = "dwp1", **overrides):
    raw = {**DWP, **overrides}
    return record(id, **{k: v for k, v in raw.items() if v is not None})


def test_exact_match():
    v = verify(applicant(), [dwp()])
    assert (v.grade, v.rule) == (MATCH, "nino+surname")
    assert v.agreed == ("nino", "first_name", "surname", "dob", "postcode")
    assert v.candidate_id == "dwp1"


def test_public_result_holds_no_values_or_ids():
    v = verify(applicant(), [dwp()])
    assert v.public() == {"grade": "match", "rule": "nino+surname",
                          "agreed": ["nino", "first_name", "surname", "dob", "postcode"]}


def test_nino_typo_but_dob_and_names_match():
    v = verify(applicant(nino="AB123465C"), [dwp()])
    assert (v.grade, v.rule) == (MATCH, "dob+names+postcode")
    assert "nino" not in v.agreed and v.levels["nino"] == "near"  # two digits transposed
    assert set(v.agreed) == {"first_name", "surname", "dob", "postcode"}


def test_nino_one_character_out_does_not_block_dob_and_names_without_postcode():
    v = verify(applicant(nino="AB123457C", postcode=None), [dwp()])
    assert (v.grade, v.rule) == (MATCH, "dob+names")
    assert v.levels["nino"] == "near"
    assert v.agreed == ("first_name", "surname", "dob")


def test_nickname():
    v = verify(applicant(first_name="Peggy", nino=None), [dwp()])
    assert (v.grade, v.rule) == (MATCH, "dob+names+postcode")
    assert v.levels["first_name"] == "nickname"
    assert "first_name" in v.agreed


def test_surname_typo_tolerated():
    v = verify(applicant(surname="Thomspon", nino=None), [dwp()])
    assert (v.grade, v.rule) == (MATCH, "dob+names+postcode")
    assert v.levels["surname"] == "similar"


def test_transposed_day_and_month():
    v = verify(applicant(dob="1961-12-03", nino=None), [dwp()])
    assert (v.grade, v.rule) == (MATCH, "postcode+names")
    assert v.levels["dob"] == "day_month_swapped"
    assert "dob" not in v.agreed


def test_transposed_date_without_postcode_is_partial():
    v = verify(applicant(dob="1961-12-03", nino=None, postcode=None), [dwp()])
    assert (v.grade, v.rule) == (PARTIAL, "some-identifiers")


def test_nino_and_dob_carry_a_change_of_surname():
    v = verify(applicant(surname="Hughes"), [dwp()])
    assert (v.grade, v.rule) == (MATCH, "nino+dob")
    assert "surname" not in v.agreed


def test_maiden_name_without_nino_is_partial():
    v = verify(applicant(surname="Hughes", nino=None), [dwp()])
    assert (v.grade, v.rule) == (PARTIAL, "some-identifiers")
    assert v.agreed == ("first_name", "dob", "postcode")


def test_same_name_and_dob_but_different_postcode_and_nino_is_partial():
    other = dwp("dwp2", postcode="M1 1AE", nino="CE654321A")
    v = verify(applicant(), [other])
    assert (v.grade, v.rule) == (PARTIAL, "some-identifiers")
    assert v.agreed == ("first_name", "surname", "dob")
    assert v.levels["postcode"] == "different" and v.levels["nino"] == "different"


def test_same_name_and_dob_different_postcode_without_nino_is_partial():
    v = verify(applicant(nino=None), [dwp(postcode="M1 1AE", nino=None)])
    assert v.grade == PARTIAL


def test_nino_alone_is_partial():
    """Someone else's NINO with another name and date of birth: for review, not a match."""
    v = verify(applicant(first_name="Brian", surname="Hughes", dob="1990-01-01", postcode="M1 1AE"), [dwp()])
    assert (v.grade, v.rule) == (PARTIAL, "some-identifiers")
    assert v.agreed == ("nino",)


def test_no_match():
    v = verify(applicant(first_name="Brian", surname="Hughes", dob="1990-01-01", nino="CE654321A"), [dwp()])
    assert (v.grade, v.rule) == (NO_MATCH, None)
    assert v.agreed == ("postcode",)


def test_household_member_is_no_match():
    v = verify(applicant(first_name="Derek", dob="1958-07-01", nino=None), [dwp()])
    assert v.grade == NO_MATCH
    assert v.agreed == ("surname", "postcode")


def test_grade_is_the_cascade_for_one_pair():
    assert grade(applicant(), dwp()) == verify(applicant(), [dwp()])


def test_no_candidates():
    v = verify(applicant(), [])
    assert (v.grade, v.rule, v.agreed, v.candidate_id) == (NO_MATCH, None, (), None)


def test_father_and_son_at_one_address_are_not_matched():
    son = dwp("son", first_name="John", dob="1990-05-20", nino=None)
    v = verify(applicant(first_name="John", dob="1961-03-12", nino=None), [son])
    assert v.grade == PARTIAL  # names agree; the date of birth conflicts


def test_best_candidate_wins():
    weak = dwp("weak", nino=None, dob="1990-01-01", postcode=None)
    strong = dwp("strong")
    assert verify(applicant(), [weak, strong]).candidate_id == "strong"
    assert verify(applicant(), [strong, weak]).candidate_id == "strong"


def test_two_people_matching_is_ambiguous():
    a = dwp("a", nino="CE654321A")
    b = dwp("b", nino="JG103759A")
    v = verify(applicant(nino=None), [a, b])
    assert (v.grade, v.rule, v.candidate_id) == (PARTIAL, "ambiguous", None)


def test_one_person_on_two_benefits_is_not_ambiguous():
    v = verify(applicant(), [dwp("pension"), dwp("pip")])
    assert (v.grade, v.rule) == (MATCH, "nino+surname")


def test_compare_skips_missing_fields():
    c = compare(applicant(postcode=None), dwp(nino=None))
    assert "postcode" not in c.levels and "nino" not in c.levels


def test_middle_name_initial():
    c = compare(record(middle_name="J"), record(middle_name="Jane"))
    assert c.levels["middle_name"] == "similar"


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("martha", "marhta", 0.961), ("dwayne", "duane", 0.84), ("dixon", "dicksonx", 0.813), ("abc", "abc", 1.0),
    ("abc", "xyz", 0.0), ("", "abc", 0.0),
])
def test_jaro_winkler_reference_values(a, b, expected):
    assert jaro_winkler(a, b) == pytest.approx(expected, abs=0.001)
    assert jaro_winkler(a, b) == pytest.approx(jaro_winkler(b, a))


def test_one_edit_apart():
    assert one_edit_apart("AB123456C", "AB123465C")
    assert one_edit_apart("AB123456C", "AB123457C")
    assert not one_edit_apart("AB123456C", "AB123456C")
    assert not one_edit_apart("AB123456C", "AB654321C")
    assert not one_edit_apart("AB123456C", "AB123456")  # a deletion is not a same-length edit


def test_blocking_finds_rows_sharing_any_key():
    rows = [dwp("n", dob="1990-01-01", postcode="M1 1AE"), dwp("d", nino=None, postcode="M1 1AE"),
            dwp("p", nino=None, dob="1990-01-01"), dwp("x", nino="CE654321A", dob="1990-01-01", postcode="M1 1AE")]
    index = BlockingIndex(pa.Table.from_pylist(rows))
    found = [r["id"] for r in index.candidates(applicant())]
    assert found == ["n", "d", "p"]
    # The same name (canonical given name and surname) finds "x" too, when the name key is used.
    by_name = [r["id"] for r in index.candidates(applicant(), keys=(*BLOCKING_KEYS, NAME_KEY))]
    assert by_name == ["n", "d", "p", "x"]
    # A key the record lacks finds nothing; only the fields asked for (and the id) come back.
    [only] = index.candidates(applicant(nino=None, postcode=None, dob="1961-03-12"), fields=("surname",))
    assert only == {"id": "d", "surname": DWP_SURNAME}


def test_verify_all():
    source = pa.Table.from_pylist([dwp("dwp1"), dwp("dwp2", first_name="Derek", dob="1958-07-01", nino="CE654321A")])
    applicants = [applicant(), {**applicant(first_name="Brian", surname="Hughes", dob="1990-01-01", nino=None,
                                            postcode="M1 1AE"), "id": "app2"}]
    out = verify_all(applicants, source)
    assert out.schema == RESULT_SCHEMA
    rows = out.to_pylist()
    assert rows[0] == {"applicant_id": "app", "grade": "match", "rule": "nino+surname",
                       "agreed": "nino,first_name,surname,dob,postcode", "candidate_id": "dwp1", "candidates": 2}
    assert rows[1] == {"applicant_id": "app2", "grade": "no match", "rule": None, "agreed": "",
                       "candidate_id": None, "candidates": 0}

"""Intake: the person a deceased check is about, standardised, and the fields the check must read.

The check asks to read exactly the deaths dataset's fields that hold the details it
was given, and the date of death (the flag is derived from it): a check given a
postcode asks to match on the postcode, and an agreement that does not name it
refuses the check rather than let the hub read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from accord.errors import InvalidInput
from accord.linkage.standardise import known_columns, standardise_nino, standardise_record

DATE_OF_DEATH = "date_of_death"
MATCHED_FIELDS = ("first_name", "middle_name", "surname", "dob", "postcode", "nino")


@dataclass(frozen=True)
class PersonDetails:
    first_name: str
    surname: str
    date_of_birth: date
    postcode: str | None = None
    nino: str | None = None
    middle_name: str | None = None

    def payload(self) -> dict:
        return {"first_name": self.first_name, "middle_name": self.middle_name, "surname": self.surname,
                "date_of_birth": self.date_of_birth.isoformat(), "postcode": self.postcode, "nino": self.nino}

    def standard(self) -> dict[str, Any]:
        """The details as the cascade compares them (standard field names); a NINO that cannot be one is refused."""
        if self.nino is not None and standardise_nino(self.nino) is None:
            raise InvalidInput("nino: not a valid National Insurance number (like AB123456C)")
        record = {"first_name": self.first_name, "middle_name": self.middle_name, "surname": self.surname,
                  "dob": self.date_of_birth, "postcode": self.postcode, "nino": self.nino}
        standard = standardise_record({k: v for k, v in record.items() if v is not None})
        return {k: v for k, v in standard.items() if v is not None}


def field_map(registered: list[str]) -> dict[str, str]:
    """{standard field: the deaths dataset's field} for the fields a check can match on."""
    return known_columns(registered, MATCHED_FIELDS)


def requested_fields(person: PersonDetails, fields: dict[str, str]) -> tuple[str, ...]:
    """The dataset fields holding the details given, then the date of death."""
    given = person.standard()
    asked = [column for std, column in fields.items() if std in given]
    return tuple(dict.fromkeys([*asked, DATE_OF_DEATH]))

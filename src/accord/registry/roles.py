"""Officers' roles, and which role may do what: the rights table, as data, in this one place.

A right names a kind of work a person does for their body. Every action a body takes today
(drafting agreements, verification, eligibility, linkage, events, share codes, decisions) is
``body.act``; reading back what the body was recorded doing is ``body.read``. A new purpose
(fraud investigation, debt casework, research output checking) adds its right here, with the
roles that hold it, and its routes and commands ask for that right: no new code path.

Systems (API clients with client credentials) act for their body as a whole and hold every
right of the body; rights limit people.
"""

from __future__ import annotations

from collections.abc import Iterable

ROLES: dict[str, str] = {
    "data_sharing_officer": "Data-sharing officer: acts under the body's agreements",
    "investigator": "Fraud investigator",
    "caseworker": "Debt caseworker",
    "checker": "Research output checker",
    "auditor": "Auditor: reads what the body was recorded doing",
}

ACT = "body.act"
READ = "body.read"

RIGHTS: dict[str, frozenset[str]] = {
    ACT: frozenset({"data_sharing_officer"}),
    READ: frozenset({"data_sharing_officer", "auditor"}),
}


def may(roles: Iterable[str], right: str) -> bool:
    """Whether a person holding ``roles`` has ``right`` (an unknown right is held by no one)."""
    return bool(RIGHTS.get(right, frozenset()) & set(roles))


def holders(right: str) -> list[str]:
    """The roles that hold a right, for messages."""
    return sorted(RIGHTS.get(right, frozenset()))

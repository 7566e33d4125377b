"""Record linkage: standardise identifiers, then match records deterministically.

``standardise`` turns any body's columns into the standard fields;
``deterministic`` grades an applicant against candidate records with the
electoral-registration style cascade (``link_tables`` does it for whole tables);
``clustering`` groups linked records into persons with stable keys and
``evaluate``/``report`` score linked pairs against a ground truth. Probabilistic (Splink) and
privacy-preserving linkage build on these.
"""

from accord.linkage.deterministic import (
    MATCH, NO_MATCH, PARTIAL, Verification, grade, link_tables, verify, verify_all,
)
from accord.linkage.standardise import STANDARD_FIELDS, StandardTable, resolve_mapping, standardise_table

__all__ = [
    "MATCH", "NO_MATCH", "PARTIAL", "STANDARD_FIELDS", "StandardTable", "Verification", "grade", "link_tables",
    "resolve_mapping", "standardise_table", "verify", "verify_all",
]

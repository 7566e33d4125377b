"""Record linkage: standardise identifiers, then match records deterministically.

``standardise`` turns any body's columns into the standard fields;
``deterministic`` grades an applicant against candidate records with the
electoral-registration style cascade. Probabilistic (Splink) and
privacy-preserving linkage build on these.
"""

from accord.linkage.deterministic import MATCH, NO_MATCH, PARTIAL, Verification, grade, verify, verify_all
from accord.linkage.standardise import STANDARD_FIELDS, StandardTable, resolve_mapping, standardise_table

__all__ = [
    "MATCH", "NO_MATCH", "PARTIAL", "STANDARD_FIELDS", "StandardTable", "Verification", "grade",
    "resolve_mapping", "standardise_table", "verify", "verify_all",
]

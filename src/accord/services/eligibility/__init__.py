"""Fuel-poverty eligibility (Warm Home Discount): an eligible / not matched flag per account.

An energy supplier submits its customer list; Accord matches it against the
benefit records the discloser holds under the fuel-poverty agreement and gives
back, per account reference, only ``eligible`` or ``not matched``, from a durable
background job (``accord.services.jobs``), in chunks, resumable after a crash.

``terms`` (the agreement's condition), ``intake`` (the list validated and
staged), ``matching`` (the deterministic rules), ``encoded`` (lists linked on
Bloom filters), ``work`` (the job: read under a grant, match, release under a
decision) and ``service`` (the entry points every face calls). What each side
learns: the supplier's result has exactly two columns, ``account_reference`` and
``result``; the discloser learns nothing of the supplier's customers; the people
matched are named in the audit log by their subject keys, and no one else.
"""

from accord.lazy import exports

__all__, __getattr__ = exports(__name__, {
    "ACTION": "terms", "Terms": "terms", "terms_for": "terms",
    "FORMATS": "intake", "MATCH_FIELDS": "intake", "stage": "intake", "validate": "intake",
    "is_encoded_list": "intake", "Staged": "intake",
    "RULES": "matching", "MATCH_SQL": "matching", "standardise_side": "matching", "claimant_fields": "matching",
    "encoded_claimants_path": "encoded", "load_encoded_claimants": "encoded", "validate_encoded": "encoded",
    "KIND": "work", "ELIGIBLE": "work", "NOT_MATCHED": "work", "RESULT_COLUMNS": "work", "start": "work",
    "result_columns": "work", "EligibilityWork": "work", "EncodedWork": "work",
    "submit": "service", "job_views": "service", "job_view": "service",
})

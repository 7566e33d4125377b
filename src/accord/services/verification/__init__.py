"""Identity verification, electoral-registration style: a grade, never the record.

A body (a council's electoral registration office) sends an applicant's
details; Accord checks them against the source body's holding under the
agreement it names and answers with a grade (match / partial / no match) and
the names of the details that agreed. Split along the governed path:
``intake`` (what a check is; applicants validated), ``target`` (the
agreement's dataset), ``matching`` (under the grant: the blocking index, the
cascade, the probabilistic ``model``), ``answer`` (the minimal answer), and
``service`` (the entry points every face calls). ``batch_files`` reads and
writes batch files.

Public names load their modules when first used, so registering the purpose
(``registration``) costs ``accord --help`` nothing.
"""

from accord.lazy import exports

__all__, __getattr__ = exports(__name__, {
    "APPLICANT_FIELDS": "intake", "FIELD_LABELS": "intake", "MAX_BATCH": "intake", "CheckRequest": "intake",
    "standardise_applicant": "intake",
    "Result": "answer", "results_of": "answer",
    "read_applications": "batch_files", "results_csv": "batch_files", "write_results": "batch_files",
    "RESULT_COLUMNS": "batch_files",
    "check": "service", "train_model": "service",
    "MATCH_PROBABILITY": "model", "PARTIAL_PROBABILITY": "model",
})

"""Multiple disadvantages (Troubled Families / Supporting Families): which households meet two or more factors.

A council asks which households in its area meet at least ``min_factors`` of the
factors the framework lists for the ``multiple_disadvantages`` objective. The
answer names each household by a reference the council already holds - its own
council-tax account references and the property's UPRN - and the names of the
factors met. ``plan`` (every source asked of the decision point), ``linking``
(records placed in households under the grants), ``answer`` (the minimal
answer) and ``service`` (the entry point every face calls). Measured on synthetic
data against the answer key: see docs/disadvantages.md.
"""

from accord.lazy import exports

__all__, __getattr__ = exports(__name__, {
    "ACTION": "plan", "PURPOSE": "plan", "IDENTITY_FIELDS": "plan", "LIST_REQUIRED": "plan",
    "objective_factors": "plan", "indicator_fields": "plan", "check_officer": "plan",
    "Household": "answer", "Identification": "answer",
    "same_person": "linking", "SURNAME_PREFILTER": "linking",
    "identify": "service",
})

"""The one governed path to a body's records: ask, read under the grant, record.

``ask(session, request)`` decides (reads only) and returns a ``Grant`` or a
``Refusal``; ``record(session, answer, outcome, subjects)`` writes the decision
and its audit entry in the caller's transaction, re-judging quotas atomically.
This package is the only caller of the decision point (an import contract
holds it), and the request and catalogue types the faces need are re-exported
here, so no face imports the policy.
"""

from accord.framework import Purpose
from accord.policy import AccessRequest, Action, Decision
from accord.services.access.answers import Grant, Recorded, Refusal
from accord.services.access.asking import agreements_for, ask, by_consent, catalogue
from accord.services.access.recording import commitment, name_subjects, read_decision, record

__all__ = [
    "AccessRequest", "Action", "Decision", "Grant", "Purpose", "Recorded", "Refusal", "agreements_for", "ask",
    "by_consent", "catalogue",
    "commitment", "name_subjects", "read_decision", "record",
]

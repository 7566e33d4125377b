"""The one decision point for every data access: deny by default."""

from accord.policy.catalogue import ACTIONS, Action
from accord.policy.decide import decide
from accord.policy.model import AccessRequest, AgreementTerms, Decision

__all__ = ["ACTIONS", "AccessRequest", "Action", "AgreementTerms", "Decision", "decide"]

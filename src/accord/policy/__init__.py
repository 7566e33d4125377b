"""The decision point's rules: deny by default.

The decision itself, ``accord.policy.decide.decide``, is not a public name of
this package: only ``accord.services.access`` calls it, so every decision is
recorded (an import contract holds this). Others use the types below.
"""

from accord.policy.catalogue import Action, Catalogue
from accord.policy.model import AccessRequest, AgreementTerms, Decision

__all__ = ["AccessRequest", "Action", "AgreementTerms", "Catalogue", "Decision"]

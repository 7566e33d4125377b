"""The catalogue of actions: undeclared actions are denied, and gateway-bound actions
are denied under agreements for other gateways."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from accord.framework import Purpose, load_framework
from accord.policy.decide import decide
from accord.services.access import catalogue
from policy_support import NOW, FakeAgreement, FakeContext, context_in_state, request_for, terms

# Written out from the issues and the source documents, not read from the catalogue.
ACTION_GATEWAYS: dict[str, set[str] | None] = {
    # Records only where records are the minimal answer (not fuel or water poverty,
    # fraud or research, which get flags, leads or de-identified extracts).
    "dataset.read": {
        "public_service_delivery:multiple_disadvantages",
        "public_service_delivery:tv_retuning",
        "civil_registration",
        "debt",
        "statistics",
    },
    "identity.verify": None,
    "eligibility.check": {"public_service_delivery"},
    "events.receive": {"civil_registration"},
    "records.match": {"fraud", "debt"},
    "extract.request": {"research", "statistics"},
    "statistics.request": {"research", "statistics"},
    "deceased.check": {"civil_registration"},
    "households.identify": {"public_service_delivery:multiple_disadvantages"},
    # Reads of a whole holding at the hub, under any agreement that names the fields (the bulk actions).
    "linkage.train": None,
    "linkage.link": None,
    "linkage.encode": None,
}
GATEWAYS = ["public_service_delivery", "civil_registration", "debt", "fraud", "research", "statistics"]


def test_catalogue_declares_exactly_the_expected_actions() -> None:
    assert {name: (set(a.gateways) if a.gateways else None) for name, a in catalogue().items()} == ACTION_GATEWAYS


def test_every_gateway_an_action_names_exists_in_the_framework() -> None:
    framework = load_framework()
    for action in catalogue().values():
        for entry in action.gateways or ():
            gateway, _, objective = entry.partition(":")
            assert gateway in framework.gateways, (action.name, entry)
            assert not objective or objective in framework.gateways[gateway].objectives, (action.name, entry)
        assert action.description and action.result


@pytest.mark.parametrize("action", ["dataset.delete", "", "DATASET.READ", "dataset.read "])
def test_an_action_not_in_the_catalogue_is_denied_naming_it(action: str) -> None:
    context = context_in_state("active")
    decision = decide(context, replace(request_for("recipient", "gateway", "exact"), action=action), NOW)
    assert not decision.allowed
    assert decision.reasons == (f"'{action}' is not an action in the catalogue",)
    assert decision.permitted_fields == ()
    assert context.usage_queries == []  # refused before any agreement was consulted


@pytest.mark.parametrize(("action", "gateway"), list(itertools.product(ACTION_GATEWAYS, GATEWAYS)))
def test_action_under_each_gateway(action: str, gateway: str) -> None:
    context = FakeContext([FakeAgreement(terms("agr-x", gateway=gateway, objective=None))])
    request = replace(request_for("recipient", "gateway", "exact"), action=action, purpose=Purpose(gateway))
    decision = decide(context, request, NOW)
    permitted_gateways = ACTION_GATEWAYS[action]
    if permitted_gateways is None or gateway in permitted_gateways:
        assert decision.allowed, decision.reasons
    else:
        assert not decision.allowed
        assert decision.reasons == (f"action '{action}' is not permitted under the {gateway} gateway",)
        assert decision.agreement_id == "agr-x"


@pytest.mark.parametrize(
    ("action", "objective", "allowed"),
    [
        ("dataset.read", "multiple_disadvantages", True),
        ("dataset.read", "fuel_poverty", False),
        ("dataset.read", "water_poverty", False),
        ("eligibility.check", "fuel_poverty", True),
    ],
)
def test_objective_bound_actions(action: str, objective: str, allowed: bool) -> None:
    gateway = "public_service_delivery"
    context = FakeContext([FakeAgreement(terms("agr-x", gateway=gateway, objective=objective))])
    request = replace(request_for("recipient", "gateway", "exact"), action=action, purpose=Purpose(gateway, objective))
    decision = decide(context, request, NOW)
    assert decision.allowed is allowed, decision.reasons
    if not allowed:
        assert decision.reasons == (f"action '{action}' is not permitted under the {gateway} gateway ({objective})",)

"""One agreement's page: every published field, consultation details, and 404 for drafts."""

from __future__ import annotations

import pytest
from markupsafe import escape
from web_support import CONSULTING, DRAFT, Site, title

from accord.demo.seed import example_agreements


def _spec(agreement_id: str):  # noqa: ANN202 - an AgreementSpec from the demo file
    return next(spec for _, spec in example_agreements() if spec.id == agreement_id)


def test_agreement_page_shows_every_published_field(site: Site) -> None:
    response = site.client.get("/register/agreements/warm-home-discount-2026")

    assert response.status_code == 200
    html = response.text
    spec = _spec("warm-home-discount-2026")
    assert title(html) == f"{spec.name} - Accord - GOV.UK"
    expected = [
        spec.name,
        "Public service delivery",
        "DEA 2017 s.35",
        "Reducing the number of people living in fuel poverty",  # the objective, by its title
        site.hub.framework.purpose_iri("public_service_delivery", "fuel_poverty"),  # DPV purpose
        spec.purpose,
        spec.benefits,
        "Department for Work and Pensions (dwp)",
        "Brightwatt Energy Ltd (fictional) (brightwatt-energy)",
        "Benefit claimants (dwp-benefits)",
        "pension_credit_guarantee",
        spec.sharing_method,
        "6 months",  # retention P6M, in words
        "Refused: the whole request is denied",  # on_excess_fields: deny
        "1 April 2026",
        "31 March 2027",
        "1 October 2026",
        f'href="mailto:{spec.contact}"',
        "Scotland",
        "Status history",
        "Draft to In consultation",
        "In consultation to Active",
    ]
    for text in expected:
        assert str(escape(text)) in html or text in html, f"missing from the page: {text}"
    assert 'class="govuk-tag govuk-tag--green"' in html
    # An active agreement takes no comments.
    assert 'id="comment-form"' not in html
    assert 'href="/register/agreements/warm-home-discount-2026.json"' in html


def test_pilot_page_shows_business_case_success_measures_and_the_consultation(site: Site) -> None:
    html = site.client.get(f"/register/agreements/{CONSULTING}").text
    spec = _spec(CONSULTING)

    assert str(escape(spec.pilot.business_case)) in html
    for measure in spec.pilot.success_measures:
        assert str(escape(measure)) in html
    assert "This agreement is open for public comment until" in html
    assert "0 comments received so far" in html
    assert 'id="comment-form"' in html
    assert f'action="/register/agreements/{CONSULTING}/comment"' in html
    for field in ("author", "organisation", "comment"):
        assert f'<label class="govuk-label govuk-label--s" for="{field}">' in html


@pytest.mark.parametrize("agreement_id", ["no-such-agreement", DRAFT, "supplier-research-request"])
def test_unknown_refused_and_draft_agreements_are_page_not_found(site: Site, agreement_id: str) -> None:
    for path in (f"/register/agreements/{agreement_id}", f"/register/agreements/{agreement_id}/comment/sent"):
        response = site.client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "Page not found" in response.text
        assert "Southshire draft" not in response.text


def test_pages_are_accessible_gov_uk_pages(sqlite_site: Site) -> None:
    for path in ("/", "/register", f"/register/agreements/{CONSULTING}", "/register/agreements/nope"):
        html = sqlite_site.client.get(path).text
        assert '<html lang="en"' in html, path
        assert 'href="#main-content"' in html and 'id="main-content"' in html, path  # skip link and its target
        assert html.count("<h1") == 1, path
        assert title(html).endswith(" - Accord - GOV.UK"), path
        assert '<link rel="stylesheet" href="/assets/govuk-frontend.min.css">' in html
        assert '<script type="module" src="/static/accord.js"></script>' in html  # starts initAll(), no inline script


@pytest.mark.parametrize("agreement_id", ["a" * 300, "%0Anewline"])
def test_ids_no_agreement_could_have_are_page_not_found_on_every_backend(site: Site, agreement_id: str) -> None:
    response = site.client.get(f"/register/agreements/{agreement_id}")

    assert response.status_code == 404
    assert "Page not found" in response.text


def test_a_nul_character_in_the_address_is_refused_before_any_page_runs(site: Site) -> None:
    # PostgreSQL cannot store or compare NUL; the middleware refuses it for every route alike.
    response = site.client.get("/register/agreements/%00")

    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert "NUL" in response.json()["detail"]

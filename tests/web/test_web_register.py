"""The start page and the register of agreements as HTML: publication, filters, bad filters."""

from __future__ import annotations

from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from web_support import (
    ACTIVE,
    CONSULTING,
    DRAFT,
    PUBLISHED,
    REFUSED,
    Site,
    linked_agreements,
    published_where,
    title,
)


def test_start_page_explains_the_register_and_links_to_it(sqlite_site: Site) -> None:
    response = sqlite_site.client.get("/")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert title(html) == "The register of data-sharing agreements - Accord - GOV.UK"
    assert "<h1" in html and "Accord - the register of data-sharing agreements" in html
    assert "Digital Economy Act 2017" in html
    for href in ("/register", "/docs", "/register/agreements.json", "/register/agreements.csv"):
        assert f'href="{href}"' in html
    # The agreement open for comment is signposted; the draft is not.
    assert linked_agreements(html) == {CONSULTING}
    assert f"{len(PUBLISHED)} published agreements" in html


def test_register_lists_every_published_agreement_and_never_a_draft(site: Site) -> None:
    response = site.client.get("/register")

    assert response.status_code == 200
    html = response.text
    assert linked_agreements(html) == PUBLISHED
    assert DRAFT not in html and "Southshire draft" not in html
    assert REFUSED not in html
    assert f"{len(PUBLISHED)} agreements" in html
    assert title(html) == "Register of data-sharing agreements - Accord - GOV.UK"


def test_register_shows_a_coloured_status_tag_for_each_agreement(sqlite_site: Site) -> None:
    html = sqlite_site.client.get("/register").text

    assert html.count('class="govuk-tag govuk-tag--green"') == len(ACTIVE)
    assert html.count('class="govuk-tag govuk-tag--blue"') == 1
    assert "In consultation" in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"gateway": "debt"}, {CONSULTING}),
        ({"gateway": "public_service_delivery"}, published_where(gateway="public_service_delivery")),
        ({"status": "consultation"}, {CONSULTING}),
        ({"status": "active"}, ACTIVE),
        ({"body": "brightwatt-energy"}, {"warm-home-discount-2026"}),
        ({"body": "gro"}, published_where(body="gro")),
        ({"body": "northshire-council", "gateway": "fraud"}, {"spd-fraud-pilot"}),
        ({"status": "revoked"}, set()),
    ],
)
def test_each_filter_narrows_the_register(site: Site, query: dict, expected: set[str]) -> None:
    response = site.client.get("/register", params=query)

    assert response.status_code == 200
    assert linked_agreements(response.text) == expected
    assert "match your filters" in response.text
    if not expected:
        assert "No agreements match these filters" in response.text


def test_filters_stay_selected_and_can_be_cleared(sqlite_site: Site) -> None:
    html = sqlite_site.client.get("/register", params={"gateway": "debt"}).text

    assert '<option value="debt" selected>' in html
    assert '<option value="fraud">' in html
    assert 'href="/register">Clear filters' in html
    # The body list is the registry's, by name.
    assert ">Department for Work and Pensions</option>" in html


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_download_links_carry_the_filters_and_return_the_same_agreements(sqlite_site: Site, fmt: str) -> None:
    client = sqlite_site.client
    html = client.get("/register", params={"body": "northshire-council", "status": "active"}).text
    shown = linked_agreements(html)
    assert shown == published_where(body="northshire-council", status="active")
    assert {"supporting-families-northshire", "spd-fraud-pilot"} <= shown

    href = unescape(
        next(part.split('"')[0] for part in html.split('href="')[1:] if part.startswith(f"/register/agreements.{fmt}?"))
    )
    assert parse_qs(urlsplit(href).query) == {"body": ["northshire-council"], "status": ["active"]}
    download = client.get(href)
    assert download.status_code == 200
    if fmt == "json":
        assert {a["id"] for a in download.json()["agreements"]} == shown
    else:
        assert {line.split(",")[0] for line in download.text.splitlines()[1:]} == shown


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"gateway": "not-a-gateway"}, "gateway", "Select a legal gateway from the list"),
        ({"status": "draft"}, "status", "Select a status from the list"),
        ({"status": "<script>alert(1)</script>"}, "status", "Select a status from the list"),
        ({"body": "no-such-body"}, "body", "Select a public body from the list"),
    ],
)
def test_an_invalid_filter_is_a_400_page_with_an_error_summary(
    sqlite_site: Site, query: dict, field: str, message: str
) -> None:
    response = sqlite_site.client.get("/register", params=query)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'class="govuk-error-summary"' in html
    assert f'<a href="#{field}">{message}</a>' in html
    assert f'id="{field}-error"' in html  # the message beside the field too
    assert title(html).startswith("Error: ")
    assert linked_agreements(html) == set()  # a refused filter shows nothing, and never drafts
    assert "<script>alert(1)</script>" not in html


def test_the_html_pages_do_not_shadow_the_json_api(sqlite_site: Site) -> None:
    client = sqlite_site.client

    missing = client.get("/register/agreements/no-such-agreement.json")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert client.get(f"/register/agreements/{CONSULTING}.json").json()["id"] == CONSULTING
    assert "/register" not in client.get("/openapi.json").json()["paths"]


def test_the_list_url_people_might_type_leads_to_the_register(sqlite_site: Site) -> None:
    response = sqlite_site.client.get("/register/agreements", follow_redirects=False)

    assert response.status_code == 308
    assert response.headers["location"] == "/register"

"""Public consultation comments through the HTML form: stored, refused with reasons, or forged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from web_support import CONSULTING, DRAFT, Site, comment_count, csrf_token, title

from accord.clock import utcnow
from accord.registry.agreements import get_agreement
from accord.web import csrf, views

AGREEMENT = f"/register/agreements/{CONSULTING}"


def _open_form(site: Site, agreement_path: str = AGREEMENT) -> str:
    """Load the agreement page as a browser would: the client keeps the form cookie."""
    response = site.client.get(agreement_path)
    assert response.status_code == 200
    return csrf_token(response.text)


def test_a_comment_is_stored_and_confirmed(site: Site) -> None:
    token = _open_form(site)

    response = site.client.post(
        f"{AGREEMENT}/comment",
        data={
            "author": "Jo Bloggs",
            "organisation": "Northshire Debt Advice",
            "comment": "Publish the DPIA.",
            "csrf_token": token,
        },
        follow_redirects=False,
    )

    assert response.status_code == 303
    assert response.headers["location"] == f"{AGREEMENT}/comment/sent"
    confirmation = site.client.get(response.headers["location"])
    assert confirmation.status_code == 200
    assert 'class="govuk-panel govuk-panel--confirmation"' in confirmation.text
    assert "Comment sent" in confirmation.text
    assert comment_count(site.client, CONSULTING) == 1
    assert "1 comment received so far" in site.client.get(AGREEMENT).text


def test_missing_fields_re_render_the_form_with_errors_and_store_nothing(site: Site) -> None:
    token = _open_form(site)

    response = site.client.post(
        f"{AGREEMENT}/comment",
        data={"author": "   ", "organisation": "Citizens <Advice> & Co", "comment": "", "csrf_token": token},
    )

    assert response.status_code == 400
    html = response.text
    assert title(html).startswith("Error: ")
    assert 'class="govuk-error-summary"' in html
    assert '<a href="#author">Enter your name</a>' in html
    assert '<a href="#comment">Enter your comment</a>' in html
    assert 'id="author-error"' in html and 'id="comment-error"' in html
    assert 'value="Citizens &lt;Advice&gt; &amp; Co"' in html  # what was typed is kept, escaped
    assert "Citizens <Advice>" not in html
    assert comment_count(site.client, CONSULTING) == 0


def test_an_over_long_comment_is_refused_and_kept_for_editing(sqlite_site: Site) -> None:
    token = _open_form(sqlite_site)
    too_long = "x" * 10_001

    response = sqlite_site.client.post(
        f"{AGREEMENT}/comment", data={"author": "Jo", "comment": too_long, "csrf_token": token}
    )

    assert response.status_code == 400
    assert '<a href="#comment">Comment must be 10,000 characters or fewer</a>' in response.text
    assert too_long in response.text
    assert 'value="Jo"' in response.text
    assert comment_count(sqlite_site.client, CONSULTING) == 0


def test_the_form_cookie_is_http_only_same_site_strict_and_scoped(sqlite_site: Site) -> None:
    response = sqlite_site.client.get(AGREEMENT)

    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{csrf.COOKIE}=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/register" in cookie
    # A second visit reuses the same cookie, so two open tabs both still work.
    again = sqlite_site.client.get(AGREEMENT)
    assert "set-cookie" not in again.headers
    assert csrf_token(again.text) == csrf_token(response.text)


def test_a_forged_post_without_the_form_token_is_refused(site: Site) -> None:
    _open_form(site)  # the victim has a cookie; the attacker's page cannot read it
    data = {"author": "Forger", "comment": "Spam", "csrf_token": "0" * 64}

    forged = site.client.post(f"{AGREEMENT}/comment", data=data)
    missing = site.client.post(f"{AGREEMENT}/comment", data={"author": "Forger", "comment": "Spam"})

    for response in (forged, missing):
        assert response.status_code == 403
        assert "Your comment was not sent" in response.text
    assert comment_count(site.client, CONSULTING) == 0


def test_a_token_from_another_browser_does_not_match_this_cookie(sqlite_site: Site) -> None:
    """An attacker can get a valid token for their own cookie, but not for the victim's."""
    attacker_token = csrf_token(sqlite_site.client.get(AGREEMENT).text)
    sqlite_site.client.cookies.clear()
    _open_form(sqlite_site)  # the victim's own, different cookie

    response = sqlite_site.client.post(
        f"{AGREEMENT}/comment", data={"author": "Forger", "comment": "Spam", "csrf_token": attacker_token}
    )

    assert response.status_code == 403
    assert comment_count(sqlite_site.client, CONSULTING) == 0


def test_a_post_with_no_cookie_at_all_is_refused(sqlite_site: Site) -> None:
    token = _open_form(sqlite_site)
    sqlite_site.client.cookies.clear()

    response = sqlite_site.client.post(
        f"{AGREEMENT}/comment", data={"author": "Jo", "comment": "Hi", "csrf_token": token}
    )

    assert response.status_code == 403
    assert comment_count(sqlite_site.client, CONSULTING) == 0


def test_comments_on_an_active_agreement_are_refused_with_the_reason(site: Site) -> None:
    token = _open_form(site)  # the token is per browser, not per page

    response = site.client.post(
        "/register/agreements/warm-home-discount-2026/comment",
        data={"author": "Jo", "comment": "Too late?", "csrf_token": token},
    )

    assert response.status_code == 409
    assert "is not in public consultation" in response.text
    assert 'class="govuk-error-summary"' in response.text
    assert 'href="#comment"' not in response.text  # no form on this page, so nothing to link to
    with site.hub.transaction() as session:
        assert get_agreement(session, "warm-home-discount-2026").comments == []


def test_comments_after_the_consultation_closes_are_refused(sqlite_site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    token = _open_form(sqlite_site)
    monkeypatch.setattr(views, "utcnow", lambda: utcnow() + timedelta(weeks=9))

    page = sqlite_site.client.get(AGREEMENT).text
    response = sqlite_site.client.post(
        f"{AGREEMENT}/comment", data={"author": "Jo", "comment": "Hi", "csrf_token": token}
    )

    assert "The public consultation closed" in page and 'id="comment-form"' not in page
    assert response.status_code == 409
    assert "closed on" in response.text
    assert comment_count(sqlite_site.client, CONSULTING) == 0


@pytest.mark.parametrize("agreement_id", ["no-such-agreement", DRAFT])
def test_comments_on_unpublished_agreements_are_page_not_found(sqlite_site: Site, agreement_id: str) -> None:
    token = _open_form(sqlite_site)

    response = sqlite_site.client.post(
        f"/register/agreements/{agreement_id}/comment", data={"author": "Jo", "comment": "Hi", "csrf_token": token}
    )

    assert response.status_code == 404
    assert "Page not found" in response.text
    with sqlite_site.hub.transaction() as session:
        assert get_agreement(session, DRAFT).comments == []


def test_comments_from_one_address_are_rate_limited(site: Site, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ACCORD_THROTTLE_COMMENTS_PER_ADDRESS the form says so (429, Retry-After) and stores nothing."""
    monkeypatch.setattr(site.hub, "settings", site.hub.settings.model_copy(update={"throttle_comments_per_address": 1}))
    token = _open_form(site)
    form = {"author": "Jo Bloggs", "comment": "Publish the DPIA.", "csrf_token": token}
    assert site.client.post(f"{AGREEMENT}/comment", data=form, follow_redirects=False).status_code == 303
    refused = site.client.post(f"{AGREEMENT}/comment", data=form, follow_redirects=False)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert 'class="govuk-error-summary"' in refused.text and "Too many comments" in refused.text
    assert comment_count(site.client, CONSULTING) == 1

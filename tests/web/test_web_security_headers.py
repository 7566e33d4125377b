"""Security headers (issue 13, item 7): every HTML page carries a Content-Security-Policy without inline
script, nosniff, a Referrer-Policy and framing refused; no template carries an inline script."""

from __future__ import annotations

import re
from pathlib import Path

from web_support import CONSULTING, Site

from accord.api.headers import DOCS_PATHS
from accord.web import rendering

TEMPLATES = Path(rendering.__file__).parent / "templates"


def _get_routes(app) -> list[str]:  # noqa: ANN001
    """Every GET path the app serves (included routers' routes with their prefixes), a value in each parameter."""
    paths = []
    for route in app.router.routes:
        contexts = getattr(route, "effective_route_contexts", None)
        for each in (contexts() if contexts else [route]):
            original = getattr(each, "original_route", each)
            path = getattr(each, "path_format", None) or getattr(original, "path_format", None)
            if path and "GET" in (getattr(original, "methods", None) or ()):
                paths.append(re.sub(r"\{agreement_id\}", CONSULTING, path))
    return [re.sub(r"\{[^}]+\}", "x", path) for path in paths]


def _policy(response) -> dict[str, list[str]]:  # noqa: ANN001
    directives = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


def test_every_html_page_carries_the_security_headers(sqlite_site: Site) -> None:
    html_pages = 0
    for path in _get_routes(sqlite_site.client.app):
        response = sqlite_site.client.get(path, follow_redirects=False)
        assert response.headers["x-content-type-options"] == "nosniff", path
        assert response.headers["referrer-policy"] == "no-referrer", path
        assert response.headers["x-frame-options"] == "DENY", path
        policy = _policy(response)
        assert policy["frame-ancestors"] == ["'none'"], path
        assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"], path
        if not response.headers.get("content-type", "").startswith("text/html"):
            continue
        html_pages += 1
        assert policy["default-src"] == ["'self'"], path
        if path not in DOCS_PATHS:
            assert policy["form-action"] == ["'self'"] and policy["style-src"] == ["'self'"], path
            assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"], path
        # The only inline script a page may carry is one the policy names by its hash.
        for script in rendering.inline_scripts(response.text):
            assert rendering.csp_hash(script) in policy["script-src"], (path, script[:80])
    assert html_pages >= 10  # the register, an agreement, the citizen, share code and purpose pages, the docs


def test_json_and_errors_carry_them_too(sqlite_site: Site) -> None:
    for response in (sqlite_site.client.get("/register/agreements.json"), sqlite_site.client.get("/no/such/page"),
                     sqlite_site.client.post("/oauth/token", content=b"x" * 2_000_000)):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


def test_no_template_carries_an_inline_script_or_style() -> None:
    templates = sorted(TEMPLATES.rglob("*.html"))
    assert len(templates) > 10
    for template in templates:
        text = template.read_text(encoding="utf-8")
        assert not rendering.inline_scripts(text), template.name
        assert "<style" not in text and not re.search(r"\son[a-z]+\s*=", text), template.name


def test_the_pages_start_govuk_frontend_from_a_file_of_the_service(sqlite_site: Site) -> None:
    page = sqlite_site.client.get("/register").text
    assert '<script type="module" src="/static/accord.js"></script>' in page
    script = sqlite_site.client.get("/static/accord.js")
    assert script.status_code == 200 and "initAll()" in script.text
    assert "javascript" in script.headers["content-type"]
    assert sqlite_site.client.get("/static/accord.css").status_code == 200

"""Authentication and authorisation at the HTTP boundary.

The list of endpoints is read from the app itself (its routes and its OpenAPI
document), so an endpoint added later is covered without editing this file:
everything outside the public set must refuse an unauthenticated call.
"""

from __future__ import annotations

import base64
import re
from datetime import timedelta

from api_support import BODIES, PROBLEM, Api
from sqlalchemy import update
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from accord.demo.seed import example_agreements
from accord.api import deps
from accord.clock import utcnow
from accord.storage.models import Token

HTTP_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
PUBLIC_EXACT = {"/", "/oauth/token", "/framework", "/health", "/openapi.json", "/redoc"}


def is_public(path: str) -> bool:
    """The public register (JSON, CSV and HTML pages), the token endpoint, the docs, health,
    and the audit log's public face (signed checkpoint, public key, proofs) under /audit/.
    The citizen pages under /citizen use the citizen's sign-in session, not bearer
    tokens; tests/web/test_web_citizen.py checks they show nothing without it. The officers' pages
    (/officer, /verification, /disadvantages) use the officer's server-side sign-in session
    (tests/web/test_web_officers.py and the pages' own suites check they show nothing without it), and
    the driving-licence check page is anonymous by design (rate-limited), and an eligibility job's
    status page is reached only through the keyed link given to the submitting body; their own
    suites check that they show nothing without sign-in, a valid code or the key."""
    return (
        path in PUBLIC_EXACT
        or path in ("/register", "/citizen", "/officer", "/verification", "/disadvantages", "/check-driving-licence")
        or path.startswith(
            ("/register/", "/register.", "/audit/", "/citizen/", "/officer/", "/verification/", "/disadvantages/",
             "/eligibility/")
        )
        or path == "/docs"
        or path.startswith("/docs/")
    )


def _route_contexts(app) -> list:  # noqa: ANN001
    """Every route, with included routers flattened (FastAPI >= 0.13x keeps them nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI: app.routes is already flat
        return list(app.routes)
    return list(iter_route_contexts(app.routes))


def operations(app) -> dict[tuple[str, str], object]:  # noqa: ANN001
    """(method, path template) -> route, from the routes and from the OpenAPI document."""
    found: dict[tuple[str, str], object] = {}
    for path, item in app.openapi()["paths"].items():
        for method in item:
            if method.upper() in HTTP_METHODS:
                found[(method.upper(), path)] = None
    for route in _route_contexts(app):
        original = getattr(route, "original_route", route)
        path = getattr(route, "path", None)
        if isinstance(original, Mount):
            if isinstance(original.app, StaticFiles):
                continue  # static assets of the public pages
            found[("GET", path.rstrip("/") + "/")] = original
            continue
        for method in getattr(route, "methods", None) or ():
            if method in HTTP_METHODS and path:
                found[(method, path)] = original
    return found


def fill(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "dummy-1", path)


def _probe(client, method: str, path: str, headers: dict | None = None):  # noqa: ANN001, ANN202
    kwargs = {"headers": headers or {}}
    if method != "GET":
        kwargs["json"] = {}
    return client.request(method, fill(path), **kwargs)


def _is_401_problem(response) -> str | None:  # noqa: ANN001
    """None if the response is a proper 401 problem, else what is wrong with it."""
    if response.status_code != 401:
        return f"status {response.status_code}"
    if not response.headers.get("content-type", "").startswith(PROBLEM):
        return f"content-type {response.headers.get('content-type')}"
    if not response.headers.get("www-authenticate", "").startswith("Bearer"):
        return "no WWW-Authenticate: Bearer header"
    detail = response.json().get("detail")
    if not isinstance(detail, str) or " " not in detail.strip():
        return f"detail {detail!r} is not a sentence"
    return None


# ------------------------------------------------------- unauthenticated calls


def test_enumeration_finds_the_api(sqlite_api: Api) -> None:
    """Guard: if route discovery broke, the tests below would pass vacuously."""
    found = operations(sqlite_api.client.app)
    protected = [op for op in found if not is_public(op[1])]
    assert ("POST", "/v1/decisions") in protected
    assert ("POST", "/v1/agreements/{agreement_id}/transitions") in protected
    assert ("GET", "/register/agreements.json") in found
    assert len(protected) >= 15


def test_every_non_public_endpoint_refuses_unauthenticated_calls(sqlite_api: Api) -> None:
    client = sqlite_api.client
    before = sqlite_api.counts()
    failures = {}
    for method, path in sorted(operations(client.app)):
        if is_public(path):
            continue
        for label, headers in (
            ("no credentials", {}),
            ("garbage bearer", {"Authorization": "Bearer not-a-real-token"}),
            ("empty bearer", {"Authorization": "Bearer "}),
            ("basic scheme", {"Authorization": "Basic " + base64.b64encode(b"a:b").decode()}),
        ):
            wrong = _is_401_problem(_probe(client, method, path, headers))
            if wrong:
                failures[f"{method} {path} ({label})"] = wrong
    assert failures == {}
    assert sqlite_api.counts() == before


def test_public_endpoints_answer_without_credentials(sqlite_api: Api) -> None:
    """The public set really is public: no 401 (and no 500) without a token.

    (A 403 is allowed: the HTML forms refuse a post without their CSRF token.)
    """
    failures = {}
    for method, path in sorted(operations(sqlite_api.client.app)):
        if not is_public(path) or path in (
            "/oauth/token",
            "/citizen/accesses.json",
            "/citizen/share-codes/{share_code_id}/receipt.json",
        ):
            continue  # the token endpoint checks credentials; the citizen's JSON needs their sign-in
        response = _probe(sqlite_api.client, method, path)
        if response.status_code == 401 or response.status_code >= 500:
            failures[f"{method} {path}"] = response.status_code
    assert failures == {}
    assert sqlite_api.client.get("/register/agreements.json").status_code == 200


def test_openapi_declares_bearer_security_on_every_non_public_operation(sqlite_api: Api) -> None:
    document = sqlite_api.client.get("/openapi.json").json()
    missing = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method.upper() not in HTTP_METHODS:
                continue
            secured = any("HTTPBearer" in requirement for requirement in operation.get("security", []))
            if secured == is_public(path):
                missing.append(f"{method.upper()} {path} (secured={secured})")
    assert missing == []


# ------------------------------------------------------------- tokens


def test_token_by_form_and_by_basic_and_admin_scope(sqlite_api: Api) -> None:
    client = sqlite_api.client
    council, hub_operator = sqlite_api.secret("council"), sqlite_api.secret("admin")
    basic = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(council.client_id, council.client_secret),
    )
    assert basic.status_code == 200, basic.text
    assert basic.json()["token_type"] == "Bearer"
    assert basic.json()["scope"] == "body"
    assert basic.json()["expires_in"] == sqlite_api.hub.settings.token_ttl_seconds
    token = basic.json()["access_token"]
    assert client.get("/v1/bodies", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    form = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": hub_operator.client_id,
            "client_secret": hub_operator.client_secret,
        },
    )
    assert form.status_code == 200
    assert set(form.json()["scope"].split()) == {"body", "admin"}


def test_token_refusals_are_problems(sqlite_api: Api) -> None:
    client, council = sqlite_api.client, sqlite_api.secret("council")
    before = sqlite_api.counts()
    wrong_secret = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": council.client_id, "client_secret": "guess"},
    )
    body = sqlite_api.problem(wrong_secret, 401, "not valid")
    assert wrong_secret.headers["www-authenticate"].startswith("Bearer")
    unknown = client.post(
        "/oauth/token", data={"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}
    )
    # The same answer for an unknown client as for a wrong secret: no probing for client ids.
    assert sqlite_api.problem(unknown, 401)["detail"] == body["detail"]
    sqlite_api.problem(client.post("/oauth/token", data={"grant_type": "client_credentials"}), 401)
    sqlite_api.problem(
        client.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers={"Authorization": "Basic !!!not-base64"},
        ),
        401,
        "basic",
    )
    sqlite_api.problem(
        client.post(
            "/oauth/token",
            data={"grant_type": "password", "client_id": council.client_id, "client_secret": council.client_secret},
        ),
        422,
        "grant_type",
    )
    sqlite_api.problem(client.post("/oauth/token", data={}), 422, "grant_type")
    assert sqlite_api.counts() == before  # no token issued by any refusal


def test_expired_token_is_refused_as_expired(api: Api) -> None:
    headers = api.auth("council")
    assert api.client.get("/v1/agreements", headers=headers).status_code == 200
    with api.hub.transaction() as session:
        session.execute(update(Token).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = api.client.get("/v1/agreements", headers=headers)
    api.problem(response, 401, "expired")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_garbage_bearer_is_refused(api: Api) -> None:
    for token in ("garbage", "x" * 5000, api.token("council") + "x", "ünïcode-ish"):
        response = api.client.get("/v1/bodies", headers={"Authorization": f"Bearer {token}".encode()})
        api.problem(response, 401)


def test_revoked_client_is_refused_everywhere(api: Api) -> None:
    council = api.secret("council")
    headers = api.auth("council")
    response = api.client.post(f"/v1/clients/{council.client_id}/revoke", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["client_id"] == council.client_id
    api.problem(api.client.get("/v1/agreements", headers=headers), 401)
    token = api.client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(council.client_id, council.client_secret),
    )
    api.problem(token, 401)
    # Revoking twice, or revoking what does not exist, is a clear 4xx.
    api.problem(api.client.post(f"/v1/clients/{council.client_id}/revoke", headers=api.auth("admin")), 422, "revoked")
    api.problem(api.client.post("/v1/clients/nobody.123/revoke", headers=api.auth("admin")), 404, "nobody.123")


def test_rotated_secret_old_refused_new_works_old_tokens_refused(api: Api) -> None:
    council = api.secret("council")
    old_headers = api.auth("council")
    response = api.client.post(f"/v1/clients/{council.client_id}/rotate", headers=old_headers)
    assert response.status_code == 200, response.text
    new_secret = response.json()["client_secret"]
    assert new_secret != council.client_secret
    assert response.json()["client_id"] == council.client_id

    api.problem(api.client.get("/v1/agreements", headers=old_headers), 401)
    old = api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(council.client_id, council.client_secret)
    )
    api.problem(old, 401)
    new = api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(council.client_id, new_secret)
    )
    assert new.status_code == 200
    fresh = {"Authorization": f"Bearer {new.json()['access_token']}"}
    assert api.client.get("/v1/agreements", headers=fresh).status_code == 200


def test_a_body_may_not_rotate_or_revoke_another_bodys_client(api: Api) -> None:
    dwp, council = api.secret("dwp"), api.auth("council")
    before = api.counts()
    for action in ("rotate", "revoke"):
        response = api.client.post(f"/v1/clients/{dwp.client_id}/{action}", headers=council)
        api.problem(response, 403)
    assert api.counts() == before
    # dwp's client still works: nothing was changed.
    assert api.client.get("/v1/bodies", headers=api.auth("dwp")).status_code == 200
    # The hub operator may rotate any client.
    assert api.client.post(f"/v1/clients/{dwp.client_id}/rotate", headers=api.auth("admin")).status_code == 200


# ------------------------------------------------------------- admin only


def _needs_admin(route) -> bool:  # noqa: ANN001
    def walk(dependant) -> bool:  # noqa: ANN001
        return any(d.call is deps.admin or walk(d) for d in dependant.dependencies)

    dependant = getattr(route, "dependant", None)
    return dependant is not None and walk(dependant)


def test_non_admin_is_forbidden_on_every_admin_endpoint(api: Api) -> None:
    admin_ops = [op for op, route in operations(api.client.app).items() if route is not None and _needs_admin(route)]
    assert ("POST", "/v1/bodies") in admin_ops
    assert ("POST", "/v1/bodies/{body_id}/clients") in admin_ops
    api.auth("council"), api.auth("dwp")
    before = api.counts()
    for method, path in admin_ops:
        for who in ("council", "dwp"):
            response = _probe(api.client, method, path.replace("{body_id}", BODIES[who]), api.auth(who))
            api.problem(response, 403, "hub operator")
    assert api.counts() == before


def test_admin_creates_a_client_whose_secret_works_once_shown(api: Api) -> None:
    response = api.client.post("/v1/bodies/dwp/clients", headers=api.auth("admin"))
    assert response.status_code == 201, response.text
    issued = response.json()
    assert issued["body_id"] == "dwp" and issued["scopes"] == ["body"]
    token = api.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(issued["client_id"], issued["client_secret"])
    )
    assert token.status_code == 200 and token.json()["scope"] == "body"
    api.problem(api.client.post("/v1/bodies/no-such-body/clients", headers=api.auth("admin")), 404, "no-such-body")


def test_bodies_act_only_for_themselves(api: Api) -> None:
    from api_support import valid_agreement, valid_dataset

    api.auth("dwp"), api.auth("energy"), api.auth("council")
    before = api.counts()
    dataset = valid_dataset()  # held by the council
    api.problem(api.client.post("/v1/datasets", json=dataset, headers=api.auth("dwp")), 403, "own datasets")
    agreement = valid_agreement()  # dwp -> council
    api.problem(api.client.post("/v1/agreements", json=agreement, headers=api.auth("energy")), 403, "party")
    api.problem(api.client.get("/v1/agreements/warm-home-discount-2026", headers=api.auth("council")), 403)
    assert api.counts() == before
    # A body lists only agreements it is party to; the hub operator sees all.
    mine = {a["id"] for a in api.client.get("/v1/agreements", headers=api.auth("energy")).json()}
    assert mine == {"warm-home-discount-2026"}
    everything = api.client.get("/v1/agreements", headers=api.auth("admin")).json()
    assert len(everything) == sum(status != "refused" for status, _spec in example_agreements())

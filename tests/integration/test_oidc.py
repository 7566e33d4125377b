"""Citizen sign-in through a real OpenID Connect exchange with a provider on loopback.

The provider here is a minimal stand-in written for the test (discovery,
authorisation with PKCE, a token endpoint issuing an RS256 ID token, JWKS); the
client side is Accord's real code (Authlib). It proves the configuration is
ready for a real provider: state, nonce, PKCE and the ID token signature are
all checked, and the identifier claim becomes the same person key the log uses.
"""

from __future__ import annotations

import base64
import re
import hashlib
import secrets
import threading
import time
from urllib.parse import parse_qs, urlencode, urlparse

import httpx
import pytest
import uvicorn
from authlib.jose import JsonWebKey, jwt
from fastapi import FastAPI, Form, Request
from fastapi.responses import RedirectResponse
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.audit.log import AuditRecord, append
from accord.clock import utcnow
from accord.config import load_settings
from accord.runtime import Hub

CLIENT_ID, CLIENT_SECRET = "accord-citizen", "provider-issued-secret"
NINO = "JE123456A"


class FakeProvider:
    def __init__(self) -> None:
        self.key = JsonWebKey.generate_key("RSA", 2048, is_private=True, options={"kid": "test-key"})
        self.codes: dict[str, dict] = {}
        self.issuer = ""
        self.tamper_nonce = False
        self.app = FastAPI()
        self._routes()

    def _routes(self) -> None:
        app = self.app

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict:
            return {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
            }

        @app.get("/jwks")
        def jwks() -> dict:
            return {"keys": [self.key.as_dict(is_private=False)]}

        @app.get("/authorize")
        def authorize(request: Request) -> RedirectResponse:
            q = request.query_params
            assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
            assert q["code_challenge_method"] == "S256" and q["code_challenge"]
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"nonce": q.get("nonce"), "challenge": q["code_challenge"], "redirect": q["redirect_uri"]}
            return RedirectResponse(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}", 302)

        @app.post("/token")
        def token(
            request: Request,
            code: str = Form(...),
            code_verifier: str = Form(...),
            redirect_uri: str = Form(...),
        ) -> dict:
            grant = self.codes.pop(code)
            digest = base64.urlsafe_b64encode(hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
            assert digest == grant["challenge"], "PKCE verifier does not match"
            assert redirect_uri == grant["redirect"]
            now = int(time.time())
            claims = {
                "iss": self.issuer, "aud": CLIENT_ID, "sub": "urn:fdc:example:1", "iat": now, "exp": now + 300,
                "nonce": "forged" if self.tamper_nonce else grant["nonce"], "nino": NINO, "name": "Jordan Example",
            }
            id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key).decode()
            return {"access_token": secrets.token_urlsafe(16), "token_type": "Bearer", "expires_in": 300,
                    "id_token": id_token}


@pytest.fixture
def provider():  # noqa: ANN201
    fake = FakeProvider()
    server = uvicorn.Server(uvicorn.Config(fake.app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "fake provider did not start"
        time.sleep(0.02)
    fake.issuer = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    yield fake
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def oidc_site(provider: FakeProvider, sqlite_hub: Hub, tmp_path):  # noqa: ANN001, ANN201
    settings = load_settings(
        database_url=str(sqlite_hub.engine.url), data_dir=tmp_path, environment="test",
        identity_provider="oidc", oidc_issuer=provider.issuer,
        oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET, oidc_scopes="openid profile",
        officer_identity_provider="oidc", officer_oidc_issuer=provider.issuer,
        officer_oidc_client_id=CLIENT_ID, officer_oidc_client_secret=CLIENT_SECRET,
    )
    hub = Hub.open(settings)
    with hub.transaction() as session:
        append(session, AuditRecord(kind="access.decision", occurred_at=utcnow(), outcome="allow",
                                    body_id="dwp", purpose="civil_registration",
                                    subjects=(hub.person_key("nino", NINO),), fields=("surname",)))
    yield TestClient(create_app(hub=hub))
    hub.close()


def _through_provider(client: TestClient, start_at: str = "/citizen/sign-in",
                      callback_at: str = "/citizen/callback") -> httpx.Response:
    start = client.get(start_at, follow_redirects=False)
    assert start.status_code == 302
    authorize = start.headers["location"]
    assert authorize.startswith("http://127.0.0.1:")
    back = httpx.get(authorize, follow_redirects=False)  # the browser at the provider
    assert back.status_code == 302
    callback = urlparse(back.headers["location"])
    assert callback.path == callback_at
    return client.get(f"{callback.path}?{callback.query}", follow_redirects=False)


def _officer_through_provider(client: TestClient) -> httpx.Response:
    return _through_provider(client, "/officer/sign-in?next=/verification", "/officer/callback")


def test_sign_in_with_openid_connect_finds_the_persons_records(oidc_site: TestClient) -> None:
    done = _through_provider(oidc_site)
    assert done.status_code == 303 and done.headers["location"] == "/citizen"
    data = oidc_site.get("/citizen/accesses.json").json()
    assert data["person"] == "Jordan Example"
    assert [e["purpose"] for e in data["accesses"]] == ["civil_registration"]


def test_a_forged_state_is_refused(oidc_site: TestClient) -> None:
    start = oidc_site.get("/citizen/sign-in", follow_redirects=False)
    back = httpx.get(start.headers["location"], follow_redirects=False)
    query = parse_qs(urlparse(back.headers["location"]).query)
    forged = oidc_site.get(f"/citizen/callback?{urlencode({'code': query['code'][0], 'state': 'forged'})}")
    assert forged.status_code == 401
    assert oidc_site.get("/citizen/accesses.json").status_code == 401


def test_an_id_token_with_the_wrong_nonce_is_refused(oidc_site: TestClient, provider: FakeProvider) -> None:
    provider.tamper_nonce = True
    done = _through_provider(oidc_site)
    assert done.status_code in (401, 403)
    assert oidc_site.get("/citizen/accesses.json").status_code == 401


def test_the_development_sign_in_form_is_not_offered_with_oidc(oidc_site: TestClient) -> None:
    assert oidc_site.post("/citizen/sign-in", data={"person": NINO, "form_token": "x"}).status_code == 404


def test_an_officer_signs_in_with_openid_connect_by_their_registered_subject(oidc_site: TestClient) -> None:
    from accord_testing import add_officer

    from accord.registry.bodies import add_body
    from accord.registry.specs import BodySpec

    hub = oidc_site.app.state.hub
    with hub.transaction() as session:
        add_body(session, hub.framework, BodySpec(id="dwp", name="DWP", body_type="government_department"), utcnow())
    add_officer(hub, "dwp", "urn:fdc:example:1", name="Jordan Officer")
    done = _officer_through_provider(oidc_site)
    assert done.status_code == 303 and done.headers["location"] == "/verification"
    assert "Signed in as Jordan Officer (dwp)" in oidc_site.get("/officer").text
    assert oidc_site.get("/citizen/accesses.json").status_code == 401  # the citizens' session is untouched
    assert oidc_site.post("/officer/sign-in", data={"officer": "x", "csrf_token": "x"}).status_code == 404


def test_a_subject_no_officer_holds_is_refused_with_a_gov_uk_page(oidc_site: TestClient) -> None:
    done = _officer_through_provider(oidc_site)
    assert done.status_code == 403 and "You cannot sign in" in done.text
    assert "not registered as an officer" in done.text, re.search(r'id="reason">([^<]*)', done.text)[1]
    assert "Sign in as an officer" in oidc_site.get("/officer").text

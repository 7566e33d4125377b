"""The OpenAPI document is the contract: fuzz it against the in-process app.

Schemathesis generates requests from the document, valid and invalid, for
every operation in it, sends them with a valid bearer token to the ASGI app
in process, and checks each response: never a server error, headers as
documented, and every error an application/problem+json body with a sentence.
Bounded: 100 examples in all (50 per backend: SQLite and PostgreSQL, which
refuses some values SQLite stores, such as NUL characters), no example database.

The document declares every error status as application/problem+json with
the Problem schema (accord.api.openapi), so statuses, media types and bodies
are checked against it too.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from api_support import Api  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    response_headers_conformance,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def test_the_api_honours_its_openapi_document(api: Api, throttle_reset) -> None:  # noqa: ANN001
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app)
    headers = {"Authorization": f"Bearer {api.token('admin')}"}
    cases = st.one_of(
        schema.as_strategy(GenerationMode.POSITIVE),
        schema.as_strategy(GenerationMode.NEGATIVE),
    )
    seen: set[str] = set()

    @given(case=cases)
    @settings(
        max_examples=50,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def honours(case) -> None:  # noqa: ANN001
        seen.add(f"{case.method} {case.path}")
        throttle_reset(api.hub)  # failed token requests and comments of earlier examples lock nothing out
        response = case.call(headers={**(case.headers or {}), **headers})
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            assert response.headers["content-type"][0].startswith("application/problem+json"), case.as_curl_command()
            body = response.json()
            assert body["status"] == response.status_code and " " in body["detail"], body

    honours()
    assert len(seen) >= 10, seen  # the examples reached most of the API, not one corner

"""Schemathesis against the two verification operations only: never a 500, every error a problem+json.

Bounded (40 examples, SQLite); the repository-wide fuzz test covers the rest of the API.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from verification_support import ERO, Client  # noqa: E402


def test_the_verification_operations_honour_the_openapi_document(sqlite_api: Client) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", sqlite_api.http.app).include(path_regex="verifications")
    headers = sqlite_api.headers(ERO)
    cases = st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE))
    seen: set[str] = set()

    @given(case=cases)
    @settings(max_examples=40, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    def honours(case) -> None:  # noqa: ANN001
        seen.add(f"{case.method} {case.path}")
        response = case.call(headers={**(case.headers or {}), **headers})
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                 content_type_conformance, response_schema_conformance])
        if response.status_code >= 400:
            assert response.headers["content-type"][0].startswith("application/problem+json"), case.as_curl_command()
            body = response.json()
            assert body["status"] == response.status_code and " " in body["detail"], body

    honours()
    assert seen == {"POST /v1/verifications", "POST /v1/verifications/batch"}, seen

"""Fuzz the households endpoint from the OpenAPI document: never a server error, every error a problem.

Schemathesis generates valid and invalid requests for POST /v1/households/multiple-disadvantages
only, sent in process as Northshire (a recipient) with an officer named. The holdings are not
loaded, so a request that names the real agreement stops at 409 quickly. Bounded: 60 examples,
on SQLite.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from disadvantages_support import api, seed  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from accord.runtime import Hub  # noqa: E402


def test_the_endpoint_never_fails_on_bad_input(sqlite_hub: Hub) -> None:
    seed(sqlite_hub)
    client = api(sqlite_hub)
    headers = client.headers()
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.http.app).include(
        path_regex=r"^/v1/households/multiple-disadvantages$"
    )
    cases = st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE))
    statuses: set[int] = set()

    @given(case=cases)
    @settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    def honours(case) -> None:  # noqa: ANN001
        response = case.call(headers={**(case.headers or {}), **headers})
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                 content_type_conformance, response_schema_conformance])
        statuses.add(response.status_code)
        if response.status_code >= 400:
            assert response.headers["content-type"][0].startswith("application/problem+json"), case.as_curl_command()
            body = response.json()
            assert body["status"] == response.status_code and " " in body["detail"], body

    honours()
    assert statuses & {403, 409} and 422 in statuses, statuses

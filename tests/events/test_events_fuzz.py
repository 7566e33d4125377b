"""Fuzz the events endpoints from the OpenAPI document: never a server error, every error a problem.

Schemathesis generates valid and invalid requests for the events operations only (recording,
feed, subscriptions, replay, dead letters, deceased check), sent in process as GRO (which may
record but has no subscription) and as DWP (which may subscribe and check). Bounded: 60
examples per body, on SQLite.
"""

from __future__ import annotations

import pytest

schemathesis = pytest.importorskip("schemathesis")

from events_support import EventsApi  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance  # noqa: E402


@pytest.mark.parametrize("who", ["gro", "dwp"])
def test_events_endpoints_never_fail_on_bad_input(sqlite_api: EventsApi, who: str) -> None:
    api = sqlite_api
    api.subscribe("dwp", url="http://127.0.0.1:9/hook")
    api.recorded(1)
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.client.app).include(
        path_regex=r"^/v1/(events|deceased-checks)"
    )
    headers = api.auth(who)
    cases = st.one_of(schema.as_strategy(GenerationMode.POSITIVE), schema.as_strategy(GenerationMode.NEGATIVE))
    seen: set[str] = set()

    @given(case=cases)
    @settings(max_examples=60, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
    def honours(case) -> None:  # noqa: ANN001
        seen.add(f"{case.method} {case.path}")
        response = case.call(headers={**(case.headers or {}), **headers})
        case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                 content_type_conformance])
        if response.status_code >= 400:
            assert response.headers["content-type"][0].startswith("application/problem+json"), case.as_curl_command()
            body = response.json()
            assert body["status"] == response.status_code and " " in body["detail"], body

    honours()
    assert len(seen) >= 6, seen

"""`accord throttle reset`: the operator forgets every lockout and comment limit at once."""

from __future__ import annotations

import pytest

from accord.runtime import Hub
from accord.services import throttle


def test_reset_forgets_every_counter(hub: Hub, accord_on) -> None:  # noqa: ANN001
    for _ in range(hub.settings.throttle_token_failures_per_client):
        throttle.failed(hub, "token", {"client": "locked-client", "address": "192.0.2.1"})
    with pytest.raises(throttle.TooManyRequests):
        throttle.check(hub, "token", {"client": "locked-client"})
    result = accord_on(hub)("throttle", "reset")
    assert result.code == 0, result.err
    assert "2 throttle counters reset" in result.out
    throttle.check(hub, "token", {"client": "locked-client", "address": "192.0.2.1"})

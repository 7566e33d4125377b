"""`accord demo --no-serve`: the whole story end to end, over real HTTP on a free port.

The run is shared with the audit CLI tests (the ``demo_run`` fixture in tests/conftest.py).
"""

from __future__ import annotations

import re

from accord_testing import strip_ansi


def test_demo_runs_end_to_end_and_prints_allow_and_deny(demo_run) -> None:  # noqa: ANN001
    root, completed = demo_run
    out, err = strip_ansi(completed.stdout), strip_ansi(completed.stderr)
    assert completed.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
    assert "Traceback" not in out + err
    allow = [line for line in out.splitlines() if re.match(r"\s*ALLOW\b", line)]
    deny = [line for line in out.splitlines() if re.match(r"\s*DENY\b", line)]
    assert allow and deny, out
    assert "Unauthenticated GET /v1/agreements -> 401" in out
    # The demo keeps to its own directory under ACCORD_DATA_DIR.
    assert (root / "demo" / "accord.db").exists()

"""`accord demo --no-serve`: the whole story end to end, over real HTTP on a free port."""

from __future__ import annotations

import re
from pathlib import Path

from cli_support import run_script


def test_demo_runs_end_to_end_and_prints_allow_and_deny(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = run_script("demo", "--no-serve", "--port", "0", data_dir=data_dir, timeout=180)
    assert result.code == 0, f"stdout:\n{result.out}\nstderr:\n{result.err}"
    assert "Traceback" not in result.out + result.err
    allow = [line for line in result.out.splitlines() if re.match(r"\s*ALLOW\b", line)]
    deny = [line for line in result.out.splitlines() if re.match(r"\s*DENY\b", line)]
    assert allow and deny, result.out
    assert "Unauthenticated GET /v1/agreements -> 401" in result.out
    # The demo keeps to its own directory under ACCORD_DATA_DIR.
    assert (data_dir / "demo" / "accord.db").exists()

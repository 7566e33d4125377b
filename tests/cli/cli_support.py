"""Support for the CLI tests: agreement files, token checks, and the console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from accord_testing import CliRun, strip_ansi
from fastapi.testclient import TestClient

from accord.app import create_app
from accord.runtime import Hub

ACCORD = Path(sys.executable).with_name("accord")
def token_status(hub: Hub, client_id: str, secret: str) -> int:
    """What the API answers when these credentials ask for a token."""
    client = TestClient(create_app(hub=hub), raise_server_exceptions=False)
    response = client.post("/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret))
    return response.status_code


def run_script(*args: str, data_dir: Path, timeout: float = 120) -> CliRun:
    """The installed `accord` console script, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACCORD_")}
    env.update({"ACCORD_DATA_DIR": str(data_dir), "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"})
    completed = subprocess.run(
        [str(ACCORD), *args],
        env=env,
        cwd=data_dir.parent,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return CliRun(completed.returncode, strip_ansi(completed.stdout), strip_ansi(completed.stderr))


def agreement_spec(**changes) -> dict:  # noqa: ANN003
    return {
        "id": "supporting-families-extension",
        "name": "Supporting Families - extension",
        "gateway": "public_service_delivery",
        "objective": "multiple_disadvantages",
        "purpose": "Identify households facing multiple disadvantages for early help.",
        "benefits": "Families get coordinated support earlier.",
        "disclosers": ["dwp"],
        "recipients": ["northshire-council"],
        "data": [{"dataset": "dwp-benefits", "fields": ["postcode", "benefit_type"]}],
        "sharing_method": "Accord hub API.",
        "retention": "P1Y",
        "start_date": "2027-01-01",
        "end_date": "2027-12-31",
        "review_date": "2027-06-30",
        "contact": "supporting.families@northshire.example",
        "areas": ["England"],
        **changes,
    }


def write(tmp_path: Path, name: str, spec: dict) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(spec, indent=2) if name.endswith(".json") else yaml.safe_dump(spec, sort_keys=False))
    return path

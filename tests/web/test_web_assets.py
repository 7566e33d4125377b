"""GOV.UK Frontend assets: served when installed; pages still render (with a warning) when not."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web_support import Site

from accord.app import create_app
from accord.web import rendering

INSTALLED = (rendering.assets_dir() / "govuk-frontend.min.css").is_file()


@pytest.mark.skipif(not INSTALLED, reason=f"GOV.UK Frontend not in {rendering.assets_dir()} (scripts/bootstrap.py)")
def test_assets_are_served_where_the_pages_and_the_stylesheet_ask_for_them(sqlite_site: Site) -> None:
    client = sqlite_site.client

    css = client.get("/assets/govuk-frontend.min.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    assert ".govuk-header" in css.text
    js = client.get("/assets/govuk-frontend.min.js")
    assert js.status_code == 200 and "initAll" in js.text
    # The stylesheet refers to fonts and images under /assets; so does the page template.
    font = next(p.name for p in (rendering.assets_dir() / "assets" / "fonts").iterdir())
    assert f"/assets/fonts/{font}" in css.text
    assert client.get(f"/assets/fonts/{font}").status_code == 200
    assert client.get("/assets/images/favicon.ico").status_code == 200
    assert client.get("/assets/manifest.json").status_code == 200
    assert client.get("/assets/../../../etc/passwd").status_code == 404


def test_missing_assets_are_a_warning_not_a_crash(
    sqlite_site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(rendering, "assets_dir", lambda: tmp_path / "nowhere")

    with caplog.at_level(logging.WARNING, logger="accord.web"):
        client = TestClient(create_app(hub=sqlite_site.hub))

    assert "GOV.UK Frontend assets not found" in caplog.text
    assert client.get("/register").status_code == 200
    assert client.get("/assets/govuk-frontend.min.css").status_code == 404


def test_mount_assets_reports_whether_it_mounted(tmp_path: Path) -> None:
    assert rendering.mount_assets(FastAPI(), tmp_path) is False
    (tmp_path / "assets").mkdir()
    (tmp_path / "govuk-frontend.min.css").write_text("body{}")
    app = FastAPI()
    assert rendering.mount_assets(app, tmp_path) is True
    assert TestClient(app).get("/assets/govuk-frontend.min.css").text == "body{}"

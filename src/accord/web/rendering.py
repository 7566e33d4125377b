"""Templates and GOV.UK Frontend assets for the public pages.

The macros come from the govuk-frontend-jinja package and the CSS, JavaScript,
fonts and images from the govuk-frontend release that scripts/bootstrap.py
installs under ``<sys.prefix>/share/accord/govuk-frontend``. Nothing is fetched
at run time: if the assets are missing the pages still render (unstyled) and a
warning says how to install them.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
import sys
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from jinja2 import ChainableUndefined, ChoiceLoader, Environment, PackageLoader, PrefixLoader
from starlette.staticfiles import StaticFiles

from accord.files import without_server_paths
from accord.web import present

log = logging.getLogger("accord.web")

ASSETS_URL = "/assets"
STATIC_URL = "/static"  # Accord's own script and stylesheet (accord/web/static)
_INLINE_SCRIPT = re.compile(r"<script\b[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def assets_dir() -> Path:
    return Path(sys.prefix) / "share" / "accord" / "govuk-frontend"


def environment() -> Environment:
    """Accord's templates plus the GOV.UK macros under their own prefix, autoescaped.

    Undefined values are chainable because the GOV.UK macros read optional
    parameters a level deep (``params.label.html`` with no label given).
    """
    loader = ChoiceLoader(
        [
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
            PackageLoader("accord.web", "templates"),
        ]
    )
    env = Environment(
        loader=loader,
        autoescape=True,
        undefined=ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        long_date=present.long_date,
        long_datetime=present.long_datetime,
        status_label=present.status_label,
        status_classes=present.status_classes,
    )
    env.globals.update(plural=present.plural, assets_url=ASSETS_URL, static_url=STATIC_URL)
    return env


class Pages:
    """Renders a named template to an HTML response with the context every page shares."""

    def __init__(self, env: Environment, *, service_name: str = "Accord", hidden: re.Pattern[str] | None = None) -> None:
        self.env = env
        self.service_name = service_name
        self.hidden = hidden  # the server's own paths: never shown on a page (accord.files.server_paths)

    def render(
        self, template: str, *, status: int = 200, headers: dict | None = None, **context: object
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(service_name=self.service_name, **context)
        if self.hidden is not None and status >= 400:  # an error page quotes a reason: the last guard
            html = without_server_paths(html, self.hidden)
        return HTMLResponse(html, status_code=status, headers=headers)


class _GovukAssets(StaticFiles):
    """One /assets URL for both halves of the release.

    The stylesheet asks for /assets/fonts/... and /assets/images/..., which live
    in dist/assets, while the bundle itself (govuk-frontend.min.css/.js) sits in
    dist/ one level up. Looking in both keeps every URL the release uses working.
    """

    def __init__(self, root: Path) -> None:
        super().__init__(directory=root / "assets")
        self.all_directories = [root / "assets", root]


def mount_assets(app: FastAPI, root: Path | None = None) -> bool:
    """Serve the GOV.UK Frontend release at /assets; warn (never fail) when absent."""
    root = root or assets_dir()
    if not (root / "govuk-frontend.min.css").is_file() or not (root / "assets").is_dir():
        log.warning(
            "GOV.UK Frontend assets not found in %s; pages will render without styles. "
            "Run `python scripts/bootstrap.py` to install them.",
            root,
        )
        return False
    app.mount(ASSETS_URL, _GovukAssets(root), name="assets")
    return True


def mount_static(app: FastAPI) -> None:
    """Serve Accord's own script and stylesheet at /static (packaged with the templates)."""
    app.mount(STATIC_URL, StaticFiles(directory=Path(__file__).parent / "static"), name="static")


def inline_scripts(html: str) -> list[str]:
    """The bodies of the inline <script> elements of a page or template (those without src)."""
    return [m.group(1) for m in _INLINE_SCRIPT.finditer(html) if " src=" not in m.group(0).split(">", 1)[0]]


def csp_hash(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"


def template_script_hashes(env: Environment) -> tuple[str, ...]:
    """CSP hashes of the one inline script GOV.UK's page template carries (it marks the body js-enabled).

    The GOV.UK Frontend guidance allows that script by its hash; it is read from the installed
    template, so an upgrade of the package cannot leave the policy allowing a stale script.
    Accord's own templates carry no inline script at all (a test holds that).
    """
    source, _, _ = env.loader.get_source(env, "govuk_frontend_jinja/template.html")  # type: ignore[union-attr]
    return tuple(csp_hash(script) for script in inline_scripts(source) if "{{" not in script and "{%" not in script)

"""The documentation keeps up with the code.

Each test fails, naming what is missing, when a setting, command, option,
endpoint or gateway exists in the code but not in the docs, when the README's
Quick start grows beyond its two commands, or when a decision record lacks
one of its sections. In the spirit of datasette's tests/test_docs.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer.main

from accord.cli.main import app as cli_app
from accord.config import Settings, load_settings
from accord.framework import load_framework

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.md"

# Not API endpoints: FastAPI's own documentation, and HTML pages for people.
NOT_API = {
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/openapi.json",
    "/",
    "/register",
    "/register/agreements/{agreement_id}",
    "/register/agreements/{agreement_id}/comment",
}
ADR_SECTIONS = ("Status", "Context", "Decision", "Consequences")


def read(path: Path) -> str:
    assert path.is_file(), f"{path.relative_to(ROOT)} is missing"
    return path.read_text(encoding="utf-8")


def guides() -> str:
    """docs/cli.md and docs/api.md first, then every service guide (docs/*.md), which may document its own
    commands (### `accord ...` headings) and endpoints (- `METHOD /path` items)."""
    paths = [DOCS / "cli.md", DOCS / "api.md"]
    paths += sorted(path for path in DOCS.glob("*.md") if path not in paths)
    return "\n\n".join(read(path) for path in paths)


# ------------------------------------------------------------ configuration


def test_every_setting_is_documented() -> None:
    text = read(DOCS / "configuration.md")
    missing = [
        f"ACCORD_{name.upper()}"
        for name in Settings.model_fields
        if not re.search(rf"^\| `ACCORD_{name.upper()}` \|", text, flags=re.MULTILINE)
    ]
    assert not missing, (
        f"settings without a row (| `ACCORD_NAME` | default | meaning |) in docs/configuration.md: {', '.join(missing)}"
    )


def test_test_and_debug_variables_are_documented() -> None:
    text = read(DOCS / "configuration.md")
    expected = ["ACCORD_TEST_POSTGRES_URL", "ACCORD_REQUIRE_POSTGRES", "ACCORD_DEBUG"]
    # Any other ACCORD_* variable the tests or the CLI read must be documented too.
    sources = [ROOT / "tests" / "conftest.py", ROOT / "src" / "accord" / "cli" / "main.py"]
    for source in sources:
        expected += re.findall(r"""environ(?:\.get)?\(\s*["'](ACCORD_[A-Z_]+)["']""", source.read_text())
    missing = sorted({name for name in expected if not re.search(rf"^\| `{name}` \|", text, flags=re.MULTILINE)})
    assert not missing, f"environment variables not documented in docs/configuration.md: {', '.join(missing)}"


# ------------------------------------------------------------ command line


def _commands(command, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], object]]:  # noqa: ANN001
    """Every command under the Typer app, depth first, with its full name."""
    yield path, command
    subcommands = getattr(command, "commands", None)
    if isinstance(subcommands, dict):
        for name, sub in sorted(subcommands.items()):
            if not getattr(sub, "hidden", False):
                yield from _commands(sub, (*path, name))


def _cli_commands() -> list[tuple[str, object]]:
    root = typer.main.get_command(cli_app)
    return [(" ".join(path), command) for path, command in _commands(root, ("accord",)) if len(path) > 1]


def _is_group(command) -> bool:  # noqa: ANN001
    return isinstance(getattr(command, "commands", None), dict)


def _options(command) -> list[str]:  # noqa: ANN001
    names = []
    for param in command.params:
        if getattr(param, "param_type_name", "") != "option" or getattr(param, "hidden", False):
            continue
        names += [opt for opt in [*param.opts, *param.secondary_opts] if opt.startswith("--")]
    return [name for name in names if name != "--help"]


def _sections(text: str) -> dict[str, str]:
    """Markdown sections keyed by a heading's backquoted command, e.g. 'accord bodies add'."""
    sections: dict[str, str] = {}
    # Blank out fenced code (keeping offsets) so '# comments' in examples are not taken for headings.
    masked = re.sub(
        r"^```.*?^```", lambda m: re.sub(r"[^\n]", " ", m.group(0)), text, flags=re.MULTILINE | re.DOTALL
    )
    matches = list(re.finditer(r"^#{2,4} `(accord[^`]*)`\s*$", masked, flags=re.MULTILINE))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        next_heading = re.search(r"^#{1,3} ", masked[match.end() : end], flags=re.MULTILINE)
        if next_heading:
            end = match.end() + next_heading.start()
        sections[match.group(1).strip()] = text[match.start() : end]
    return sections


def test_cli_lists_commands() -> None:
    assert [name for name, _ in _cli_commands()], "found no commands in the accord Typer app"


def test_every_cli_command_is_documented() -> None:
    text = guides()
    sections = _sections(text)
    missing = []
    for name, command in _cli_commands():
        if _is_group(command):
            if f"`{name}`" not in text:
                missing.append(name)
        elif name not in sections:
            missing.append(f"{name} (needs a heading: ### `{name}`)")
    assert not missing, f"commands not documented in docs/cli.md or a guide in docs/: {', '.join(missing)}"


def test_every_cli_option_is_documented() -> None:
    sections = _sections(guides())
    missing = []
    for name, command in _cli_commands():
        if _is_group(command) or name not in sections:
            continue  # reported by test_every_cli_command_is_documented
        for option in _options(command):
            if not re.search(rf"`{re.escape(option)}(?![\w-])", sections[name]):
                missing.append(f"{name} {option}")
    assert not missing, f"options not documented in their command's section of docs/cli.md: {', '.join(missing)}"


# ------------------------------------------------------------ HTTP API


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from accord.app import create_app

    data_dir = tmp_path_factory.mktemp("docs-openapi")
    settings = load_settings(
        data_dir=data_dir, environment="test", database_url=f"sqlite:///{(data_dir / 'accord.db').as_posix()}"
    )
    app = create_app(settings)
    try:
        yield app.openapi()
    finally:
        app.state.hub.close()


def _html_only(operation: dict) -> bool:
    """An operation whose successful responses are all HTML is a page, not an API endpoint."""
    content_types: set[str] = set()
    for status, response in operation.get("responses", {}).items():
        if str(status).startswith("2"):
            content_types |= set(response.get("content", {}))
    return bool(content_types) and all(kind.startswith("text/html") for kind in content_types)


def _api_operations(openapi: dict) -> list[str]:
    operations = []
    for path, item in openapi["paths"].items():
        if path in NOT_API:
            continue
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"} and not _html_only(operation):
                operations.append(f"{method.upper()} {path}")
    return operations


def test_openapi_has_operations(openapi: dict) -> None:
    assert _api_operations(openapi), "the OpenAPI document lists no API operations"


def test_every_api_endpoint_is_documented(openapi: dict) -> None:
    text = guides()
    missing = [
        operation
        for operation in _api_operations(openapi)
        if not re.search(rf"^- `{re.escape(operation)}`", text, flags=re.MULTILINE)
    ]
    assert not missing, (
        "endpoints not documented in docs/api.md or a guide in docs/ (as a list item: - `METHOD /path`: what it does): "
        + ", ".join(missing)
    )


# ------------------------------------------------------------ framework


def test_every_gateway_objective_and_body_type_is_documented() -> None:
    text = read(DOCS / "framework.md")
    framework = load_framework()
    expected = list(framework.gateways) + list(framework.body_types)
    for gateway in framework.gateways.values():
        expected += list(gateway.objectives)
    missing = [name for name in expected if f"`{name}`" not in text]
    assert not missing, f"gateways, objectives or body types not documented in docs/framework.md: {', '.join(missing)}"


# ------------------------------------------------------------ README


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\s*$", text, flags=re.MULTILINE)
    assert match, f"README.md has no '## {heading}' section"
    following = re.search(r"^## ", text[match.end() :], flags=re.MULTILINE)
    return text[match.end() : match.end() + following.start()] if following else text[match.end() :]


def test_readme_quick_start_is_make_demo_and_make_test() -> None:
    quick_start = _section(read(README), "Quick start")
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", quick_start, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, f"README Quick start should have one code block, found {len(blocks)}"
    commands = [line.strip() for line in blocks[0].splitlines() if line.strip() and not line.strip().startswith("#")]
    assert commands == ["make demo", "make test"], (
        f"README Quick start should be exactly 'make demo' and 'make test', found: {commands}"
    )


def _anchors(page: Path) -> set[str]:
    """GitHub-style anchors of a Markdown page's headings."""
    anchors = set()
    text = re.sub(r"^```.*?^```", "", page.read_text(encoding="utf-8"), flags=re.MULTILINE | re.DOTALL)
    for heading in re.findall(r"^#{1,6} (.+?)\s*$", text, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_relative_links_in_docs_resolve() -> None:
    broken = []
    for page in [README, *sorted(DOCS.rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path) if path else page
            if not linked.exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in _anchors(linked):
                broken.append(f"{page.relative_to(ROOT)} -> {target} (no such heading)")
    assert not broken, f"broken links: {', '.join(broken)}"


# ------------------------------------------------------------ decision records


def _adrs() -> list[Path]:
    return sorted((DOCS / "adr").glob("*.md"))


def test_adrs_exist_and_are_numbered() -> None:
    adrs = _adrs()
    assert adrs, "docs/adr/ has no decision records"
    badly_named = [p.name for p in adrs if not re.match(r"^\d{4}-[a-z0-9-]+\.md$", p.name)]
    assert not badly_named, f"decision records should be named NNNN-title.md: {', '.join(badly_named)}"
    numbers = [int(p.name[:4]) for p in adrs]
    assert numbers == list(range(1, len(adrs) + 1)), f"decision records are not numbered 1..n: {numbers}"


@pytest.mark.parametrize("adr", _adrs(), ids=lambda p: p.name)
def test_adr_has_required_sections(adr: Path) -> None:
    headings = set(re.findall(r"^## (.+?)\s*$", adr.read_text(encoding="utf-8"), flags=re.MULTILINE))
    missing = [section for section in ADR_SECTIONS if section not in headings]
    assert not missing, f"{adr.relative_to(ROOT)} lacks sections: {', '.join(missing)}"

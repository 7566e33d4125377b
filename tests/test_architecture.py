"""The architecture holds by structure: import contracts (import-linter, in pyproject.toml) and registrations.

The contracts are checked on the code as it is, and on a copy with one deliberate
violation (a face reaching the decision point from inside a function), which must
fail: a contract that cannot fail proves nothing.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import accord
import accord.services

ROOT = Path(__file__).resolve().parent.parent
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(source_root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(source_root), "NO_COLOR": "1", "COLUMNS": "300"}
    return subprocess.run([str(LINT), "--no-cache"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def test_the_import_contracts_hold() -> None:
    done = _lint(ROOT / "src")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("where", "code", "contract"),
    [
        ("api/violation.py", "def handler():\n    from accord.policy.decide import decide\n    return decide\n",
         "Only services.access reaches the decision point"),
        ("web/violation.py", "from accord.storage.models import Agreement\n",
         "Faces never import linkage, storage models or the policy"),
        ("audit/violation.py", "from accord.registry import agreements\n", "The audit log imports nothing of the domain"),
        ("linkage/violation.py", "def f():\n    import accord.registry.agreements\n",
         "Linkage knows nothing of agreements"),
        ("storage/violation.py", "import accord.services.access\n", "Dependencies point down"),
    ],
)
def test_a_deliberate_violation_breaks_its_contract(tmp_path: Path, where: str, code: str, contract: str) -> None:
    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "accord", copy / "accord", ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "accord" / where).write_text(code, encoding="utf-8")
    done = _lint(copy)
    assert done.returncode == 1, done.stdout[-2000:]
    broken = [line for line in done.stdout.splitlines() if " BROKEN" in line]
    assert any(contract in line for line in broken), done.stdout[-2000:]


def _packages() -> list[str]:
    return [m.name for m in pkgutil.iter_modules(accord.services.__path__) if m.ispkg]


def test_each_purpose_package_declares_its_public_names_and_none_is_a_submodule() -> None:
    """A public name that is also a submodule's name would be replaced by the module once it is imported."""
    for name in _packages():
        package = importlib.import_module(f"accord.services.{name}")
        public = getattr(package, "__all__", None)
        assert public, f"accord.services.{name} declares no public names (__all__)"
        submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
        assert not set(public) & submodules, (name, set(public) & submodules)
        for each in public:
            assert getattr(package, each) is not None


def test_registering_the_purposes_imports_nothing_heavy() -> None:
    """`accord --help` finds every purpose without loading DuckDB, Splink, pyarrow or NumPy."""
    code = ("import sys\nfrom accord.services.purposes import purposes\npurposes()\n"
            "heavy = [m for m in ('duckdb', 'splink', 'pyarrow', 'numpy') if m in sys.modules]\n"
            "print(','.join(heavy))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "", f"registration imported {done.stdout.strip()}"


def test_other_packages_use_only_a_service_package_s_public_names() -> None:
    """``from accord.services.verification import check``, never ``...verification.service import check``."""
    import ast

    src = ROOT / "src" / "accord"
    packages = set(_packages())
    reaching_in = []
    for path in src.rglob("*.py"):
        importer = path.relative_to(src).parts
        own = importer[1] if importer[0] == "services" and len(importer) > 2 else None
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module] if isinstance(node, ast.ImportFrom) and node.module else \
                [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            for name in names:
                parts = name.split(".")
                if len(parts) > 3 and parts[:2] == ["accord", "services"] and parts[2] in packages and parts[2] != own:
                    reaching_in.append(f"{path.relative_to(ROOT)}: {name}")
            # ``from accord.services.linking import tools`` reaches in too: only declared names may be imported.
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[:2] == ["accord", "services"]:
                parts = node.module.split(".")
                if len(parts) == 3 and parts[2] in packages and parts[2] != own:
                    public = set(importlib.import_module(node.module).__all__)
                    reaching_in += [f"{path.relative_to(ROOT)}: {node.module}.{alias.name}"
                                    for alias in node.names if alias.name not in public]
    assert reaching_in == []

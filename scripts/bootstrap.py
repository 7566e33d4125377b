"""Create or update the local virtual environment for Accord.

Called by `make demo` and `make test`; needs only Python 3.11+ and the package
registries. Installs the pinned dependencies (requirements.lock), the package
itself in editable mode, and the GOV.UK Frontend assets (CSS, fonts, images)
from the npm registry, pinned by version and checked against their published
sha512 integrity hash. No browser, model or data is downloaded.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
GOVUK_FRONTEND_VERSION = "6.3.0"
GOVUK_FRONTEND_INTEGRITY = (
    "sha512-cXIQxm5PHCsbic47GXZrVBZhAeeshTLRL6ZBKilLsR6rMCjJuWb7Fruq0VUNMBJFlJk/srsRj/q8d5bM9cgKoA=="
)
NPM_REGISTRY = os.environ.get("ACCORD_NPM_REGISTRY", "https://registry.npmjs.org")


def fail(message: str) -> None:
    print(f"bootstrap: {message}", file=sys.stderr)
    raise SystemExit(1)


def ensure_python() -> None:
    if sys.version_info < (3, 11):
        fail(f"Python 3.11 or newer is needed; this is {sys.version.split()[0]}")


def ensure_venv() -> Path:
    python = VENV / "bin" / "python"
    if not python.exists():
        print("bootstrap: creating .venv")
        venv.EnvBuilder(with_pip=True).create(VENV)
    return python


def pip_install(python: Path) -> None:
    print("bootstrap: installing pinned dependencies (requirements.lock)")
    quiet = ["-q", "--disable-pip-version-check"]
    subprocess.run([python, "-m", "pip", "install", *quiet, "-r", ROOT / "requirements.lock"], check=True)
    subprocess.run([python, "-m", "pip", "install", *quiet, "--no-deps", "-e", ROOT], check=True)


def install_govuk_frontend(python: Path) -> None:
    prefix = Path(
        subprocess.run(
            [python, "-c", "import sys; print(sys.prefix)"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    target = prefix / "share" / "accord" / "govuk-frontend"
    marker = target / ".version"
    if marker.exists() and marker.read_text().strip() == GOVUK_FRONTEND_VERSION:
        return
    url = f"{NPM_REGISTRY}/govuk-frontend/-/govuk-frontend-{GOVUK_FRONTEND_VERSION}.tgz"
    print(f"bootstrap: fetching GOV.UK Frontend {GOVUK_FRONTEND_VERSION} assets")
    with urllib.request.urlopen(url, timeout=120) as response:
        payload = response.read()
    algorithm, expected = GOVUK_FRONTEND_INTEGRITY.split("-", 1)
    actual = base64.b64encode(hashlib.new(algorithm, payload).digest()).decode()
    if actual != expected:
        fail(f"GOV.UK Frontend tarball from {url} does not match its pinned integrity hash")
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    prefix_in_tar = "package/dist/govuk/"
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as archive:
        for member in archive.getmembers():
            if not member.isfile() or not member.name.startswith(prefix_in_tar):
                continue
            relative = member.name[len(prefix_in_tar):]
            if not (relative.startswith("assets/") or relative.startswith("govuk-frontend.min.")):
                continue
            destination = target / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            destination.write_bytes(source.read())
    marker.write_text(GOVUK_FRONTEND_VERSION + "\n")


def main() -> None:
    ensure_python()
    python = ensure_venv()
    pip_install(python)
    install_govuk_frontend(python)
    print("bootstrap: ready")


if __name__ == "__main__":
    main()

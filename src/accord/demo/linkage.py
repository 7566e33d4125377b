"""Demo step: link two bodies' synthetic records with `accord link`, score them against the answer key,
then do the same on Bloom-filter encodings (`accord encode`) to show what privacy costs.

The commands run exactly as an officer would type them (the installed `accord` script, against the
demo's database), so the demo doubles as a check that the documented command lines work.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

from accord.demo.context import DemoContext

LEFT, RIGHT = "dvla-drivers", "hmrc-paye"
AGREEMENT = "paye-for-official-statistics"
MAP = "dob=date_of_birth,address=address_line_1"


def _accord(ctx: DemoContext, *args: str | Path) -> str:
    """Run the accord command against the demo hub; its output, or the one-line error it gave."""
    env = {
        **os.environ,
        "ACCORD_DATA_DIR": str(ctx.hub.settings.data_dir),
        "ACCORD_DATABASE_URL": ctx.hub.settings.database_url or "",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    script = Path(sys.executable).with_name("accord")
    result = subprocess.run([str(script), *map(str, args)], env=env, capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"accord {args[0]} failed: {(result.stderr or result.stdout).strip()}")
    return result.stdout


def _scores(output: str) -> dict[str, str]:
    return dict(re.findall(r"^(precision|recall|F1|blocking recall)\s+([0-9.]+)", output, flags=re.MULTILINE))


def run(ctx: DemoContext) -> None:
    out = ctx.hub.settings.data_dir / "linkage"
    out.mkdir(parents=True, exist_ok=True)
    left, right = ctx.synth_dir / f"{LEFT}.parquet", ctx.synth_dir / f"{RIGHT}.parquet"
    truth = ["--truth-left", ctx.synth_dir / "truth" / f"{LEFT}.parquet",
             "--truth-right", ctx.synth_dir / "truth" / f"{RIGHT}.parquet"]
    common = ["--left-id", "record_id", "--right-id", "record_id", "--left-map", MAP, "--right-map", MAP]
    say = ctx.console.print

    say(f"Linking {LEFT} with {RIGHT} without a common identifier (the NINO DVLA holds for most drivers is "
        "left unmapped, as for a body that holds none): names, date of birth, postcode and address are compared.",
        highlight=False)
    model = out / "model.json"
    model.unlink(missing_ok=True)
    timings = []
    for label in ("train + predict", "predict with the stored model"):
        started = time.perf_counter()
        _accord(ctx, "link", left, right, "--out", out / "links.parquet", *common, "--model", model)
        timings.append(f"{label} {time.perf_counter() - started:.1f} s")
    scores = _scores(_accord(ctx, "link", "evaluate", out / "links.parquet", *truth, "--report", out / "report"))
    say(f"  probabilistic (Splink): {', '.join(timings)}; "
        + ", ".join(f"{name} {value}" for name, value in scores.items()), highlight=False)

    # Each body encodes its own records with a secret the two share (never the hub), then uploads encodings.
    secret = out / "shared-secret"
    secret.write_text(secrets.token_urlsafe(48) + "\n", encoding="ascii")  # as `openssl rand -base64 48` makes one
    secret.chmod(0o600)
    encoded = []
    for name, path in ((LEFT, left), (RIGHT, right)):
        target = out / f"{name}.encoded.parquet"
        _accord(ctx, "encode", path, "--out", target, "--agreement", AGREEMENT, "--secret-file", secret,
                "--id", "record_id", "--map", MAP)
        encoded.append(target)
    started = time.perf_counter()
    _accord(ctx, "link", *encoded, "--out", out / "pprl-links.parquet", "--mode", "pprl", "--agreement", AGREEMENT)
    elapsed = time.perf_counter() - started
    pprl = _scores(_accord(ctx, "link", "evaluate", out / "pprl-links.parquet", *truth, "--report", out / "pprl-report"))
    say(f"  privacy-preserving (Bloom filters, hub never sees identifiers): link {elapsed:.1f} s; "
        + ", ".join(f"{name} {value}" for name, value in pprl.items()), highlight=False)
    say(f"  Reports: {out / 'report' / 'report.html'} and {out / 'pprl-report' / 'report.html'}", highlight=False)

"""Same seed, same files: whatever the chunk size or number of worker processes."""

from __future__ import annotations

import json
from pathlib import Path

from accord.synth import generate


def _hashes(out: Path) -> dict[str, str]:
    manifest = json.loads((out / "manifest.json").read_text())
    hashes = {name: info["file"]["sha256"] for name, info in manifest["datasets"].items()}
    hashes |= {f"truth/{name}": info["truth"]["sha256"] for name, info in manifest["datasets"].items()}
    hashes |= {f"population/{name}": info["sha256"] for name, info in manifest["population"].items()}
    return hashes


def test_same_seed_gives_identical_files_whatever_the_chunking(tmp_path: Path) -> None:
    a = generate(persons=45_000, seed=3, out=tmp_path / "a", workers=1, chunk_size=20_000)
    b = generate(persons=45_000, seed=3, out=tmp_path / "b", workers=2, chunk_size=100_000)
    assert _hashes(tmp_path / "a") == _hashes(tmp_path / "b")
    assert (tmp_path / "a" / "manifest.json").read_bytes() == (tmp_path / "b" / "manifest.json").read_bytes()
    assert a.total_rows == b.total_rows > 0


def test_a_different_seed_gives_different_files(tmp_path: Path) -> None:
    generate(persons=2_000, seed=3, out=tmp_path / "a", workers=1, bodies="dwp,gro")
    generate(persons=2_000, seed=4, out=tmp_path / "b", workers=1, bodies="dwp,gro")
    a, b = _hashes(tmp_path / "a"), _hashes(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all(a[k] != b[k] for k in a)


def test_choosing_bodies_does_not_change_the_others(tmp_path: Path) -> None:
    generate(persons=5_000, seed=8, out=tmp_path / "all", workers=1)
    generate(persons=5_000, seed=8, out=tmp_path / "dvla", workers=1, bodies=["dvla"])
    every, one = _hashes(tmp_path / "all"), _hashes(tmp_path / "dvla")
    assert one and all(every[k] == v for k, v in one.items())


def test_csv_on_request(tmp_path: Path) -> None:
    manifest = generate(persons=1_500, seed=1, out=tmp_path / "c", workers=1, bodies="energy", csv=True)
    for name, info in manifest.datasets.items():
        text = (tmp_path / "c" / f"{name}.csv").read_text()
        assert text.count("\n") == info.rows + 1
        assert info.csv is not None and info.csv.sha256
    assert not list((tmp_path / "c" / "truth").glob("*.csv"))

"""String similarity for tolerant name comparison, from RapidFuzz.

Jaro-Winkler follows Winkler (1990) as RapidFuzz implements it: prefix scale
0.1, common prefix up to 4 characters, boost applied when the Jaro score is
above 0.7. Splink's comparisons use the same measure in SQL, so thresholds
chosen here carry over.
"""

from __future__ import annotations

from rapidfuzz.distance import OSA, JaroWinkler


def jaro_winkler(a: str, b: str) -> float:
    return JaroWinkler.similarity(a, b)


def one_edit_apart(a: str, b: str) -> bool:
    """True if b is a with one character changed, or two adjacent characters transposed (equal lengths)."""
    return len(a) == len(b) and a != b and OSA.distance(a, b) == 1

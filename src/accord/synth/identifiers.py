"""Identifiers in their real formats, and validators for them.

Unique identifiers (NINO, NHS number, UPRN, record ids) come from a keyed
permutation (a small Feistel network with cycle walking) of a global index, so
they are unique without any bookkeeping across chunks, look random, and cannot
be turned back into the index without the key (which is derived from the seed
and never written out). This is a generator of synthetic identifiers, not a
cipher for protecting anything.
"""

from __future__ import annotations

import re
from datetime import date

import numpy as np

_M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def derive_keys(seed: int, *path: int, count: int = 4) -> np.ndarray:
    """Round keys for a permutation, derived from the seed and a purpose path."""
    return np.random.SeedSequence(seed, spawn_key=(0x1D, *path)).generate_state(count, dtype=np.uint64)


def _feistel(x: np.ndarray, keys: np.ndarray, bits: int) -> np.ndarray:
    half = bits // 2
    mask = np.uint64((1 << half) - 1)
    left = x >> np.uint64(half)
    right = x & mask
    mult = np.uint64(0x9E3779B97F4A7C15)
    with np.errstate(over="ignore"):
        for key in keys:
            f = (right ^ key) * mult
            f ^= f >> np.uint64(29)
            f = (f * np.uint64(0xBF58476D1CE4E5B9)) >> np.uint64(64 - half)
            left, right = right, left ^ (f & mask)
    return (left << np.uint64(half)) | right


def permute(index: np.ndarray, keys: np.ndarray, domain: int) -> np.ndarray:
    """A keyed bijection of [0, domain) applied to ``index`` (each < domain)."""
    bits = max(2, int(domain - 1).bit_length())
    bits += bits % 2
    x = _feistel(np.asarray(index, dtype=np.uint64), keys, bits)
    out_of_range = x >= np.uint64(domain)
    while out_of_range.any():  # cycle walking
        x[out_of_range] = _feistel(x[out_of_range], keys, bits)
        out_of_range = x >= np.uint64(domain)
    return x


# --------------------------------------------------------------------------- fixed-width strings


def digits(values: np.ndarray, width: int) -> np.ndarray:
    """Zero-padded decimal digits of non-negative integers, as an (n, width) uint8 matrix of ASCII."""
    values = np.asarray(values, dtype=np.uint64).copy()
    out = np.empty((len(values), width), dtype=np.uint8)
    for pos in range(width - 1, -1, -1):
        out[:, pos] = (values % np.uint64(10)).astype(np.uint8) + 48
        values //= np.uint64(10)
    return out


def hexdigits(values: np.ndarray, width: int) -> np.ndarray:
    values = np.asarray(values, dtype=np.uint64).copy()
    table = np.frombuffer(b"0123456789ABCDEF", dtype=np.uint8)
    out = np.empty((len(values), width), dtype=np.uint8)
    for pos in range(width - 1, -1, -1):
        out[:, pos] = table[(values & np.uint64(15)).astype(np.intp)]
        values >>= np.uint64(4)
    return out


def to_strings(matrix: np.ndarray) -> np.ndarray:
    """An (n, w) uint8 ASCII matrix as an object array of str."""
    matrix = np.ascontiguousarray(matrix, dtype=np.uint8)
    if matrix.shape[0] == 0:
        return np.empty(0, dtype=object)
    width = matrix.shape[1]
    return matrix.view(f"S{width}").ravel().astype(f"U{width}").astype(object)


def letters(codes: np.ndarray) -> np.ndarray:
    return (np.asarray(codes) + 65).astype(np.uint8)


# --------------------------------------------------------------------------- National Insurance numbers

NINO_UNALLOCATED = {"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"}
NINO_PREFIXES = np.array(
    [
        a + b
        for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        if a not in "DFIQUV" and b not in "DFIOQUV" and a + b not in NINO_UNALLOCATED
    ],
    dtype="S2",
)
NINO_DOMAIN = len(NINO_PREFIXES) * 1_000_000
NINO_RE = re.compile(r"^(?!BG|GB|KN|NK|NT|TN|ZZ)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z][0-9]{6}[A-D]$")


def is_valid_nino(text: str) -> bool:
    return bool(NINO_RE.match(text))


def ninos(index: np.ndarray, keys: np.ndarray, suffix_codes: np.ndarray) -> np.ndarray:
    """Unique NINOs for distinct indices in [0, NINO_DOMAIN)."""
    value = permute(index, keys, NINO_DOMAIN)
    prefix = NINO_PREFIXES[(value // np.uint64(1_000_000)).astype(np.intp)].view(np.uint8).reshape(-1, 2)
    body = digits(value % np.uint64(1_000_000), 6)
    suffix = letters(suffix_codes).reshape(-1, 1)
    return to_strings(np.hstack([prefix, body, suffix]))


# --------------------------------------------------------------------------- NHS numbers

_NHS_LOW, _NHS_HIGH = 400_000_000, 800_000_000
_NHS_WEIGHTS = np.arange(10, 1, -1, dtype=np.int64)


def nhs_check_digit(nine: np.ndarray) -> np.ndarray:
    """Modulus 11 check digit for 9-digit NHS number stems; 10 means the stem is not usable."""
    d = digits(nine, 9).astype(np.int64) - 48
    check = 11 - (d @ _NHS_WEIGHTS) % 11
    return np.where(check == 11, 0, check)


def is_valid_nhs_number(text: str) -> bool:
    if not re.fullmatch(r"[0-9]{10}", text):
        return False
    check = 11 - sum(int(d) * w for d, w in zip(text[:9], range(10, 1, -1))) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(text[9])


def nhs_numbers(index: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Unique, valid NHS numbers for distinct indices below 324 million.

    Of the ten stems sharing their first eight digits, one or none has the
    unusable check digit 10, so every such decade holds at least nine valid
    stems: a permuted value v picks decade v // 9 and its (v % 9)-th valid stem.
    """
    decades = (_NHS_HIGH - _NHS_LOW) // 10
    value = permute(index, keys, decades * 9)
    decade = value // np.uint64(9)
    wanted = (value % np.uint64(9)).astype(np.int64)
    base = decade * np.uint64(10) + np.uint64(_NHS_LOW)  # last digit 0
    d = digits(base, 9).astype(np.int64) - 48
    residue = (d @ _NHS_WEIGHTS) % 11
    last = np.arange(10, dtype=np.int64)[None, :]
    total = (residue[:, None] + 2 * last) % 11  # the last digit has weight 2
    valid = total != 1  # a sum of 1 (mod 11) would need check digit 10
    rank = np.cumsum(valid, axis=1) - 1
    pick = np.argmax(valid & (rank == wanted[:, None]), axis=1)
    rows = np.arange(len(value))
    stem = base + pick.astype(np.uint64)
    check = 11 - total[rows, pick]
    check = np.where(check == 11, 0, check)
    return to_strings(np.hstack([digits(stem, 9), (check.astype(np.uint8) + 48).reshape(-1, 1)]))


# --------------------------------------------------------------------------- DVLA driver numbers

_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # 29 Feb: the century is not in the number
DRIVER_RE = re.compile(r"^[A-Z9]{5}[0-9][0156][0-9][0-3][0-9][0-9][A-Z9]{2}[0-9][A-Z0-9]{2}$")


def driver_surname_part(surname: str) -> str:
    """First five letters of the surname (MAC treated as MC), padded with 9s."""
    letters_only = re.sub(r"[^A-Z]", "", surname.upper())
    if letters_only.startswith("MAC"):
        letters_only = "MC" + letters_only[3:]
    return (letters_only[:5] + "99999")[:5]


def driver_number_stem(surname: str, first_name: str, middle_name: str | None, dob: date, female: bool) -> str:
    """The first 14 characters of a driver number (the 14th, arbitrary, digit is always 9 here)."""
    month = dob.month + (50 if female else 0)
    initials = (first_name[:1] + (middle_name or "")[:1]).upper()
    initials = re.sub(r"[^A-Z]", "", initials)
    initials = (initials + "99")[:2]
    return f"{driver_surname_part(surname)}{str(dob.year)[2]}{month:02d}{dob.day:02d}{str(dob.year)[3]}{initials}9"


def is_valid_driver_number(text: str) -> bool:
    if not DRIVER_RE.match(text):
        return False
    month = int(text[6:8])
    month = month - 50 if month > 50 else month
    day = int(text[8:10])
    if not 1 <= month <= 12 or not 1 <= day <= _MONTH_DAYS[month - 1]:
        return False
    surname = text[:5]
    return "9" not in surname.rstrip("9") and surname[0] != "9"


def driver_numbers(
    surnames: np.ndarray, firsts: np.ndarray, middles: np.ndarray, dob: np.ndarray, female: np.ndarray,
    check_codes: np.ndarray,
) -> np.ndarray:
    """Vectorised driver numbers; ``dob`` as datetime64[D]; ``check_codes`` (n, 2) ints in [0, 26)."""
    n = len(surnames)
    if n == 0:
        return np.empty(0, dtype=object)
    cache: dict[str, bytes] = {}

    def part(name: str) -> bytes:
        got = cache.get(name)
        if got is None:
            got = cache[name] = driver_surname_part(name).encode()
        return got

    sur = np.frombuffer(b"".join(part(s) for s in surnames), dtype=np.uint8).reshape(n, 5)
    ymd = dob.astype("datetime64[D]")
    year = ymd.astype("datetime64[Y]").astype(np.int64) + 1970
    month = (ymd.astype("datetime64[M]").astype(np.int64) % 12) + 1
    day = (ymd - ymd.astype("datetime64[M]")).astype(np.int64) + 1
    month = month + np.where(female, 50, 0)

    def initial(values: np.ndarray) -> np.ndarray:
        out = np.full(n, ord("9"), dtype=np.uint8)
        for i, v in enumerate(values):
            if v:
                c = v[0].upper()
                if "A" <= c <= "Z":
                    out[i] = ord(c)
        return out

    parts = [
        sur,
        digits((year // 10) % 10, 1),
        digits(month, 2),
        digits(day, 2),
        digits(year % 10, 1),
        initial(firsts).reshape(-1, 1),
        initial(middles).reshape(-1, 1),
        np.full((n, 1), ord("9"), dtype=np.uint8),
        letters(check_codes).reshape(n, 2),
    ]
    return to_strings(np.hstack(parts))

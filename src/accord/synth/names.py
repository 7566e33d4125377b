"""Name pools: given names and surnames with modelled frequencies, taken from Faker's locales.

Faker is used only as a source of word lists, read once at import; nothing
calls Faker while records are generated. The population is split into
heritage groups with modelled shares (roughly in the spirit of the 2021 Census
ethnic-group figures for England and Wales, not a copy of them), and each group
draws its names from a mixture of Faker locales.

Frequencies are modelled, not measured. Where a Faker locale ships weights
(en_GB surnames, en_NZ and en_US given names and surnames, ...) they are used;
otherwise names get Zipf-like weights (1 / (rank + 10)) over a fixed,
hash-based ordering, so a few names are common and most are rare. The only
fact relied on is that Smith is the most common surname in England and Wales,
which the en_GB list already reflects.

Names are folded to ASCII (diacritics removed), as many administrative systems
still hold them.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

MALE, FEMALE = 1, 2

# group -> (share of households, forename sources, surname sources, probability of a middle name)
# Each source is (Faker locale, share of that group's names drawn from it).
GROUPS: dict[str, dict] = {
    "british": {
        "share": 0.80,
        "forenames": [("en_GB", 0.45), ("en_NZ", 0.37), ("en", 0.06), ("en_US", 0.12)],
        "surnames": [("en_GB", 0.55), ("en_NZ", 0.20), ("en_US", 0.10), ("en_IE", 0.15)],
        "middle": 0.55,
    },
    "irish": {
        "share": 0.025,
        "forenames": [("en_IE", 0.75), ("en_GB", 0.15), ("ga_IE", 0.10)],
        "surnames": [("en_IE", 0.85), ("ga_IE", 0.15)],
        "middle": 0.45,
    },
    "south_asian": {
        "share": 0.08,
        "forenames": [("en_IN", 0.55), ("en_PK", 0.45)],
        "surnames": [("en_IN", 0.55), ("en_PK", 0.45)],
        "middle": 0.25,
    },
    "european": {
        "share": 0.05,
        "forenames": [
            ("pl_PL", 0.30), ("ro_RO", 0.15), ("pt_PT", 0.10), ("it_IT", 0.10), ("lt_LT", 0.08),
            ("es_ES", 0.07), ("fr_FR", 0.05), ("de_DE", 0.05), ("hu_HU", 0.04), ("sk_SK", 0.03), ("lv_LV", 0.03),
        ],
        "surnames": [
            ("pl_PL", 0.30), ("ro_RO", 0.15), ("pt_PT", 0.10), ("it_IT", 0.10), ("lt_LT", 0.08),
            ("es_ES", 0.07), ("fr_FR", 0.05), ("de_DE", 0.05), ("hu_HU", 0.04), ("sk_SK", 0.03), ("lv_LV", 0.03),
        ],
        "middle": 0.15,
    },
    "african": {
        "share": 0.03,
        "forenames": [
            ("en_NG", 0.15), ("yo_NG", 0.20), ("ig_NG", 0.15), ("ha_NG", 0.05), ("tw_GH", 0.15),
            ("en_KE", 0.15), ("sw", 0.05), ("zu_ZA", 0.05), ("en_GB", 0.05),
        ],
        "surnames": [
            ("en_NG", 0.15), ("yo_NG", 0.20), ("ig_NG", 0.15), ("ha_NG", 0.05), ("tw_GH", 0.15),
            ("en_KE", 0.15), ("sw", 0.05), ("zu_ZA", 0.05), ("en_GB", 0.05),
        ],
        "middle": 0.40,
    },
    "east_asian": {
        "share": 0.01,
        "forenames": [("zh_CN", 0.50), ("zh_TW", 0.15), ("ja_JP", 0.10), ("vi_VN", 0.15), ("en_GB", 0.10)],
        "surnames": [("zh_CN", 0.55), ("zh_TW", 0.15), ("ja_JP", 0.10), ("vi_VN", 0.20)],
        "middle": 0.10,
    },
    "middle_eastern": {
        "share": 0.005,
        "forenames": [("tr_TR", 0.55), ("fr_DZ", 0.45)],
        "surnames": [("tr_TR", 0.55), ("fr_DZ", 0.45)],
        "middle": 0.10,
    },
}
GROUP_NAMES = list(GROUPS)

# Common English diminutives (formal name -> nicknames). A fact list written for
# this project, not copied from a data set.
NICKNAMES: dict[str, tuple[str, ...]] = {
    "William": ("Bill", "Will", "Billy", "Liam"), "Robert": ("Bob", "Rob", "Bobby", "Robbie"),
    "Richard": ("Rick", "Dick", "Rich", "Richie"), "James": ("Jim", "Jimmy", "Jamie"),
    "John": ("Jack", "Johnny"), "Jonathan": ("Jon", "Johnny"), "Michael": ("Mike", "Mick", "Mikey"),
    "Thomas": ("Tom", "Tommy"), "Christopher": ("Chris", "Kit"), "Anthony": ("Tony",),
    "Joseph": ("Joe", "Joey"), "Daniel": ("Dan", "Danny"), "David": ("Dave", "Davy"),
    "Edward": ("Ed", "Eddie", "Ted", "Ned"), "Charles": ("Charlie", "Chas", "Chuck"),
    "Stephen": ("Steve",), "Steven": ("Steve",), "Matthew": ("Matt",), "Andrew": ("Andy", "Drew"),
    "Nicholas": ("Nick", "Nicky"), "Alexander": ("Alex", "Sandy", "Xander"), "Benjamin": ("Ben", "Benny"),
    "Samuel": ("Sam", "Sammy"), "Peter": ("Pete",), "Patrick": ("Pat", "Paddy"), "Timothy": ("Tim",),
    "Frederick": ("Fred", "Freddie"), "Henry": ("Harry", "Hal"), "Harold": ("Harry",),
    "Lawrence": ("Larry", "Laurie"), "Leonard": ("Len", "Lenny"), "Gerald": ("Gerry",),
    "Kenneth": ("Ken", "Kenny"), "Ronald": ("Ron", "Ronnie"), "Donald": ("Don", "Donny"),
    "Raymond": ("Ray",), "Terence": ("Terry",), "Philip": ("Phil",), "Gregory": ("Greg",),
    "Jeffrey": ("Jeff",), "Geoffrey": ("Geoff",), "Douglas": ("Doug",), "Albert": ("Bert", "Al"),
    "Alfred": ("Alf", "Alfie"), "Archibald": ("Archie",), "Frank": ("Frankie",), "Francis": ("Frank",),
    "Oliver": ("Ollie",), "Joshua": ("Josh",), "Zachary": ("Zach",), "Nathaniel": ("Nate", "Nat"),
    "Nathan": ("Nate",), "Maximilian": ("Max",), "Jacob": ("Jake",), "Callum": ("Cal",),
    "Elizabeth": ("Liz", "Beth", "Lizzie", "Betty", "Eliza"), "Margaret": ("Maggie", "Peggy", "Meg", "Margo"),
    "Catherine": ("Kate", "Cathy", "Katie"), "Katherine": ("Kate", "Kathy", "Katie"), "Kathleen": ("Kath", "Kathy"),
    "Jennifer": ("Jen", "Jenny"), "Rebecca": ("Becky", "Becca"), "Victoria": ("Vicky", "Tori"),
    "Alexandra": ("Alex", "Sandra", "Lexi"), "Samantha": ("Sam", "Sammy"), "Susan": ("Sue", "Susie"),
    "Deborah": ("Debbie", "Deb"), "Patricia": ("Pat", "Trish", "Patsy"), "Christine": ("Chris", "Chrissie"),
    "Christina": ("Tina", "Chris"), "Jacqueline": ("Jackie",), "Josephine": ("Jo", "Josie"),
    "Joanne": ("Jo",), "Joanna": ("Jo",), "Dorothy": ("Dot", "Dottie"), "Barbara": ("Barb", "Babs"),
    "Abigail": ("Abby", "Abi"), "Eleanor": ("Ellie", "Nell"), "Helen": ("Nell",), "Isabella": ("Bella", "Izzy"),
    "Isabel": ("Izzy", "Bel"), "Charlotte": ("Lottie", "Charlie"), "Amanda": ("Mandy",), "Judith": ("Judy",),
    "Pamela": ("Pam",), "Sandra": ("Sandy",), "Theresa": ("Terri", "Tess"), "Teresa": ("Terri", "Tess"),
    "Frances": ("Fran", "Frankie"), "Gillian": ("Gill",), "Penelope": ("Penny",), "Valerie": ("Val",),
    "Jessica": ("Jess", "Jessie"), "Natalie": ("Nat",), "Nicola": ("Nicky",), "Stephanie": ("Steph",),
    "Caroline": ("Carrie",), "Christopher ": ("Chris",), "Mohammed": ("Mo",), "Muhammad": ("Mo",),
    "Mohammad": ("Mo",), "Aleksander": ("Olek",), "Katarzyna": ("Kasia",), "Malgorzata": ("Gosia",),
    "Giuseppe": ("Beppe",), "Francesco": ("Franco",),
}

_ALLOWED = re.compile(r"^[A-Za-z][A-Za-z' -]*[A-Za-z]$")
_SPECIAL = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "Ae", "đ": "d",
                          "Đ": "D", "ı": "i", "ð": "d", "þ": "th", "’": "'"})


def fold(name: str) -> str | None:
    """ASCII form of a name, or None if it cannot be written in Latin letters."""
    text = unicodedata.normalize("NFKD", name.strip().translate(_SPECIAL))
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    if text.isupper() and len(text) > 1:
        text = text.title()
    if not _ALLOWED.match(text):
        return None
    return text


def _stable_rank_key(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


def _provider(locale: str):  # noqa: ANN202
    return importlib.import_module(f"faker.providers.person.{locale}").Provider


def _attr(provider, names: tuple[str, ...]) -> dict[str, float] | list[str] | None:  # noqa: ANN001
    for name in names:
        value = getattr(provider, name, None)
        if isinstance(value, (dict, list, tuple)) and len(value) >= 10:  # skips Faker's placeholder lists
            return dict(value) if isinstance(value, dict) else list(value)
    return None


def _weighted(source: dict[str, float] | list[str]) -> dict[str, float]:
    """Fold names and give them normalised weights (the locale's own, or modelled Zipf)."""
    if isinstance(source, dict):
        items = [(fold(k), float(v)) for k, v in source.items()]
    else:
        unique = sorted(set(source), key=_stable_rank_key)
        items = [(fold(k), 1.0 / (rank + 10)) for rank, k in enumerate(unique)]
    weights: dict[str, float] = {}
    for name, weight in items:
        if name and weight > 0:
            weights[name] = weights.get(name, 0.0) + weight
    total = sum(weights.values())
    return {k: v / total for k, v in weights.items()} if total else {}


def _forename_source(locale: str, sex: int) -> dict[str, float]:
    provider = _provider(locale)
    suffix = "male" if sex == MALE else "female"
    source = _attr(
        provider,
        (f"first_romanized_names_{suffix}", f"first_names_{suffix}", "first_romanized_names", "first_names"),
    )
    return _weighted(source) if source else {}


def _surname_source(locale: str) -> dict[str, float]:
    provider = _provider(locale)
    source = _attr(provider, ("last_romanized_names", "unisex_last_names", "male_last_names", "last_names"))
    return _weighted(source) if source else {}


@dataclass(frozen=True)
class Distribution:
    """A sampling distribution over indices into a vocabulary."""

    index: np.ndarray  # int32 indices into the vocabulary
    cdf: np.ndarray  # float64 cumulative probabilities, last == 1

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if n == 0:
            return np.empty(0, dtype=np.int32)
        pos = np.searchsorted(self.cdf, rng.random(n), side="right")
        return self.index[np.minimum(pos, len(self.index) - 1)]


def _mix(sources: list[tuple[dict[str, float], float]], vocab: dict[str, int]) -> Distribution:
    mass: dict[str, float] = {}
    for weights, share in sources:
        for name, p in weights.items():
            mass[name] = mass.get(name, 0.0) + p * share
    names = sorted(mass, key=lambda n: (-mass[n], n))
    for name in names:
        vocab.setdefault(name, len(vocab))
    probs = np.array([mass[n] for n in names])
    cdf = np.cumsum(probs / probs.sum())
    cdf[-1] = 1.0
    return Distribution(np.array([vocab[n] for n in names], dtype=np.int32), cdf)


@dataclass(frozen=True)
class NamePools:
    forenames: np.ndarray  # object array of str
    surnames: np.ndarray  # object array of str
    forename_dist: dict[tuple[int, int], Distribution]  # (group index, sex) -> distribution
    surname_dist: dict[int, Distribution]  # group index -> distribution
    group_share: np.ndarray  # float64, by group index
    middle_prob: np.ndarray  # float64, by group index
    nickname_options: list[tuple[str, ...]]  # by forename index; empty tuple if none


@lru_cache(maxsize=1)
def pools() -> NamePools:
    forename_vocab: dict[str, int] = {}
    surname_vocab: dict[str, int] = {}
    forename_dist: dict[tuple[int, int], Distribution] = {}
    surname_dist: dict[int, Distribution] = {}
    for g, (group, spec) in enumerate(GROUPS.items()):
        for sex in (MALE, FEMALE):
            sources = [(_forename_source(loc, sex), share) for loc, share in spec["forenames"]]
            forename_dist[(g, sex)] = _mix([s for s in sources if s[0]], forename_vocab)
        sources = [(_surname_source(loc), share) for loc, share in spec["surnames"]]
        surname_dist[g] = _mix([s for s in sources if s[0]], surname_vocab)
    forenames = np.empty(len(forename_vocab), dtype=object)
    for name, i in forename_vocab.items():
        forenames[i] = name
    surnames = np.empty(len(surname_vocab), dtype=object)
    for name, i in surname_vocab.items():
        surnames[i] = name
    nick = [NICKNAMES.get(name, ()) for name in forenames]
    shares = np.array([spec["share"] for spec in GROUPS.values()])
    return NamePools(
        forenames=forenames,
        surnames=surnames,
        forename_dist=forename_dist,
        surname_dist=surname_dist,
        group_share=shares / shares.sum(),
        middle_prob=np.array([spec["middle"] for spec in GROUPS.values()]),
        nickname_options=nick,
    )

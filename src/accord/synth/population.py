"""The synthetic population: people in households at addresses, and their life events.

Generated one block of ``BLOCK`` persons at a time, each block from its own
random stream (seed + block index), so the population does not depend on how
blocks are grouped into chunks. Everything is vectorised with NumPy: no
per-person Python in the hot path except formatting address lines.

The model, in short (all rates modelled, not measured):

* households of nine types (one person, couples, families, lone parents,
  sharers, three generations) with modelled shares, sizes and age ranges;
* ages are set as at the end of the period; children are at least 16 years
  younger than both parents; people born during the period are its births;
* deaths follow a Gompertz-like hazard by age over the period;
* couples are married or not; some marry during the period; on marriage one
  partner (usually the woman of an opposite-sex couple) may take the other's
  surname, so their birth surname becomes a maiden name;
* some households move once during the period, together, to a new address;
  a person who died before the move keeps their address at death;
* latent attributes (employment, disability, low income, household
  disadvantage indicators) drive which bodies hold records about whom.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from accord.synth import geography as geo
from accord.synth.identifiers import derive_keys, nhs_numbers, ninos, permute
from accord.synth.names import FEMALE, MALE, NamePools, pools

BLOCK = 20_000  # persons per block: the unit of randomness (part of the determinism contract)
PERIOD_START = np.datetime64("2021-04-01", "D")
PERIOD_END = np.datetime64("2026-03-31", "D")  # the "as at" date of every body's view
YEAR = 365.25
NAT = np.datetime64("NaT", "D")

# Roles within a household.
HEAD, PARTNER, CHILD, ADULT_CHILD, OTHER, GRANDPARENT = range(6)
ROLE_NAMES = ["head", "partner", "child", "adult_child", "other_adult", "grandparent"]

# name, share, head age range at period end, female head probability, move probability over the
# period, low-income probability, probability a couple is married
HOUSEHOLD_TYPES = [
    ("single", 0.17, (18, 64), 0.48, 0.40, 0.25, 0.0),
    ("single_older", 0.13, (65, 104), 0.62, 0.10, 0.22, 0.0),
    ("couple", 0.15, (20, 64), 0.50, 0.35, 0.08, 0.45),
    ("couple_older", 0.09, (65, 100), 0.50, 0.08, 0.14, 0.85),
    ("couple_children", 0.18, (25, 56), 0.50, 0.25, 0.15, 0.70),
    ("lone_parent", 0.10, (20, 56), 0.88, 0.35, 0.45, 0.0),
    ("shared", 0.06, (18, 40), 0.50, 0.55, 0.20, 0.0),
    ("couple_adult_children", 0.07, (42, 70), 0.50, 0.12, 0.10, 0.78),
    ("multi_generation", 0.05, (27, 56), 0.50, 0.12, 0.25, 0.75),
]
TYPE_NAMES = [t[0] for t in HOUSEHOLD_TYPES]
_T = {name: i for i, name in enumerate(TYPE_NAMES)}

INDICATORS = ["children_in_need", "homelessness_risk", "crime_asb", "domestic_abuse", "school_absence",
              "health_problem"]

BANDS = np.array(list("ABCDEFGH"), dtype=object)
BAND_WEIGHTS = np.array([0.24, 0.19, 0.22, 0.16, 0.10, 0.05, 0.03, 0.01])


def block_rng(seed: int, block: int, stream: int) -> np.random.Generator:
    """The random stream for one purpose (population, or one body) in one block."""
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block, stream))))


def _choice(rng: np.random.Generator, p: np.ndarray | list[float], n: int) -> np.ndarray:
    cdf = np.cumsum(np.asarray(p, dtype=float))
    cdf /= cdf[-1]
    return np.minimum(np.searchsorted(cdf, rng.random(n), side="right"), len(cdf) - 1)


def _uniform_dates(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """A date in [lo, hi] for each pair (datetime64[D] arrays, hi >= lo)."""
    span = (hi - lo).astype(np.int64) + 1
    return lo + (rng.random(len(lo)) * span).astype(np.int64)


def years_to_days(years: np.ndarray) -> np.ndarray:
    return (np.asarray(years) * YEAR).astype(np.int64)


@dataclass(frozen=True)
class World:
    """What every block shares, derived from the seed alone."""

    seed: int
    names: NamePools
    sectors: dict[str, np.ndarray]  # council -> sector strings in seed-permuted order
    employer_names: np.ndarray
    employer_refs: np.ndarray
    employer_cdf: np.ndarray

    @staticmethod
    def create(seed: int) -> World:
        rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(0x5EC,))))
        sectors = {}
        for council in geo.COUNCIL_IDS:
            all_sectors = np.array(geo.council_sectors(council), dtype=object)
            sectors[council] = all_sectors[rng.permutation(len(all_sectors))]
        names = pools()
        n_emp = 20_000
        roots = names.surnames[names.surname_dist[0].sample(rng, n_emp)]
        kinds = np.array(["Ltd", "Limited", "plc", "& Sons Ltd", "Group Ltd", "Services Ltd", "Holdings plc",
                          "Trading Ltd", "Care Ltd", "Construction Ltd", "Logistics Ltd", "Retail Ltd",
                          "Engineering Ltd", "NHS Trust", "Borough Council", "Academy Trust"], dtype=object)
        kind = kinds[_choice(rng, [14, 6, 2, 4, 3, 5, 1, 3, 3, 3, 2, 3, 2, 1, 1, 1], n_emp)]
        towns = np.array(sorted(set(geo.AREAS.values())), dtype=object)
        use_town = rng.random(n_emp) < 0.25
        root = np.where(use_town, towns[rng.integers(0, len(towns), n_emp)], roots)
        emp_names = np.array([f"{r} {k}" for r, k in zip(root, kind)], dtype=object)
        office = rng.integers(100, 999, n_emp)
        letters = rng.integers(0, 26, (n_emp, 2))
        serial = rng.integers(0, 99999, n_emp)
        refs = np.array(
            [f"{o}/{chr(65 + a)}{chr(65 + b)}{s:05d}" for o, (a, b), s in zip(office, letters, serial)], dtype=object
        )
        weights = 1.0 / (np.arange(n_emp) + 5.0) ** 1.1  # a few very large employers, many small ones
        cdf = np.cumsum(weights / weights.sum())
        cdf[-1] = 1.0
        return World(seed, names, sectors, emp_names, refs, cdf)


@dataclass
class Block:
    """One block of the population. Arrays are indexed by local person, household or address."""

    world: World
    index: int
    first_person: int
    # households
    hh_type: np.ndarray
    hh_size: np.ndarray
    hh_start: np.ndarray  # index of first member
    hh_group: np.ndarray
    hh_addr0: np.ndarray
    hh_addr1: np.ndarray  # -1 if the household did not move
    hh_move: np.ndarray  # datetime64[D] or NaT
    hh_low_income: np.ndarray
    hh_married: np.ndarray
    hh_marriage: np.ndarray  # datetime64[D] or NaT
    hh_marriage_in_period: np.ndarray
    hh_flags: dict[str, np.ndarray]
    # persons
    hh: np.ndarray
    role: np.ndarray
    sex: np.ndarray
    group: np.ndarray
    dob: np.ndarray
    dod: np.ndarray
    first: np.ndarray  # forename index
    middle: np.ndarray  # forename index or -1
    surname: np.ndarray  # surname index (current)
    birth_surname: np.ndarray
    surname_changed: np.ndarray  # datetime64[D] of the change, NaT if none (pre-period changes dated too)
    spouse: np.ndarray  # local index or -1
    mother: np.ndarray
    father: np.ndarray
    nino: np.ndarray  # object: str or None
    nhs: np.ndarray  # object: str or None
    employed: np.ndarray
    disabled: np.ndarray
    pay: np.ndarray
    employer: np.ndarray  # employer index or -1
    second_employer: np.ndarray
    addr_now: np.ndarray
    addr_prev: np.ndarray  # -1 unless the person moved
    # addresses
    addr_uprn: np.ndarray
    addr_line1: np.ndarray
    addr_postcode: np.ndarray
    addr_town: np.ndarray
    addr_council: np.ndarray  # index into geo.COUNCIL_IDS
    addr_band: np.ndarray
    extra: dict = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.hh)

    @cached_property
    def person_id(self) -> np.ndarray:
        return np.arange(self.first_person, self.first_person + self.n, dtype=np.int64)

    @cached_property
    def household_id(self) -> np.ndarray:
        """Global household ids, by local household index."""
        return np.int64(self.index) * np.int64(BLOCK) + np.arange(len(self.hh_type), dtype=np.int64)

    def alive_at(self, when: np.datetime64 | np.ndarray) -> np.ndarray:
        return np.isnat(self.dod) | (self.dod > when)

    def age_at(self, when: np.datetime64 | np.ndarray) -> np.ndarray:
        return ((when - self.dob).astype(np.int64) / YEAR).astype(np.int64)

    @cached_property
    def died(self) -> np.ndarray:
        return ~np.isnat(self.dod)

    @cached_property
    def names(self) -> NamePools:
        return self.world.names

    def first_names(self, idx: np.ndarray) -> np.ndarray:
        return self.names.forenames[self.first[idx]]

    def middle_names(self, idx: np.ndarray) -> np.ndarray:
        m = self.middle[idx]
        out = self.names.forenames[np.maximum(m, 0)].copy()
        out[m < 0] = None
        return out

    def surnames(self, idx: np.ndarray, birth: bool = False) -> np.ndarray:
        return self.names.surnames[(self.birth_surname if birth else self.surname)[idx]]

    def address_at(self, idx: np.ndarray, when: np.ndarray) -> np.ndarray:
        """Address of each person on a date (the household's, before or after its move)."""
        h = self.hh[idx]
        moved = (self.hh_addr1[h] >= 0) & (self.hh_move[h] <= when)
        return np.where(moved, self.hh_addr1[h], self.hh_addr0[h])


def generate_block(world: World, block: int, n: int) -> Block:
    rng = block_rng(world.seed, block, 0)
    names = world.names

    # ------------------------------------------------------------ households and their members
    est = int(n / 2.2) + 64
    htype = _choice(rng, [t[1] for t in HOUSEHOLD_TYPES], est)
    n_partner = np.isin(htype, [_T["couple"], _T["couple_older"], _T["couple_children"],
                                _T["couple_adult_children"], _T["multi_generation"]]).astype(np.int64)
    n_child = np.zeros(est, dtype=np.int64)
    for t, counts, p in (
        ("couple_children", [1, 2, 3, 4], [0.45, 0.40, 0.12, 0.03]),
        ("lone_parent", [1, 2, 3], [0.55, 0.33, 0.12]),
        ("multi_generation", [0, 1, 2, 3], [0.2, 0.4, 0.3, 0.1]),
    ):
        sel = htype == _T[t]
        n_child[sel] = np.array(counts)[_choice(rng, p, int(sel.sum()))]
    n_adult_child = np.where(htype == _T["couple_adult_children"], 1 + (rng.random(est) < 0.3), 0)
    n_other = np.where(htype == _T["shared"], np.array([1, 2, 3])[_choice(rng, [0.5, 0.35, 0.15], est)], 0)
    n_gp = (htype == _T["multi_generation"]).astype(np.int64)
    size = 1 + n_partner + n_child + n_adult_child + n_other + n_gp
    while size.sum() < n:  # not expected with the estimate above, but never fall short
        htype = np.concatenate([htype, htype]); n_partner = np.concatenate([n_partner, n_partner])  # noqa: E702
        n_child = np.concatenate([n_child, n_child]); n_adult_child = np.concatenate([n_adult_child, n_adult_child])  # noqa: E702,E501
        n_other = np.concatenate([n_other, n_other]); n_gp = np.concatenate([n_gp, n_gp])  # noqa: E702
        size = 1 + n_partner + n_child + n_adult_child + n_other + n_gp
    cum = np.cumsum(size)
    H = int(np.searchsorted(cum, n) + 1)
    htype, n_partner, n_child, n_adult_child, n_other, n_gp, size = (
        a[:H].copy() for a in (htype, n_partner, n_child, n_adult_child, n_other, n_gp, size)
    )
    size[-1] -= int(cum[H - 1] - n)  # the last household is cut to fit the block exactly
    start = np.concatenate([[0], np.cumsum(size)[:-1]])
    hh = np.repeat(np.arange(H), size)
    pos = np.arange(n) - start[hh]
    t1 = 1 + n_partner
    t2 = t1 + n_child
    t3 = t2 + n_adult_child
    t4 = t3 + n_other
    role = np.select(
        [pos == 0, pos < t1[hh], pos < t2[hh], pos < t3[hh], pos < t4[hh]],
        [HEAD, PARTNER, CHILD, ADULT_CHILD, OTHER],
        GRANDPARENT,
    ).astype(np.int8)
    has_partner = np.zeros(H, dtype=bool)
    has_partner[hh[role == PARTNER]] = True

    # ------------------------------------------------------------ ages (in days, at period end)
    lo = np.array([t[2][0] for t in HOUSEHOLD_TYPES])[htype]
    hi = np.array([t[2][1] for t in HOUSEHOLD_TYPES])[htype]
    head_years = lo + rng.random(H) * (hi - lo)
    older = np.isin(htype, [_T["single_older"], _T["couple_older"]])
    head_years = np.where(older, np.minimum(hi, lo + rng.exponential(11.0, H)), head_years)
    partner_years = head_years + rng.normal(0, 3.0, H)
    partner_years = np.where(htype == _T["couple_children"], np.clip(partner_years, 22, 60), partner_years)
    partner_years = np.where(htype == _T["couple_adult_children"], np.maximum(partner_years, 40), partner_years)
    partner_years = np.where(older, np.maximum(partner_years, 60), partner_years)
    partner_years = np.clip(partner_years, 18, 104)
    head_days = years_to_days(head_years) + rng.integers(0, 365, H)
    partner_days = np.where(has_partner, years_to_days(partner_years) + rng.integers(0, 365, H), head_days)
    gap = int(16 * YEAR) + 60  # children are at least 16 years (and two months) younger than their parents

    age = np.empty(n, dtype=np.int64)
    r = rng.random(n)
    # children's ages are spread evenly over 0-17; parents too young for their eldest are made older
    sel = role == CHILD
    age[sel] = (r[sel] * int(18 * YEAR)).astype(np.int64)
    eldest = np.zeros(H, dtype=np.int64)
    np.maximum.at(eldest, hh[sel], age[sel])
    has_kids = np.zeros(H, dtype=bool)
    has_kids[hh[sel]] = True
    need = np.where(has_kids, eldest + gap, 0)
    head_days = np.where(head_days < need, need + rng.integers(0, int(6 * YEAR), H), head_days)
    partner_days = np.where(partner_days < need, need + rng.integers(0, int(6 * YEAR), H), partner_days)
    parent_min = np.minimum(head_days, partner_days)
    age[role == HEAD] = head_days
    sel = role == PARTNER
    age[sel] = partner_days[hh[sel]]
    sel = role == ADULT_CHILD
    top = np.minimum(int(31 * YEAR), parent_min[hh[sel]] - gap)
    age[sel] = int(18 * YEAR) + (r[sel] * np.maximum(0, top - int(18 * YEAR))).astype(np.int64)
    sel = role == OTHER
    age[sel] = years_to_days(18 + r[sel] * 22) + rng.integers(0, 365, int(sel.sum()))
    sel = role == GRANDPARENT
    age[sel] = np.minimum(years_to_days(104), head_days[hh[sel]] + years_to_days(18 + r[sel] * 22))
    dob = PERIOD_END - age

    # ------------------------------------------------------------ sex and heritage group
    female_p = np.array([t[3] for t in HOUSEHOLD_TYPES])[htype]
    head_female = rng.random(H) < female_p
    same_sex = rng.random(H) < 0.03
    sex = np.where(rng.random(n) < 0.5, FEMALE, MALE).astype(np.int8)
    sex[role == HEAD] = np.where(head_female, FEMALE, MALE)
    sel = role == PARTNER
    partner_female = np.where(same_sex[hh[sel]], head_female[hh[sel]], ~head_female[hh[sel]])
    sex[sel] = np.where(partner_female, FEMALE, MALE)

    hh_group = _choice(rng, names.group_share, H).astype(np.int8)
    group = hh_group[hh].copy()
    random_group = _choice(rng, names.group_share, n).astype(np.int8)
    mixed = ((role == PARTNER) & (rng.random(n) < 0.12)) | (role == OTHER)
    group[mixed] = random_group[mixed]
    partner_of_hh = np.full(H, -1)
    partner_of_hh[hh[role == PARTNER]] = np.flatnonzero(role == PARTNER)
    head_of_hh = start
    # children's forenames follow either parent's group
    kid = (role == CHILD) | (role == ADULT_CHILD)
    from_partner = kid & (partner_of_hh[hh] >= 0) & (rng.random(n) < 0.5)
    group[from_partner] = group[partner_of_hh[hh[from_partner]]]

    # ------------------------------------------------------------ deaths
    age_start_years = np.maximum(0, (PERIOD_START - dob).astype(np.int64) / YEAR)
    q = np.minimum(0.6, np.exp(-9.95 + 0.094 * age_start_years))
    exposed = np.maximum(dob, PERIOD_START)
    years_exposed = (PERIOD_END - exposed).astype(np.int64) / YEAR
    dies = rng.random(n) < 1 - (1 - q) ** years_exposed
    dod = np.full(n, NAT)
    dod[dies] = _uniform_dates(rng, exposed[dies], np.full(int(dies.sum()), PERIOD_END))

    # parents: mother and father among head and partner
    head_sex = sex[head_of_hh]
    partner_sex = np.where(partner_of_hh >= 0, sex[np.maximum(partner_of_hh, 0)], 0)
    mother_hh = np.where(head_sex == FEMALE, head_of_hh, np.where(partner_sex == FEMALE, partner_of_hh, -1))
    father_hh = np.where(head_sex == MALE, head_of_hh, np.where(partner_sex == MALE, partner_of_hh, -1))
    mother = np.where(kid, mother_hh[hh], -1)
    father = np.where(kid, father_hh[hh], -1)
    # a mother is alive when her child is born
    m_idx = np.flatnonzero(mother >= 0)
    bad = ~np.isnat(dod[mother[m_idx]]) & (dod[mother[m_idx]] <= dob[m_idx])
    dod[mother[m_idx[bad]]] = NAT
    dies = ~np.isnat(dod)

    # ------------------------------------------------------------ names
    first = np.empty(n, dtype=np.int32)
    middle = np.full(n, -1, dtype=np.int32)
    birth_surname = np.empty(n, dtype=np.int32)
    wants_middle = rng.random(n) < names.middle_prob[group]
    for g in range(len(names.group_share)):
        for s in (MALE, FEMALE):
            sel = np.flatnonzero((group == g) & (sex == s))
            dist = names.forename_dist[(g, s)]
            first[sel] = dist.sample(rng, len(sel))
            mid = sel[wants_middle[sel]]
            middle[mid] = dist.sample(rng, len(mid))
        sel = np.flatnonzero(group == g)
        birth_surname[sel] = names.surname_dist[g].sample(rng, len(sel))
    middle[middle == first] = -1

    # marriages (couples only) and surname changes
    married_p = np.array([t[6] for t in HOUSEHOLD_TYPES])[htype]
    married = has_partner & (rng.random(H) < married_p)
    hp = np.maximum(partner_of_hh, 0)
    eighteen = np.maximum(dob[head_of_hh], dob[hp]) + years_to_days(18)
    in_period_p = np.where(np.isin(htype, [_T["couple"], _T["couple_children"]]), 0.12, 0.03)
    want_in_period = married & ((rng.random(H) < in_period_p) | (eighteen >= PERIOD_START))
    latest = np.minimum(PERIOD_END, np.minimum(
        np.where(np.isnat(dod[head_of_hh]), PERIOD_END, dod[head_of_hh] - 1),
        np.where(np.isnat(dod[hp]), PERIOD_END, dod[hp] - 1),
    ))
    earliest_in = np.maximum(PERIOD_START, eighteen)
    possible_in = latest > earliest_in + 30
    in_period = want_in_period & possible_in
    pre_period = married & ~in_period & (eighteen < PERIOD_START)
    married = in_period | pre_period
    marriage = np.full(H, NAT)
    marriage[in_period] = _uniform_dates(rng, earliest_in[in_period], latest[in_period])
    marriage[pre_period] = _uniform_dates(rng, eighteen[pre_period], np.full(int(pre_period.sum()), PERIOD_START - 1))
    # who takes whose surname
    opposite = married & (head_sex != partner_sex)
    takes = np.where(opposite, rng.random(H) < 0.85, married & (rng.random(H) < 0.2))
    taker = np.where(opposite, np.where(head_sex == FEMALE, head_of_hh, hp), hp)
    giver = np.where(opposite, np.where(head_sex == FEMALE, hp, head_of_hh), head_of_hh)
    surname = birth_surname.copy()
    surname_changed = np.full(n, NAT)
    th = np.flatnonzero(takes)
    surname[taker[th]] = birth_surname[giver[th]]
    surname_changed[taker[th]] = marriage[th]
    spouse = np.full(n, -1)
    mh = np.flatnonzero(married)
    spouse[head_of_hh[mh]] = hp[mh]
    spouse[hp[mh]] = head_of_hh[mh]
    # children's surnames
    fam_father = father_hh >= 0
    fam_mother = mother_hh >= 0
    use_father = fam_father & (takes | (rng.random(H) < 0.7) | ~fam_mother)
    family = np.where(use_father, birth_surname[np.maximum(father_hh, 0)], surname[np.maximum(mother_hh, 0)])
    family = np.where(takes, surname[np.maximum(taker, 0)], family)
    lone = htype == _T["lone_parent"]
    absent_father = lone & (rng.random(H) < 0.2)
    family = np.where(absent_father, names.surname_dist[0].sample(rng, H), family)
    g_sur = np.flatnonzero(absent_father & (hh_group != 0))
    for g in np.unique(hh_group[g_sur]):
        sel = g_sur[hh_group[g_sur] == g]
        family[sel] = names.surname_dist[int(g)].sample(rng, len(sel))
    surname[kid] = family[hh[kid]]
    birth_surname[kid] = surname[kid]
    gp = role == GRANDPARENT
    surname[gp] = birth_surname[head_of_hh[hh[gp]]]
    birth_surname[gp] = surname[gp]

    # ------------------------------------------------------------ moves
    move_p = np.array([t[4] for t in HOUSEHOLD_TYPES])[htype]
    moves = rng.random(H) < move_p
    move_date = np.full(H, NAT)
    move_date[moves] = _uniform_dates(rng, np.full(int(moves.sum()), PERIOD_START), np.full(int(moves.sum()), PERIOD_END))
    # a household whose members were all dead by the move date does not move
    alive_at_move = ~dies | (dod > move_date[hh])
    any_alive = np.zeros(H, dtype=bool)
    np.logical_or.at(any_alive, hh, alive_at_move & moves[hh])
    moves &= any_alive
    move_date[~moves] = NAT

    # ------------------------------------------------------------ addresses
    council_p = np.array([c["share"] for c in geo.COUNCILS.values()])
    council0 = _choice(rng, council_p, H)
    stay = rng.random(H) < 0.7
    council1 = np.where(stay, council0, _choice(rng, council_p, H))
    addr_council = np.concatenate([council0, council1[moves]])
    A = len(addr_council)
    hh_addr0 = np.arange(H)
    hh_addr1 = np.full(H, -1)
    hh_addr1[moves] = H + np.arange(int(moves.sum()))
    addr_line1 = np.empty(A, dtype=object)
    addr_postcode = np.empty(A, dtype=object)
    addr_town = np.empty(A, dtype=object)
    order = rng.permutation(A)  # addresses of the same council are laid out in random order
    sectors_per_council = 2
    for c, council in enumerate(geo.COUNCIL_IDS):
        members = order[addr_council[order] == c]
        if not len(members):
            continue
        pool = world.sectors[council]
        which = rng.integers(0, sectors_per_council, len(members))
        for j in range(sectors_per_council):
            group_members = members[which == j]
            m = len(group_members)
            if not m:
                continue
            sector = pool[(block * sectors_per_council + j) % len(pool)]
            _lay_out_streets(rng, sector, group_members, addr_line1, addr_postcode, addr_town)
    uprn_keys = derive_keys(world.seed, 1)
    addr_uprn = (permute(np.uint64(block) * np.uint64(1 << 16) + np.arange(A, dtype=np.uint64), uprn_keys, 1 << 36)
                 + np.uint64(10_000_000_000)).astype(np.int64)
    addr_band = BANDS[_choice(rng, BAND_WEIGHTS, A)]

    moved_with = moves[hh] & (dob < move_date[hh]) & (~dies | (dod > move_date[hh]))
    born_after = moves[hh] & (dob >= move_date[hh])
    addr_now = np.where(moved_with | born_after, hh_addr1[hh], hh_addr0[hh])
    addr_prev = np.where(moved_with, hh_addr0[hh], -1)

    # ------------------------------------------------------------ identifiers
    index = np.arange(n, dtype=np.uint64) + np.uint64(block) * np.uint64(BLOCK)
    age_end = (np.where(dies, dod, PERIOD_END) - dob).astype(np.int64) / YEAR
    has_nino = (age_end >= 16) & (rng.random(n) < 0.97)
    nino = np.full(n, None, dtype=object)
    sel = np.flatnonzero(has_nino)
    nino[sel] = ninos(index[sel], derive_keys(world.seed, 2), rng.integers(0, 4, len(sel)))
    nhs = np.full(n, None, dtype=object)
    sel = np.flatnonzero(rng.random(n) < 0.99)
    nhs[sel] = nhs_numbers(index[sel], derive_keys(world.seed, 3))

    # ------------------------------------------------------------ latent attributes
    low_p = np.array([t[5] for t in HOUSEHOLD_TYPES])[htype]
    low_income = rng.random(H) < low_p
    age_now = (PERIOD_END - dob).astype(np.int64) / YEAR
    disabled = rng.random(n) < np.select([age_now < 16, age_now < 66, age_now < 80], [0.03, 0.08, 0.20], 0.40)
    work_age = (age_now >= 16) & (age_now < 66)
    emp_p = np.where(low_income[hh], 0.45, 0.80) * np.where(disabled, 0.5, 1.0)
    emp_p = np.where(age_now < 19, 0.25, emp_p)
    employed = (work_age & (rng.random(n) < emp_p)) | ((age_now >= 66) & (age_now < 75) & (rng.random(n) < 0.1))
    pay = np.where(employed, np.round(np.exp(rng.normal(10.2, 0.55, n)) * np.where(low_income[hh], 0.6, 1.0), 2), 0.0)
    employer = np.where(employed, np.searchsorted(world.employer_cdf, rng.random(n)), -1)
    second = np.where(employed & (rng.random(n) < 0.06), np.searchsorted(world.employer_cdf, rng.random(n)), -1)

    # household disadvantage indicators (the multiple-disadvantage objective), clustered by household
    with_children = (n_child > 0) | (htype == _T["lone_parent"])
    risk = np.clip(0.02 + 0.25 * low_income + 0.10 * lone + rng.beta(1.0, 12.0, H), 0, 1)
    flags = {
        "children_in_need": with_children & (rng.random(H) < risk * 0.5),
        "homelessness_risk": rng.random(H) < risk * 0.2,
        "crime_asb": rng.random(H) < risk * 0.35,
        "domestic_abuse": (has_partner | lone) & (rng.random(H) < risk * 0.25),
        "school_absence": with_children & (rng.random(H) < risk * 0.6),
        "health_problem": rng.random(H) < risk * 0.5,
    }

    return Block(
        world=world, index=block, first_person=block * BLOCK,
        hh_type=htype.astype(np.int8), hh_size=size, hh_start=start, hh_group=hh_group, hh_addr0=hh_addr0,
        hh_addr1=hh_addr1, hh_move=move_date, hh_low_income=low_income, hh_married=married,
        hh_marriage=marriage, hh_marriage_in_period=in_period, hh_flags=flags,
        hh=hh, role=role, sex=sex, group=group, dob=dob, dod=dod, first=first, middle=middle, surname=surname,
        birth_surname=birth_surname, surname_changed=surname_changed, spouse=spouse, mother=mother, father=father,
        nino=nino, nhs=nhs, employed=employed, disabled=disabled, pay=pay, employer=employer,
        second_employer=second, addr_now=addr_now, addr_prev=addr_prev,
        addr_uprn=addr_uprn, addr_line1=addr_line1, addr_postcode=addr_postcode, addr_town=addr_town,
        addr_council=addr_council.astype(np.int8), addr_band=addr_band,
    )


def _lay_out_streets(rng: np.random.Generator, sector: str, members: np.ndarray, line1: np.ndarray,
                     postcode: np.ndarray, town: np.ndarray) -> None:
    """Give addresses in one postcode sector their streets, house numbers and postcode units."""
    m = len(members)
    unit_sizes = rng.integers(6, 30, m // 6 + 2)
    unit_of = np.searchsorted(np.cumsum(unit_sizes), np.arange(m), side="right")
    n_units = int(unit_of[-1]) + 1
    letters = geo.UNIT_LETTERS
    codes = rng.permutation(len(letters) ** 2)[np.arange(n_units) % (len(letters) ** 2)]
    unit_codes = [f"{sector}{letters[c // len(letters)]}{letters[c % len(letters)]}" for c in codes]
    units_per_street = rng.integers(1, 7, n_units + 1)
    street_of_unit = np.searchsorted(np.cumsum(units_per_street), np.arange(n_units), side="right")
    n_streets = int(street_of_unit[-1]) + 1
    roots = np.array(geo.STREET_ROOTS, dtype=object)[rng.integers(0, len(geo.STREET_ROOTS), n_streets)]
    suffixes = np.array(geo.STREET_SUFFIXES, dtype=object)[_choice(rng, geo.STREET_SUFFIX_WEIGHTS, n_streets)]
    flats = rng.random(n_streets) < 0.12
    street_of = street_of_unit[unit_of]
    first_in_street = np.searchsorted(street_of, np.arange(n_streets))
    position = np.arange(m) - first_in_street[street_of]
    area = sector[:2].rstrip("0123456789")
    post_town = geo.AREAS[area]
    street_names = [f"{r} {s}" for r, s in zip(roots, suffixes)]
    out = []
    for st, p in zip(street_of.tolist(), position.tolist()):
        if flats[st]:
            out.append(f"Flat {p % 6 + 1}, {p // 6 + 1} {street_names[st]}")
        else:
            out.append(f"{p + 1} {street_names[st]}")
    line1[members] = out
    postcode[members] = np.array(unit_codes, dtype=object)[unit_of]
    town[members] = post_town


# =========================================================================== the population as tables

def population_tables(b: Block) -> dict[str, "pa.Table"]:  # noqa: UP037
    """The population itself (ground truth: never to be shared), as Arrow tables."""
    import pyarrow as pa

    ids = b.person_id
    hid = b.household_id
    uprn = b.addr_uprn
    councils = np.array(geo.COUNCIL_IDS, dtype=object)

    def opt_id(local: np.ndarray) -> pa.Array:
        return pa.array(np.where(local >= 0, b.first_person + local, 0), type=pa.int64(), mask=local < 0)

    def opt_uprn(addr: np.ndarray) -> pa.Array:
        return pa.array(np.where(addr >= 0, uprn[np.maximum(addr, 0)], 0), type=pa.int64(), mask=addr < 0)

    def dates(values: np.ndarray) -> pa.Array:
        return pa.array(values, type=pa.date32(), from_pandas=True)

    everyone = np.arange(b.n)
    persons = pa.table({
        "person_id": pa.array(ids, type=pa.int64()),
        "household_id": pa.array(hid[b.hh], type=pa.int64()),
        "role": pa.array(np.array(ROLE_NAMES, dtype=object)[b.role], type=pa.string()),
        "first_name": pa.array(b.first_names(everyone), type=pa.string()),
        "middle_name": pa.array(b.middle_names(everyone), type=pa.string()),
        "surname": pa.array(b.surnames(everyone), type=pa.string()),
        "birth_surname": pa.array(b.surnames(everyone, birth=True), type=pa.string()),
        "surname_changed": dates(b.surname_changed),
        "sex": pa.array(np.where(b.sex == FEMALE, "F", "M").astype(object), type=pa.string()),
        "date_of_birth": dates(b.dob),
        "date_of_death": dates(b.dod),
        "nino": pa.array(b.nino, type=pa.string()),
        "nhs_number": pa.array(b.nhs, type=pa.string()),
        "heritage_group": pa.array(np.array(list(pools_group_names()), dtype=object)[b.group], type=pa.string()),
        "employed": pa.array(b.employed, type=pa.bool_()),
        "disabled": pa.array(b.disabled, type=pa.bool_()),
        "annual_pay": pa.array(b.pay, type=pa.float64()),
        "uprn": pa.array(uprn[b.addr_now], type=pa.int64()),
        "previous_uprn": opt_uprn(b.addr_prev),
        "spouse_id": opt_id(b.spouse),
        "mother_id": opt_id(b.mother),
        "father_id": opt_id(b.father),
    })
    now = np.where(b.hh_addr1 >= 0, b.hh_addr1, b.hh_addr0)
    households = pa.table({
        "household_id": pa.array(hid, type=pa.int64()),
        "household_type": pa.array(np.array(TYPE_NAMES, dtype=object)[b.hh_type], type=pa.string()),
        "size": pa.array(b.hh_size, type=pa.int16()),
        "uprn_at_start": pa.array(uprn[b.hh_addr0], type=pa.int64()),
        "uprn": pa.array(uprn[now], type=pa.int64()),
        "move_date": dates(b.hh_move),
        "council_id": pa.array(councils[b.addr_council[now]], type=pa.string()),
        "low_income": pa.array(b.hh_low_income, type=pa.bool_()),
        "married_couple": pa.array(b.hh_married, type=pa.bool_()),
        "marriage_date": dates(b.hh_marriage),
        **{name: pa.array(flag, type=pa.bool_()) for name, flag in b.hh_flags.items()},
    })
    addresses = pa.table({
        "uprn": pa.array(uprn, type=pa.int64()),
        "address_line_1": pa.array(b.addr_line1, type=pa.string()),
        "town": pa.array(b.addr_town, type=pa.string()),
        "postcode": pa.array(b.addr_postcode, type=pa.string()),
        "council_id": pa.array(councils[b.addr_council], type=pa.string()),
        "council_tax_band": pa.array(b.addr_band, type=pa.string()),
    })
    # events
    born = np.flatnonzero(b.dob >= PERIOD_START)
    died = np.flatnonzero(b.died)
    wed_hh = np.flatnonzero(b.hh_marriage_in_period)
    wed_head = b.hh_start[wed_hh]
    wed = np.concatenate([wed_head, b.spouse[wed_head]])
    wed_date = np.concatenate([b.hh_marriage[wed_hh], b.hh_marriage[wed_hh]])
    renamed = np.flatnonzero(~np.isnat(b.surname_changed) & (b.surname_changed >= PERIOD_START))
    moved = np.flatnonzero(b.addr_prev >= 0)
    kinds = (["birth"] * len(born) + ["death"] * len(died) + ["marriage"] * len(wed)
             + ["surname_change"] * len(renamed) + ["move"] * len(moved))
    person = np.concatenate([born, died, wed, renamed, moved])
    related = np.concatenate([b.mother[born], np.full(len(died), -1), b.spouse[wed], b.spouse[renamed],
                              np.full(len(moved), -1)])
    when = np.concatenate([b.dob[born], b.dod[died], wed_date, b.surname_changed[renamed], b.hh_move[b.hh[moved]]])
    at_birth = b.address_at(born, b.dob[born])
    from_addr = np.concatenate([np.full(len(born), -1), b.addr_now[died], np.full(len(wed) + len(renamed), -1),
                                b.addr_prev[moved]])
    to_addr = np.concatenate([at_birth, np.full(len(died) + len(wed) + len(renamed), -1), b.addr_now[moved]])
    events = pa.table({
        "event_type": pa.array(np.array(kinds, dtype=object), type=pa.string()),
        "event_date": dates(when),
        "person_id": pa.array(ids[person], type=pa.int64()),
        "related_person_id": opt_id(related),
        "household_id": pa.array(hid[b.hh[person]], type=pa.int64()),
        "from_uprn": opt_uprn(from_addr),
        "to_uprn": opt_uprn(to_addr),
    })
    return {"persons": persons, "households": households, "addresses": addresses, "events": events}


def pools_group_names() -> list[str]:
    from accord.synth.names import GROUP_NAMES

    return GROUP_NAMES

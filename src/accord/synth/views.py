"""Each body's view of a block of the population, with noise, and the truth about every record.

A view holds only what that body really holds: DWP has NINOs and benefits,
energy suppliers have no NINO or date of birth, the electoral register has no
date of birth, and so on. Every record gets a ``record_id`` that is a keyed
permutation of its position (so it says nothing about the person), and its
truth row maps it to the person id, together with the noise it received.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from accord.synth import geography as geo
from accord.synth.identifiers import NINO_DOMAIN, derive_keys, driver_numbers, hexdigits, ninos, permute, to_strings
from accord.synth.names import FEMALE
from accord.synth.noise import BodyNoise, postcode_variant, swap_day_month, typo
from accord.synth.population import (
    BLOCK, NAT, PERIOD_END, PERIOD_START, YEAR, Block, _choice, _uniform_dates, block_rng, years_to_days,
)

STR = pa.string()
DATE = pa.date32()
BOOL = pa.bool_()
MONEY = pa.decimal128(12, 2)

FLAGS = ["duplicate", "nickname", "typo_first_name", "typo_surname", "typo_nino", "maiden_name", "date_swap",
         "stale_address", "postcode_format", "deceased", "false_discount", "fictitious"]
TRUTH_SCHEMA = pa.schema(
    [("record_id", STR), ("person_id", pa.int64()), ("household_id", pa.int64())]
    + [(f, BOOL) for f in FLAGS]
    + [("missing_fields", STR)]
)


@dataclass(frozen=True)
class Dataset:
    """One dataset a body holds. ``name`` may hold {partition} (a council or supplier id)."""

    name: str
    body: str
    build: str  # the builder that produces it (several datasets may share one)
    partition: str | None = None  # column whose values split the dataset into files
    description: str = ""

    def files(self) -> list[str]:
        if self.partition == "council_id":
            return [self.name.format(partition=c) for c in geo.COUNCIL_IDS]
        if self.partition == "supplier_id":
            return [self.name.format(partition=s.rsplit("-", 1)[0]) for s in geo.SUPPLIER_IDS]
        return [self.name]

    def file_for(self, value: str) -> str:
        if self.partition == "supplier_id":
            value = value.rsplit("-", 1)[0]
        return self.name.format(partition=value)

    def partition_values(self) -> list[str]:
        return list(geo.COUNCIL_IDS) if self.partition == "council_id" else list(geo.SUPPLIER_IDS)


DATASETS = [
    Dataset("dwp-benefits", "dwp", "dwp", description="DWP benefit awards in payment (State Pension, Pension Credit, Universal Credit, PIP, Attendance Allowance)"),
    Dataset("hmrc-paye", "hmrc", "hmrc", description="PAYE employments in the last tax year of the period"),
    Dataset("gro-births", "gro", "gro", description="Birth registrations in the period"),
    Dataset("gro-deaths", "gro", "gro", description="Death registrations in the period"),
    Dataset("gro-marriages", "gro", "gro", description="Marriage registrations in the period, one row per party"),
    Dataset("{partition}-tax", "council-tax", "council-tax", "council_id", "Council tax accounts"),
    Dataset("{partition}-electoral-register", "electoral", "electoral", "council_id", "Electoral register"),
    Dataset("{partition}-registration-applications", "electoral", "electoral", "council_id",
            "Applications to register to vote, including some for people who do not exist"),
    Dataset("{partition}-customers", "energy", "energy", "supplier_id", "Domestic energy customers"),
    Dataset("dvla-drivers", "dvla", "dvla", description="Driving licence holders"),
    Dataset("{partition}-early-help", "early-help", "early-help", "council_id",
            "Council early-help cases: children in need, risk of homelessness (household level)"),
    Dataset("schools-pupils", "schools", "schools", description="Pupils of school age with attendance and exclusion indicators"),
    Dataset("police-incidents", "police", "police", description="Crime, anti-social behaviour and domestic abuse incidents"),
    Dataset("health-indicators", "health", "health", description="Mental health and substance misuse indicators"),
    Dataset("hmrc-debts", "debts", "debts", description="Debts owed to HMRC"),
    Dataset("dwp-debts", "debts", "debts", description="Debts owed to DWP (benefit overpayments, loans)"),
    Dataset("{partition}-debts", "debts", "debts", "council_id", "Debts owed to councils"),
]
DATASET_BY_NAME = {d.name: d for d in DATASETS}
BODY_CODES = {body: i + 1 for i, body in enumerate(dict.fromkeys(d.body for d in DATASETS))}
DATASET_CODES = {d.name: i + 1 for i, d in enumerate(DATASETS)}


# =========================================================================== records with noise


class Records:
    """Rows about people in one body's view: duplicates, shuffling, noisy identity fields and truth flags."""

    def __init__(self, b: Block, noise: BodyNoise, rng: np.random.Generator, idx: np.ndarray,
                 deceased: np.ndarray | None = None, **extra: np.ndarray) -> None:
        self.b, self.nz, self.rng = b, noise, rng
        n = len(idx)
        dup = np.flatnonzero(rng.random(n) < noise.duplicate)
        order = np.concatenate([np.arange(n), dup])
        is_dup = np.concatenate([np.zeros(n, dtype=bool), np.ones(len(dup), dtype=bool)])
        perm = rng.permutation(len(order))
        order, is_dup = order[perm], is_dup[perm]
        self.idx = np.asarray(idx)[order]
        self.n = len(self.idx)
        self.extra = {k: np.asarray(v)[order] for k, v in extra.items()}
        self.flags: dict[str, np.ndarray] = {f: np.zeros(self.n, dtype=bool) for f in FLAGS}
        self.flags["duplicate"] = is_dup
        if deceased is not None:
            self.flags["deceased"] = np.asarray(deceased)[order]
        self.missing: list[tuple[str, np.ndarray]] = []
        self._addr: np.ndarray | None = None

    def __getitem__(self, key: str) -> np.ndarray:
        return self.extra[key]

    def _typos(self, values: np.ndarray, flag: str) -> np.ndarray:
        hit = np.flatnonzero((values != None) & (self.rng.random(self.n) < self.nz.typo))  # noqa: E711
        for i in hit:
            values[i] = typo(values[i], self.rng)
        self.flags[flag][hit] = True
        return values

    def blank(self, field: str, values: np.ndarray, rate: float | None = None) -> np.ndarray:
        """Leave an optional field empty at the 'missing' rate (dates as NaT, strings as None)."""
        rate = self.nz.missing if rate is None else rate
        present = ~np.isnat(values) if values.dtype.kind == "M" else (values != None)  # noqa: E711
        hit = present & (self.rng.random(self.n) < rate)
        values = values.copy()
        values[hit] = NAT if values.dtype.kind == "M" else None
        self.missing.append((field, hit))
        return values

    # ---------------------------------------------------------------- identity fields

    def first_name(self, nickname: bool = True, typos: bool = True) -> np.ndarray:
        b = self.b
        first = b.first[self.idx]
        values = b.names.forenames[first].copy()
        if nickname:
            options = b.names.nickname_options
            has = np.array([bool(options[f]) for f in first], dtype=bool) if self.n else np.zeros(0, bool)
            hit = np.flatnonzero(has & (self.rng.random(self.n) < self.nz.nickname))
            for i in hit:
                opts = options[first[i]]
                values[i] = opts[int(self.rng.integers(0, len(opts)))]
            self.flags["nickname"][hit] = True
        return self._typos(values, "typo_first_name") if typos else values

    def middle_name(self) -> np.ndarray:
        return self.blank("middle_name", self.b.middle_names(self.idx))

    def surname(self, as_of: np.ndarray | np.datetime64 | None = None, maiden: bool = True) -> np.ndarray:
        """Surname as at a date (the birth surname before a change on marriage), with noise."""
        b = self.b
        when = PERIOD_END if as_of is None else as_of
        changed = b.surname_changed[self.idx]
        after_change = ~np.isnat(changed) & (changed <= when)
        values = np.where(after_change, b.surnames(self.idx), b.surnames(self.idx, birth=True))
        if maiden:
            hit = after_change & (self.rng.random(self.n) < self.nz.maiden_name)
            values[hit] = b.surnames(self.idx[hit], birth=True)
            self.flags["maiden_name"] = hit
        return self._typos(values, "typo_surname")

    def date_of_birth(self, blank: bool = True) -> np.ndarray:
        dob = self.b.dob[self.idx]
        swapped, eligible = swap_day_month(dob)
        hit = eligible & (self.rng.random(self.n) < self.nz.date_swap)
        dob = np.where(hit, swapped, dob)
        self.flags["date_swap"] = hit
        return self.blank("date_of_birth", dob) if blank else dob

    def nino(self) -> np.ndarray:
        values = self.b.nino[self.idx].copy()
        values = self._typos(values, "typo_nino")
        return self.blank("nino", values)

    def address(self, when: np.ndarray | None = None, stale: bool = True) -> np.ndarray:
        """Address index of each record: the person's address (on a date), or the previous one if stale."""
        b = self.b
        addr = b.addr_now[self.idx] if when is None else b.address_at(self.idx, when)
        if stale:
            prev = b.addr_prev[self.idx]
            if when is not None:
                moved_by = b.hh_move[b.hh[self.idx]] <= when
                prev = np.where(moved_by, prev, -1)
            hit = (prev >= 0) & (self.rng.random(self.n) < self.nz.stale_address)
            addr = np.where(hit, prev, addr)
            self.flags["stale_address"] = hit
        self._addr = addr
        return addr

    def set_address(self, addr: np.ndarray) -> np.ndarray:
        self._addr = addr
        return addr

    def postcode(self, blank: bool = True) -> np.ndarray:
        values = self.b.addr_postcode[self._addr].copy()
        hit = np.flatnonzero(self.rng.random(self.n) < self.nz.postcode_format)
        for i in hit:
            values[i] = postcode_variant(values[i], self.rng)
        self.flags["postcode_format"][hit] = True
        return self.blank("postcode", values) if blank else values

    def address_line_1(self) -> np.ndarray:
        return self.b.addr_line1[self._addr]

    def uprn(self) -> np.ndarray:
        return self.b.addr_uprn[self._addr]

    def council(self) -> np.ndarray:
        return np.array(geo.COUNCIL_IDS, dtype=object)[self.b.addr_council[self._addr]]

    # ---------------------------------------------------------------- output

    def truth(self, person_id: np.ndarray | None = None) -> dict[str, np.ndarray]:
        b = self.b
        pid = b.person_id[self.idx] if person_id is None else person_id
        hid = b.household_id[b.hh[self.idx]]
        missing = np.full(self.n, None, dtype=object)
        for field, hit in self.missing:
            for i in np.flatnonzero(hit):
                missing[i] = field if missing[i] is None else f"{missing[i]},{field}"
        out = {"person_id": pid, "household_id": hid, **self.flags, "missing_fields": missing}
        return out


def choose(b: Block, qualifies: np.ndarray, noise: BodyNoise, rng: np.random.Generator,
           when: np.datetime64 = PERIOD_END) -> tuple[np.ndarray, np.ndarray]:
    """People in the view: those who qualify and are alive (less omissions), and some who died (retained)."""
    alive = b.alive_at(when)
    r = rng.random(b.n)
    keep = qualifies & ((alive & (r >= noise.omit)) | (~alive & (r < noise.deceased_retained)))
    idx = np.flatnonzero(keep)
    return idx, ~alive[idx]


# =========================================================================== table assembly


def record_ids(seed: int, dataset: str, block: int, n: int, width: int = 12) -> np.ndarray:
    keys = derive_keys(seed, 10, DATASET_CODES[dataset])
    index = (np.uint64(block) << np.uint64(24)) + np.arange(n, dtype=np.uint64)
    return to_strings(hexdigits(permute(index, keys, 1 << 48), width))


def references(seed: int, purpose: int, block: int, n: int, prefix: str, width: int = 10) -> np.ndarray:
    """A body's own reference numbers (account, registration): unique, and unrelated to the person."""
    index = (np.uint64(block) << np.uint64(24)) + np.arange(n, dtype=np.uint64)
    body = hexdigits(permute(index, derive_keys(seed, purpose), 1 << 40), width)
    head = np.frombuffer(prefix.encode(), dtype=np.uint8)[None, :].repeat(n, axis=0)
    return to_strings(np.hstack([head, body]))


def _arrow(values: np.ndarray, typ: pa.DataType) -> pa.Array:
    if typ == MONEY:
        return pa.array(np.round(np.asarray(values, dtype=float), 2), type=pa.float64()).cast(MONEY)
    if typ == DATE:
        values = np.asarray(values, dtype="datetime64[D]")
        return pa.array(values, type=DATE, from_pandas=True)
    return pa.array(values, type=typ, from_pandas=typ == pa.float64())


@dataclass
class Part:
    """A block's rows for one dataset, and their truth."""

    dataset: str
    table: pa.Table
    truth: pa.Table


def part(seed: int, block: Block, dataset: str, columns: list[tuple[str, np.ndarray, pa.DataType]],
         truth: dict[str, np.ndarray]) -> Part:
    n = len(columns[0][1]) if columns else 0
    ids = record_ids(seed, dataset, block.index, n)
    table = pa.table(
        [pa.array(ids, type=STR)] + [_arrow(v, t) for _, v, t in columns],
        schema=pa.schema([("record_id", STR)] + [(name, t) for name, _, t in columns]),
    )
    tcols = [pa.array(ids, type=STR), pa.array(truth["person_id"], type=pa.int64()),
             pa.array(truth["household_id"], type=pa.int64())]
    tcols += [pa.array(np.asarray(truth[f], dtype=bool), type=BOOL) for f in FLAGS]
    tcols.append(pa.array(truth["missing_fields"], type=STR))
    return Part(dataset, table, pa.Table.from_arrays(tcols, schema=TRUTH_SCHEMA))


def _title(b: Block, idx: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    female = b.sex[idx] == FEMALE
    married = b.spouse[idx] >= 0
    titles = np.where(female, np.where(married & (rng.random(len(idx)) < 0.6), "Mrs",
                                       np.where(rng.random(len(idx)) < 0.5, "Ms", "Miss")), "Mr")
    return titles.astype(object)


def _dates_between(rng: np.random.Generator, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    hi = np.maximum(hi, lo)
    return _uniform_dates(rng, lo, hi)


def _household_alive_adults(b: Block, when: np.datetime64 = PERIOD_END) -> tuple[np.ndarray, np.ndarray]:
    """Per household: number of living adults, and the first living adult (-1 if none)."""
    adult = b.alive_at(when) & (b.age_at(when) >= 18)
    H = len(b.hh_type)
    count = np.bincount(b.hh[adult], minlength=H)
    first = np.full(H, -1)
    idx = np.flatnonzero(adult)[::-1]
    first[b.hh[idx]] = idx  # written in reverse so the lowest index wins
    return count, first


def _current_address(b: Block) -> np.ndarray:
    return np.where(b.hh_addr1 >= 0, b.hh_addr1, b.hh_addr0)


# =========================================================================== the bodies

Builder = Callable[[int, Block, BodyNoise, np.random.Generator], list[Part]]


def _nino_identity(rec: Records) -> list[tuple]:
    """The identity columns of a body that holds NINOs (DWP, HMRC), drawn in a fixed order
    so that output stays the same for a seed."""
    first = rec.first_name()
    surname = rec.surname()
    dob = rec.date_of_birth()
    nino = rec.nino()
    rec.address()
    return [
        ("nino", nino, STR), ("first_name", first, STR), ("surname", surname, STR), ("date_of_birth", dob, DATE),
        ("postcode", rec.postcode(), STR), ("address_line_1", rec.address_line_1(), STR),
    ]


def build_dwp(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    when = np.where(b.died, b.dod, PERIOD_END)
    age = ((when - b.dob).astype(np.int64) / YEAR)
    li = b.hh_low_income[b.hh]
    r = rng.random((5, b.n))
    benefits = {
        "state_pension": (age >= 66) & (r[0] < 0.97),
        "pension_credit": (age >= 66) & li & (r[1] < 0.6),
        "universal_credit": (age >= 18) & (age < 66) & ((li & (r[2] < 0.8)) | (~li & b.employed & (r[2] < 0.03))
                                                          | (b.disabled & (r[2] < 0.3))),
        "pip": (age >= 16) & (age < 66) & b.disabled & (r[3] < 0.6),
        "attendance_allowance": (age >= 66) & b.disabled & (r[4] < 0.5),
    }
    guarantee = benefits["pension_credit"] & (rng.random(b.n) < 0.85)
    qualifies = np.zeros(b.n, dtype=bool)
    for mask in benefits.values():
        qualifies |= mask
    people, dead = choose(b, qualifies, nz, rng)
    chosen = np.zeros(b.n, dtype=bool)
    chosen[people] = True
    dead_of = np.zeros(b.n, dtype=bool)
    dead_of[people] = dead
    idx_parts, type_parts = [], []
    for name, mask in benefits.items():
        sel = np.flatnonzero(mask & chosen)
        idx_parts.append(sel)
        type_parts.append(np.full(len(sel), name, dtype=object))
    idx = np.concatenate(idx_parts)
    btype = np.concatenate(type_parts)
    eligible_from = np.where(np.isin(btype, ["state_pension", "pension_credit", "attendance_allowance"]),
                             b.dob[idx] + years_to_days(66), np.maximum(b.dob[idx] + years_to_days(18),
                                                                       PERIOD_END - years_to_days(8)))
    eligible_from = np.maximum(eligible_from, PERIOD_END - years_to_days(25))
    until = np.where(b.died[idx], b.dod[idx] - 1, PERIOD_END)
    start = _dates_between(rng, np.minimum(eligible_from, until), until)
    last_paid = PERIOD_END - rng.integers(0, 28, len(idx))
    rec = Records(b, nz, rng, idx, deceased=dead_of[idx], benefit_type=btype, award_start=start, last_paid=last_paid)
    cols = [
        *_nino_identity(rec),
        ("benefit_type", rec["benefit_type"], STR), ("pension_credit_guarantee", guarantee[rec.idx], BOOL),
        ("award_start", rec["award_start"], DATE), ("disability_indicator", b.disabled[rec.idx], BOOL),
        ("payment_status", np.full(rec.n, "in_payment", dtype=object), STR),
        ("last_payment_date", rec["last_paid"], DATE),
    ]
    return [part(seed, b, "dwp-benefits", cols, rec.truth())]


TAX_YEAR_START = np.datetime64("2025-04-06", "D")


def build_hmrc(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    qualifies = b.employed & b.alive_at(TAX_YEAR_START)
    people, dead = choose(b, qualifies, nz, rng)
    # someone who died in the year has a closed employment: in the view, not an anomaly
    died_in_year = b.died[people] & (rng.random(len(people)) >= nz.deceased_retained)
    retained = b.died[people] & ~died_in_year
    second = people[b.second_employer[people] >= 0]
    idx = np.concatenate([people, second])
    employer = np.concatenate([b.employer[people], b.second_employer[second]])
    pay = np.concatenate([b.pay[people], np.round(b.pay[second] * rng.uniform(0.1, 0.4, len(second)), 2)])
    ended = np.concatenate([died_in_year, np.zeros(len(second), dtype=bool)])
    is_retained = np.concatenate([retained, b.died[second] & np.isin(second, people[retained])])
    ended |= b.died[idx] & ~is_retained
    end = np.where(ended, b.dod[idx], NAT)
    start_lo = np.maximum(b.dob[idx] + years_to_days(16), PERIOD_END - years_to_days(20))
    start = _dates_between(rng, start_lo, np.where(ended, b.dod[idx] - 1, PERIOD_END - 30))
    rec = Records(b, nz, rng, idx, deceased=is_retained, employer=employer, pay=pay, start=start, end=end)
    cols = [
        *_nino_identity(rec),
        ("employer_ref", b.world.employer_refs[rec["employer"]], STR),
        ("employer_name", b.world.employer_names[rec["employer"]], STR),
        ("employment_start", rec["start"], DATE), ("employment_end", rec["end"], DATE),
        ("annual_pay", rec["pay"], MONEY),
    ]
    return [part(seed, b, "hmrc-paye", cols, rec.truth())]


def build_gro(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    parts = []
    # ---- births: the child is the subject; parents' names as at the birth
    born = np.flatnonzero(b.dob >= PERIOD_START)
    reg = b.dob[born] + rng.integers(1, 43, len(born))
    keep = reg <= PERIOD_END
    born, reg = born[keep], reg[keep]
    rec = Records(b, nz, rng, born, registered=reg)
    idx = rec.idx
    mother, father = b.mother[idx], b.father[idx]
    has_m, has_f = mother >= 0, (father >= 0) & (rng.random(rec.n) < 0.95)
    m, f = np.maximum(mother, 0), np.maximum(father, 0)
    dob = b.dob[idx]
    m_changed = b.surname_changed[m]
    m_surname = np.where(~np.isnat(m_changed) & (m_changed <= dob), b.surnames(m), b.surnames(m, birth=True))
    rec.set_address(b.address_at(idx, dob))
    cols = [
        ("registration_id", references(seed, 14, b.index, rec.n, "B"), STR),
        ("first_name", rec.first_name(nickname=False), STR), ("middle_name", rec.middle_name(), STR),
        ("surname", rec.surname(maiden=False), STR),
        ("sex", np.where(b.sex[idx] == FEMALE, "F", "M").astype(object), STR),
        ("date_of_birth", rec.date_of_birth(blank=False), DATE),
        ("mother_first_name", np.where(has_m, b.first_names(m), None), STR),
        ("mother_surname", np.where(has_m, m_surname, None), STR),
        ("mother_maiden_surname", np.where(has_m, b.surnames(m, birth=True), None), STR),
        ("father_first_name", np.where(has_f, b.first_names(f), None), STR),
        ("father_surname", np.where(has_f, b.surnames(f, birth=True), None), STR),
        ("address_line_1", rec.address_line_1(), STR), ("postcode", rec.postcode(), STR),
        ("registration_date", rec["registered"], DATE),
    ]
    parts.append(part(seed, b, "gro-births", cols, rec.truth()))
    # ---- deaths: registered within days, some (coroners' cases) after months
    dead = np.flatnonzero(b.died)
    delay = np.where(rng.random(len(dead)) < 0.08, rng.integers(30, 200, len(dead)), rng.integers(1, 9, len(dead)))
    reg = b.dod[dead] + delay
    keep = reg <= PERIOD_END
    rec = Records(b, nz, rng, dead[keep], registered=reg[keep])
    idx = rec.idx
    changed = ~np.isnat(b.surname_changed[idx])
    rec.set_address(b.addr_now[idx])  # the address at death
    cols = [
        ("registration_id", references(seed, 15, b.index, rec.n, "D"), STR),
        ("first_name", rec.first_name(nickname=False), STR), ("middle_name", rec.middle_name(), STR),
        ("surname", rec.surname(maiden=False), STR),
        ("maiden_surname", np.where(changed, b.surnames(idx, birth=True), None), STR),
        ("sex", np.where(b.sex[idx] == FEMALE, "F", "M").astype(object), STR),
        ("date_of_birth", rec.date_of_birth(), DATE), ("date_of_death", b.dod[idx], DATE),
        ("address_line_1", rec.address_line_1(), STR), ("postcode", rec.postcode(), STR),
        ("registration_date", rec["registered"], DATE),
    ]
    parts.append(part(seed, b, "gro-deaths", cols, rec.truth()))
    # ---- marriages in the period: one row per party, names before the marriage
    hh = np.flatnonzero(b.hh_marriage_in_period)
    head = b.hh_start[hh]
    partner = b.spouse[head]
    date = b.hh_marriage[hh]
    reg_id = references(seed, 11, b.index, len(hh), "M")
    idx = np.concatenate([head, partner])
    rec = Records(b, nz, rng, idx, marriage_date=np.concatenate([date, date]),
                  registration=np.concatenate([reg_id, reg_id]),
                  party=np.concatenate([np.ones(len(hh), np.int64), np.full(len(hh), 2, np.int64)]),
                  spouse=np.concatenate([partner, head]))
    idx = rec.idx
    when = rec["marriage_date"] - 1
    rec.set_address(b.address_at(idx, rec["marriage_date"]))
    age = ((rec["marriage_date"] - b.dob[idx]).astype(np.int64) / YEAR).astype(np.int64)
    sp = rec["spouse"]
    cols = [
        ("marriage_registration", rec["registration"], STR), ("party", rec["party"], pa.int8()),
        ("first_name", rec.first_name(nickname=False), STR), ("middle_name", rec.middle_name(), STR),
        ("surname", rec.surname(as_of=when, maiden=False), STR), ("age", age, pa.int16()),
        ("date_of_birth", rec.date_of_birth(), DATE),
        ("spouse_first_name", b.first_names(sp), STR), ("spouse_surname", b.surnames(sp, birth=True), STR),
        ("address_line_1", rec.address_line_1(), STR), ("postcode", rec.postcode(), STR),
        ("marriage_date", rec["marriage_date"], DATE),
    ]
    parts.append(part(seed, b, "gro-marriages", cols, rec.truth()))
    return parts


def _liable_name(rec: Records, first: np.ndarray, surname: np.ndarray) -> np.ndarray:
    title = _title(rec.b, rec.idx, rec.rng)
    style = _choice(rec.rng, [0.5, 0.3, 0.2], rec.n)
    out = np.empty(rec.n, dtype=object)
    for i in range(rec.n):
        f, s = first[i], surname[i]
        if style[i] == 0 or not f:
            out[i] = f"{f} {s}" if f else s
        elif style[i] == 1:
            out[i] = f"{title[i]} {f} {s}"
        else:
            out[i] = f"{title[i]} {f[0]} {s}"
    return out


def build_council_tax(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    count, first_adult = _household_alive_adults(b)
    H = len(b.hh_type)
    head = b.hh_start
    head_dead = b.died[head]
    # an account stays in a dead head's name only at the address where they died
    moved_after_death = (b.hh_addr1 >= 0) & head_dead & (b.dod[head] <= b.hh_move)
    retain = head_dead & ~moved_after_death & (rng.random(H) < nz.deceased_retained)
    liable = np.where(retain | ~head_dead, head, first_adult)
    has = liable >= 0
    hh = np.flatnonzero(has)
    liable = liable[hh]
    deceased = b.died[liable]
    partner = b.spouse[liable]
    joint = (partner >= 0) & b.alive_at(PERIOD_END)[np.maximum(partner, 0)] & (rng.random(len(hh)) < 0.6)
    single = count[hh] == 1
    false_discount = (count[hh] >= 2) & (rng.random(len(hh)) < nz.false_discount)
    start = np.where(b.hh_addr1[hh] >= 0, b.hh_move[hh],
                     _dates_between(rng, np.full(len(hh), PERIOD_START - years_to_days(25)),
                                    np.full(len(hh), PERIOD_START - 1)))
    rec = Records(b, nz, rng, liable, deceased=deceased, hh=hh, joint=np.where(joint, partner, -1),
                  spd=single | false_discount, false_discount=false_discount, start=start)
    rec.flags["false_discount"] = rec["false_discount"]
    rec.set_address(_current_address(b)[rec["hh"]])
    first = rec.first_name()
    surname = rec.surname()
    joint_idx = rec["joint"]
    j = np.maximum(joint_idx, 0)
    joint_name = np.where(joint_idx >= 0, b.first_names(j) + " " + b.surnames(j), None)
    account = references(seed, 12, b.index, rec.n, "CT")
    cols = [
        ("account_ref", account, STR), ("liable_name", _liable_name(rec, first, surname), STR),
        ("joint_liable_name", joint_name, STR), ("address_line_1", rec.address_line_1(), STR),
        ("postcode", rec.postcode(blank=False), STR), ("uprn", rec.uprn(), pa.int64()),
        ("council_tax_band", b.addr_band[rec._addr], STR), ("single_person_discount", rec["spd"], BOOL),
        ("account_start", rec["start"], DATE), ("council_id", rec.council(), STR),
    ]
    return [part(seed, b, "{partition}-tax", cols, rec.truth())]


def build_electoral(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    parts = []
    adult = b.age_at(PERIOD_END) >= 18
    people, dead = choose(b, adult, nz, rng)
    rec = Records(b, nz, rng, people, deceased=dead, open_register=rng.random(len(people)) < 0.45)
    rec.address()
    cols = [
        ("first_name", rec.first_name(), STR), ("middle_name", rec.middle_name(), STR),
        ("surname", rec.surname(), STR), ("address_line_1", rec.address_line_1(), STR),
        ("postcode", rec.postcode(blank=False), STR), ("uprn", rec.uprn(), pa.int64()),
        ("open_register", rec["open_register"], BOOL), ("council_id", rec.council(), STR),
    ]
    parts.append(part(seed, b, "{partition}-electoral-register", cols, rec.truth()))

    # ---- applications: people who moved, people who turned 18, and some who do not exist
    alive = b.alive_at(PERIOD_END)
    move = b.hh_move[b.hh]
    movers = (b.addr_prev >= 0) & alive & (b.age_at(move) >= 18) & (rng.random(b.n) < 0.6)
    eighteenth = b.dob + years_to_days(18)
    attainers = alive & (eighteenth >= PERIOD_START) & (eighteenth <= PERIOD_END) & ~movers & (rng.random(b.n) < 0.5)
    applied = np.where(movers, move + rng.integers(0, 120, b.n), eighteenth + rng.integers(0, 200, b.n))
    sel = np.flatnonzero((movers | attainers) & (applied <= PERIOD_END))
    n_fake = int(rng.binomial(len(sel), nz.fictitious)) if len(sel) else 0
    rec = Records(b, nz, rng, sel, applied=applied[sel])
    first = rec.first_name()
    middle = rec.middle_name()
    surname = rec.surname()
    dob = rec.date_of_birth()
    nino = rec.nino()
    addr = rec.set_address(b.addr_now[rec.idx])
    postcode = rec.postcode()
    truth = rec.truth()
    applied_on = rec["applied"]
    if n_fake:
        names = b.names
        g = _choice(rng, names.group_share, n_fake)
        s = np.where(rng.random(n_fake) < 0.5, 1, 2)
        f_first = np.array([names.forenames[names.forename_dist[(int(gi), int(si))].sample(rng, 1)[0]]
                            for gi, si in zip(g, s)], dtype=object)
        f_sur = np.array([names.surnames[names.surname_dist[int(gi)].sample(rng, 1)[0]] for gi in g], dtype=object)
        f_dob = PERIOD_END - years_to_days(18 + rng.random(n_fake) * 60)
        fake_index = np.uint64(NINO_DOMAIN - 1) - (np.uint64(b.index) * np.uint64(BLOCK) + np.arange(n_fake, dtype=np.uint64))
        f_nino = ninos(fake_index, derive_keys(seed, 2), rng.integers(0, 4, n_fake))
        f_nino[rng.random(n_fake) < 0.3] = None
        f_addr = rng.integers(0, len(b.addr_uprn), n_fake)
        f_applied = _dates_between(rng, np.full(n_fake, PERIOD_START), np.full(n_fake, PERIOD_END))
        pos = rng.permutation(rec.n + n_fake)  # mix the fictitious rows in
        def mix(real: np.ndarray, fake: np.ndarray) -> np.ndarray:  # noqa: E306
            out = np.concatenate([real, fake])
            return out[pos]
        first, middle, surname = mix(first, f_first), mix(middle, np.full(n_fake, None, object)), mix(surname, f_sur)
        dob, nino = mix(dob, f_dob), mix(nino, f_nino)
        postcode = mix(postcode, b.addr_postcode[f_addr])
        addr = mix(addr, f_addr)
        applied_on = mix(applied_on, f_applied)
        truth = {k: mix(v, np.full(n_fake, -1 if k in ("person_id", "household_id") else
                                   (None if k == "missing_fields" else k == "fictitious")))
                 for k, v in truth.items()}
        truth["person_id"] = np.where(truth["person_id"] < 0, None, truth["person_id"]).astype(object)
        truth["household_id"] = np.where(truth["household_id"] < 0, None, truth["household_id"]).astype(object)
    cols = [
        ("first_name", first, STR), ("middle_name", middle, STR), ("surname", surname, STR),
        ("date_of_birth", dob, DATE), ("nino", nino, STR), ("address_line_1", b.addr_line1[addr], STR),
        ("postcode", postcode, STR), ("application_date", applied_on, DATE),
        ("council_id", np.array(geo.COUNCIL_IDS, dtype=object)[b.addr_council[addr]], STR),
    ]
    parts.append(part(seed, b, "{partition}-registration-applications", cols, truth))
    return parts


def build_energy(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    H = len(b.hh_type)
    count, first_adult = _household_alive_adults(b)
    # the account holder is an adult chosen when the household arrived at its current address
    adult_any = b.age_at(PERIOD_END) >= 18
    pick = rng.random(b.n)
    pick[~adult_any] = 2.0
    holder = np.full(H, -1)
    best = np.full(H, 3.0)
    np.minimum.at(best, b.hh, pick)
    chosen = (pick == best[b.hh]) & adult_any
    holder[b.hh[chosen]] = np.flatnonzero(chosen)
    hdead = (holder >= 0) & b.died[np.maximum(holder, 0)]
    retain = hdead & (rng.random(H) < nz.deceased_retained)
    holder = np.where(hdead & ~retain, first_adult, holder)
    hh = np.flatnonzero(holder >= 0)
    holder = holder[hh]
    supplier = np.array(geo.SUPPLIER_IDS, dtype=object)[_choice(rng, list(geo.SUPPLIERS.values()), len(hh))]
    li = b.hh_low_income[hh]
    payment = np.where(rng.random(len(hh)) < np.where(li, 0.35, 0.12), "prepayment",
                       np.where(rng.random(len(hh)) < 0.85, "direct_debit", "on_receipt")).astype(object)
    vulnerable = np.zeros(H, dtype=bool)
    np.logical_or.at(vulnerable, b.hh, b.disabled | (b.age_at(PERIOD_END) >= 75))
    start = np.where(b.hh_addr1[hh] >= 0, b.hh_move[hh] + rng.integers(0, 60, len(hh)),
                     _dates_between(rng, np.full(len(hh), PERIOD_START - years_to_days(15)),
                                    np.full(len(hh), PERIOD_END - 30)))
    rec = Records(b, nz, rng, holder, deceased=b.died[holder], hh=hh, supplier=supplier, payment=payment,
                  psr=vulnerable[hh], start=np.minimum(start, PERIOD_END))
    rec.set_address(_current_address(b)[rec["hh"]])
    account = references(seed, 13, b.index, rec.n, "EA")
    first = rec.first_name()
    cols = [
        ("account_ref", account, STR), ("title", _title(b, rec.idx, rng), STR),
        ("first_name", rec.blank("first_name", first), STR), ("surname", rec.surname(), STR),
        ("supply_address_line_1", rec.address_line_1(), STR), ("supply_postcode", rec.postcode(blank=False), STR),
        ("account_start", rec["start"], DATE), ("payment_method", rec["payment"], STR),
        ("priority_services_register", rec["psr"], BOOL), ("supplier_id", rec["supplier"], STR),
    ]
    return [part(seed, b, "{partition}-customers", cols, rec.truth())]


def build_dvla(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    when = np.where(b.died, b.dod, PERIOD_END)
    age = (when - b.dob).astype(np.int64) / YEAR
    p = np.where(b.sex == FEMALE, 0.70, 0.80) * np.where(age >= 80, 0.6, 1.0) * np.where(age < 21, 0.5, 1.0)
    people, dead = choose(b, (age >= 17) & (rng.random(b.n) < p), nz, rng)
    issued = _dates_between(rng, b.dob[people] + years_to_days(17) + 30,
                            np.where(b.died[people], b.dod[people] - 1, PERIOD_END - 1))
    points = np.array([0, 3, 6, 9])[_choice(rng, [0.90, 0.07, 0.02, 0.01], len(people))]
    rec = Records(b, nz, rng, people, deceased=dead, issued=issued, points=points)
    first = rec.first_name()
    middle = rec.middle_name()
    surname = rec.surname()
    dob = rec.date_of_birth(blank=False)
    female = b.sex[rec.idx] == FEMALE
    rec.address()
    number = driver_numbers(surname, first, middle, dob, female, rng.integers(0, 26, (rec.n, 2)))
    address_line_1, postcode = rec.address_line_1(), rec.postcode()
    # The National Insurance number the driver gave when applying, which DVLA checks with DWP (so no
    # typos), or none; drawn last so that the other columns stay as they were for a seed. It ties a
    # licence to the person it is about, as a verified identity carries it (share codes). Named in
    # full, not `nino`, so record linkage does not take it as a common identifier unless mapped.
    nino = rec.blank("nino", b.nino[rec.idx].copy())
    cols = [
        ("driver_number", number, STR), ("first_name", first, STR), ("middle_name", middle, STR),
        ("surname", surname, STR), ("date_of_birth", dob, DATE),
        ("sex", np.where(female, "F", "M").astype(object), STR),
        ("address_line_1", address_line_1, STR), ("postcode", postcode, STR),
        ("licence_issue_date", rec["issued"], DATE), ("penalty_points", rec["points"], pa.int8()),
        ("national_insurance_number", nino, STR),
    ]
    return [part(seed, b, "dvla-drivers", cols, rec.truth())]


def _lead_adult(b: Block, hh: np.ndarray) -> np.ndarray:
    _, first_adult = _household_alive_adults(b)
    head = b.hh_start[hh]
    return np.where(b.alive_at(PERIOD_END)[head], head, first_adult[hh])


def build_early_help(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    cin, homeless = b.hh_flags["children_in_need"], b.hh_flags["homelessness_risk"]
    hh = np.flatnonzero((cin | homeless) & (rng.random(len(b.hh_type)) >= nz.omit))
    lead = _lead_adult(b, hh)
    hh, lead = hh[lead >= 0], lead[lead >= 0]
    opened = _dates_between(rng, np.full(len(hh), PERIOD_END - years_to_days(3)), np.full(len(hh), PERIOD_END))
    rec = Records(b, nz, rng, lead, hh=hh, opened=opened)
    rec.address()
    h = rec["hh"]
    cols = [
        ("first_name", rec.first_name(), STR), ("surname", rec.surname(), STR),
        ("date_of_birth", rec.date_of_birth(), DATE), ("address_line_1", rec.address_line_1(), STR),
        ("postcode", rec.postcode(), STR), ("uprn", rec.uprn(), pa.int64()),
        ("household_size", b.hh_size[h], pa.int16()),
        ("children_in_need", cin[h], BOOL), ("homelessness_risk", homeless[h], BOOL),
        ("case_opened", rec["opened"], DATE), ("council_id", rec.council(), STR),
    ]
    return [part(seed, b, "{partition}-early-help", cols, rec.truth())]


def build_schools(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    age = b.age_at(PERIOD_END)
    people, _ = choose(b, (age >= 5) & (age <= 16), nz, rng)
    h = b.hh[people]
    absent = b.hh_flags["school_absence"][h] & (rng.random(len(people)) < 0.7)
    absent |= rng.random(len(people)) < 0.02
    excluded = b.hh_flags["crime_asb"][h] & (age[people] >= 11) & (rng.random(len(people)) < 0.25)
    rec = Records(b, nz, rng, people, absent=absent, excluded=excluded)
    rec.address()
    cols = [
        ("first_name", rec.first_name(), STR), ("middle_name", rec.middle_name(), STR),
        ("surname", rec.surname(), STR), ("date_of_birth", rec.date_of_birth(blank=False), DATE),
        ("sex", np.where(b.sex[rec.idx] == FEMALE, "F", "M").astype(object), STR),
        ("address_line_1", rec.address_line_1(), STR), ("postcode", rec.postcode(), STR),
        ("persistent_absence", rec["absent"], BOOL), ("excluded", rec["excluded"], BOOL),
    ]
    return [part(seed, b, "schools-pupils", cols, rec.truth())]


def build_police(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    age = b.age_at(PERIOD_END)
    alive = b.alive_at(PERIOD_END)
    h = b.hh
    involved = alive & (age >= 10) & b.hh_flags["crime_asb"][h] & (rng.random(b.n) < 0.5)
    involved &= rng.random(b.n) >= nz.omit
    n_inc = np.where(involved, 1 + rng.poisson(0.6, b.n), 0)
    idx = np.repeat(np.arange(b.n), n_inc)
    kind = np.where(rng.random(len(idx)) < 0.6, "anti_social_behaviour", "offence").astype(object)
    role = np.where(rng.random(len(idx)) < 0.8, "suspect", "victim").astype(object)
    # domestic abuse: the victim and the partner
    da = b.hh_flags["domestic_abuse"] & (rng.random(len(b.hh_type)) >= nz.omit)
    heads = b.hh_start[da]
    partners = b.spouse[heads]
    partners = np.where(partners >= 0, partners, np.where(b.hh_size[da] > 1, heads + 1, -1))
    ok = (partners >= 0) & alive[heads] & alive[np.maximum(partners, 0)]
    heads, partners = heads[ok], partners[ok]
    victim = np.where(b.sex[heads] == FEMALE, heads, partners)
    offender = np.where(victim == heads, partners, heads)
    idx = np.concatenate([idx, victim, offender])
    kind = np.concatenate([kind, np.full(2 * len(victim), "domestic_abuse", dtype=object)])
    role = np.concatenate([role, np.full(len(victim), "victim", dtype=object),
                           np.full(len(offender), "suspect", dtype=object)])
    date = _dates_between(rng, np.full(len(idx), PERIOD_END - years_to_days(2)), np.full(len(idx), PERIOD_END))
    rec = Records(b, nz, rng, idx, kind=kind, role=role, date=date)
    rec.address()
    cols = [
        ("first_name", rec.first_name(), STR), ("surname", rec.surname(), STR),
        ("date_of_birth", rec.date_of_birth(), DATE), ("address_line_1", rec.address_line_1(), STR),
        ("postcode", rec.postcode(), STR), ("incident_type", rec["kind"], STR), ("role", rec["role"], STR),
        ("incident_date", rec["date"], DATE),
    ]
    return [part(seed, b, "police-incidents", cols, rec.truth())]


def build_health(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    age = b.age_at(PERIOD_END)
    flagged = b.hh_flags["health_problem"][b.hh]
    mental = (age >= 16) & ((flagged & (rng.random(b.n) < 0.6)) | (rng.random(b.n) < 0.02))
    substance = (age >= 16) & flagged & (rng.random(b.n) < 0.25)
    people, dead = choose(b, mental | substance, nz, rng)
    rec = Records(b, nz, rng, people, deceased=dead, mental=mental[people], substance=substance[people])
    nhs = rec.blank("nhs_number", b.nhs[rec.idx].copy())
    rec.address()
    cols = [
        ("nhs_number", nhs, STR), ("first_name", rec.first_name(), STR), ("surname", rec.surname(), STR),
        ("date_of_birth", rec.date_of_birth(), DATE), ("address_line_1", rec.address_line_1(), STR),
        ("postcode", rec.postcode(), STR), ("mental_health", rec["mental"], BOOL),
        ("substance_misuse", rec["substance"], BOOL),
    ]
    return [part(seed, b, "health-indicators", cols, rec.truth())]


_STATUS = np.array(["open", "repayment_plan", "in_dispute", "written_off", "paid"], dtype=object)
_STATUS_P = [0.35, 0.35, 0.05, 0.10, 0.15]


def _debt_rows(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator, dataset: str, qualifies: np.ndarray,
               types: list[str], scale: float, with_nino: bool, council: bool = False) -> Part:
    people, dead = choose(b, qualifies, nz, rng)
    extra = people[rng.random(len(people)) < 0.2]  # some owe more than one debt
    idx = np.concatenate([people, extra])
    dead = np.concatenate([dead, b.died[extra]])
    original = np.round(np.exp(rng.normal(np.log(scale), 1.0, len(idx))), 2)
    status = _STATUS[_choice(rng, _STATUS_P, len(idx))]
    owed = np.where(status == "paid", 0.0, np.where(status == "written_off", original,
                                                    np.round(original * rng.uniform(0.1, 1.0, len(idx)), 2)))
    opened = _dates_between(rng, np.maximum(b.dob[idx] + years_to_days(18), PERIOD_END - years_to_days(6)),
                            np.where(b.died[idx], b.dod[idx] - 1, PERIOD_END))
    kind = np.array(types, dtype=object)[rng.integers(0, len(types), len(idx))]
    rec = Records(b, nz, rng, idx, deceased=dead, original=original, owed=owed, status=status, opened=opened, kind=kind)
    cols = []
    if with_nino:
        cols.append(("nino", rec.nino(), STR))
    cols += [("first_name", rec.first_name(), STR), ("surname", rec.surname(), STR),
             ("date_of_birth", rec.date_of_birth(), DATE)]
    rec.address()
    cols += [
        ("address_line_1", rec.address_line_1(), STR), ("postcode", rec.postcode(), STR),
        ("debt_type", rec["kind"], STR), ("original_amount", rec["original"], MONEY),
        ("amount_owed", rec["owed"], MONEY), ("status", rec["status"], STR), ("opened_date", rec["opened"], DATE),
    ]
    if council:
        cols.append(("council_id", rec.council(), STR))
    return part(seed, b, dataset, cols, rec.truth())


def build_debts(seed: int, b: Block, nz: BodyNoise, rng: np.random.Generator) -> list[Part]:
    age = b.age_at(PERIOD_END)
    li = b.hh_low_income[b.hh]
    adult = age >= 18
    r = rng.random((3, b.n))
    hmrc = adult & (b.nino != None) & (r[0] < 0.012 + 0.03 * li + 0.01 * b.employed)  # noqa: E711
    dwp = adult & (b.nino != None) & (r[1] < np.where(li, 0.08, 0.008))  # noqa: E711
    _, first_adult = _household_alive_adults(b)
    council = np.zeros(b.n, dtype=bool)
    hh_debt = rng.random(len(b.hh_type)) < 0.025 + 0.08 * b.hh_low_income
    lead = first_adult[hh_debt]
    council[lead[lead >= 0]] = True
    return [
        _debt_rows(seed, b, nz, rng, "hmrc-debts", hmrc,
                   ["self_assessment", "paye_underpayment", "tax_credits_overpayment", "vat"], 1800.0, True),
        _debt_rows(seed, b, nz, rng, "dwp-debts", dwp,
                   ["benefit_overpayment", "universal_credit_advance", "social_fund_loan"], 900.0, True),
        _debt_rows(seed, b, nz, rng, "{partition}-debts", council,
                   ["council_tax_arrears", "housing_benefit_overpayment", "rent_arrears"], 700.0, False, council=True),
    ]


BUILDERS: dict[str, Builder] = {
    "dwp": build_dwp, "hmrc": build_hmrc, "gro": build_gro, "council-tax": build_council_tax,
    "electoral": build_electoral, "energy": build_energy, "dvla": build_dvla, "early-help": build_early_help,
    "schools": build_schools, "police": build_police, "health": build_health, "debts": build_debts,
}


def build_body(seed: int, block: Block, body: str, noise: BodyNoise) -> list[Part]:
    rng = block_rng(seed, block.index, BODY_CODES[body])
    return BUILDERS[body](seed, block, noise, rng)

"""Standardisation of UK identifiers, so records from different bodies compare like with like.

Every standardiser takes one value and returns its standard form, or None when
the value is empty or not valid (a postcode that cannot exist, a NINO with an
unallocated prefix). The ``*_column`` forms apply one to a whole column, given
as a Python list (returns a list) or a pyarrow Array/ChunkedArray (returns a
pyarrow Array); each distinct value is standardised once, so a column of a
million rows with repeated names costs one call per distinct name.

Standard forms
--------------
names        lower case ASCII (accents stripped, NFKD), titles and post-nominal
             suffixes removed, apostrophes removed (O'Brien -> obrien), hyphens
             and other punctuation as single spaces (Smith-Jones -> smith jones),
             a leading "mac" written "mc" (MacDonald -> mcdonald)
given names  plus nickname equivalence: ``first_name_forms`` (all formal names a
             given name may stand for) and ``canonical_first_name`` (one of them)
dates        ``datetime.date``; columns of text are read as ISO, YYYYMMDD,
             DD/MM/YYYY or MM/DD/YYYY, the day/month order detected from the data
postcodes    upper case, one space before the inward code, validated
NINO         upper case, no spaces, validated (prefix rules, suffix A-D)
addresses    lower-case tokens, punctuation stripped, abbreviations expanded
UPRN         digits without leading zeros, at most 12
sex          "M" or "F"

Column mapping: the standard field names are ``STANDARD_FIELDS``. A source's
columns are mapped with ``resolve_mapping`` (the user's {field: column} plus
columns already named as a standard field), and ``standardise_table`` builds a
table of standard columns from any input table.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from accord.errors import InvalidInput
from accord.privacy.pseudonymise import normalise_nino

log = logging.getLogger(__name__)

STANDARD_FIELDS = ("first_name", "middle_name", "surname", "dob", "sex", "postcode", "address", "nino", "uprn")

# --------------------------------------------------------------------------- columns

Column = Sequence[Any] | pa.Array | pa.ChunkedArray


def _map_column(values: Column, fn: Callable[[Any], Any], out_type: pa.DataType) -> list | pa.Array:
    """Apply ``fn`` once per distinct value; a list in gives a list, pyarrow in gives a pyarrow Array."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks() if values.num_chunks else pa.array([], type=values.type)
        if pa.types.is_null(values.type):
            return pa.nulls(len(values), type=out_type)
        if pa.types.is_dictionary(values.type):
            encoded = values
        else:
            encoded = pc.dictionary_encode(values)
        mapped = pa.array([fn(v) for v in encoded.dictionary.to_pylist()], type=out_type)
        return mapped.take(encoded.indices)
    cache: dict[Any, Any] = {}
    out = []
    for v in values:
        try:
            got = cache[v]
        except KeyError:
            got = cache[v] = fn(v)
        except TypeError:  # unhashable
            got = fn(v)
        out.append(got)
    return out


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and value != value:  # NaN
        return None
    text = str(value).strip()
    return text or None


# --------------------------------------------------------------------------- names

_SPECIAL = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "Æ": "AE", "œ": "oe",
                          "Œ": "OE", "đ": "d", "Đ": "D", "ı": "i", "ð": "d", "Ð": "D", "þ": "th", "Þ": "TH",
                          "’": "'", "‘": "'", "`": "'", "´": "'", "‐": "-", "–": "-", "—": "-"})
TITLES = frozenset({
    "mr", "mrs", "ms", "miss", "mx", "master", "dr", "doctor", "rev", "revd", "reverend", "prof", "professor",
    "sir", "dame", "lady", "lord", "fr", "father", "sr", "sister", "capt", "captain", "col", "major", "cllr",
    "hon", "rt",
})
SUFFIXES = frozenset({"jr", "jnr", "junior", "snr", "senior", "ii", "iii", "iv", "obe", "mbe", "cbe", "kbe",
                      "dbe", "qc", "kc", "mp", "phd", "esq"})
_NON_LETTER = re.compile(r"[^a-z]+")


def ascii_fold(text: str) -> str:
    """Accents and ligatures removed: NFKD, combining marks dropped, a few special letters mapped."""
    text = unicodedata.normalize("NFKD", text.translate(_SPECIAL))
    return "".join(ch for ch in text if not unicodedata.combining(ch)).translate(_SPECIAL)


def _mc(token: str) -> str:
    # MacDonald and McDonald are one name; "mac" only as a prefix of a longer name (not Mace, Mack).
    if token.startswith("mac") and len(token) >= 6:
        return "mc" + token[3:]
    return token


def standardise_name(value: Any) -> str | None:
    """A personal name in standard form: 'Dr Seán O'Brien-MacKay' -> 'sean obrien mckay'."""
    text = _text(value)
    if text is None:
        return None
    text = ascii_fold(text).lower().replace("'", "")
    tokens = [t for t in _NON_LETTER.split(text) if t]
    while len(tokens) > 1 and tokens[0] in TITLES:
        tokens.pop(0)
    while len(tokens) > 1 and tokens[-1] in SUFFIXES:
        tokens.pop()
    tokens = [_mc(t) for t in tokens]
    return " ".join(tokens) or None


def compact_name(name: str | None) -> str | None:
    """A standard name without spaces, for comparing 'smith jones' with 'smithjones'."""
    return name.replace(" ", "") if name else None


def standardise_names(values: Column) -> list | pa.Array:
    return _map_column(values, standardise_name, pa.string())


# --------------------------------------------------------------------------- nicknames

# Formal given name -> common English diminutives. A short curated list of
# well-known pairs; a diminutive may belong to several formal names (Alex).
NICKNAMES: dict[str, tuple[str, ...]] = {
    "william": ("bill", "billy", "will", "willy", "willie", "liam"),
    "robert": ("bob", "bobby", "rob", "robbie", "bert"),
    "richard": ("dick", "rick", "ricky", "rich", "richie"),
    "james": ("jim", "jimmy", "jamie"),
    "john": ("jack", "johnny", "jonny"),
    "jonathan": ("jon", "jonny", "johnny"),
    "michael": ("mike", "mick", "mickey", "mikey"),
    "thomas": ("tom", "tommy"),
    "christopher": ("chris", "kit"),
    "anthony": ("tony",),
    "joseph": ("joe", "joey"),
    "daniel": ("dan", "danny"),
    "david": ("dave", "davy", "davie"),
    "edward": ("ed", "eddie", "ted", "teddy", "ned"),
    "charles": ("charlie", "chas", "chuck"),
    "stephen": ("steve", "stevie"),
    "steven": ("steve", "stevie"),
    "matthew": ("matt",),
    "andrew": ("andy", "drew"),
    "nicholas": ("nick", "nicky"),
    "alexander": ("alex", "sandy", "xander"),
    "benjamin": ("ben", "benny"),
    "samuel": ("sam", "sammy"),
    "peter": ("pete",),
    "patrick": ("pat", "paddy"),
    "timothy": ("tim", "timmy"),
    "frederick": ("fred", "freddie", "freddy"),
    "henry": ("harry", "hal", "hank"),
    "harold": ("harry", "hal"),
    "lawrence": ("larry", "laurie"),
    "leonard": ("len", "lenny"),
    "gerald": ("gerry",),
    "kenneth": ("ken", "kenny"),
    "ronald": ("ron", "ronnie"),
    "donald": ("don", "donny"),
    "raymond": ("ray",),
    "terence": ("terry",),
    "philip": ("phil",),
    "phillip": ("phil",),
    "gregory": ("greg",),
    "jeffrey": ("jeff",),
    "geoffrey": ("geoff",),
    "douglas": ("doug",),
    "albert": ("bert", "al"),
    "alfred": ("alf", "alfie"),
    "archibald": ("archie",),
    "francis": ("frank", "frankie"),
    "oliver": ("ollie",),
    "joshua": ("josh",),
    "zachary": ("zach", "zack"),
    "nathaniel": ("nat", "nate"),
    "nathan": ("nate",),
    "jacob": ("jake",),
    "elizabeth": ("liz", "lizzie", "lizzy", "beth", "betty", "bess", "eliza", "libby"),
    "margaret": ("maggie", "peggy", "meg", "margo", "madge"),
    "catherine": ("kate", "cathy", "katie", "kath"),
    "katherine": ("kate", "kathy", "katie", "kath"),
    "kathleen": ("kath", "kathy"),
    "jennifer": ("jen", "jenny"),
    "rebecca": ("becky", "becca"),
    "victoria": ("vicky", "vikki", "tori"),
    "alexandra": ("alex", "lexi", "sandra"),
    "samantha": ("sam", "sammy"),
    "susan": ("sue", "susie"),
    "deborah": ("debbie", "deb", "debs"),
    "patricia": ("pat", "patsy", "trish"),
    "christine": ("chris", "chrissie"),
    "christina": ("chris", "tina"),
    "jacqueline": ("jackie",),
    "josephine": ("jo", "josie"),
    "joanne": ("jo",),
    "joanna": ("jo",),
    "dorothy": ("dot", "dottie"),
    "barbara": ("barb", "babs"),
    "abigail": ("abby", "abi"),
    "eleanor": ("ellie", "nell"),
    "helen": ("nell",),
    "isabella": ("bella", "izzy"),
    "isabel": ("izzy", "bel"),
    "charlotte": ("lottie", "charlie"),
    "amanda": ("mandy",),
    "judith": ("judy",),
    "pamela": ("pam",),
    "theresa": ("tess", "terri"),
    "teresa": ("tess", "terri"),
    "frances": ("fran", "frankie"),
    "gillian": ("gill", "jill"),
    "penelope": ("penny",),
    "valerie": ("val",),
    "jessica": ("jess", "jessie"),
    "natalie": ("nat",),
    "nicola": ("nicky", "nikki"),
    "stephanie": ("steph",),
    "caroline": ("carrie",),
    "mohammed": ("mo",),
    "muhammad": ("mo",),
    "mohammad": ("mo",),
}
_FORMAL_OF: dict[str, frozenset[str]] = {}
for _formal, _nicks in NICKNAMES.items():
    for _nick in _nicks:
        _FORMAL_OF[_nick] = _FORMAL_OF.get(_nick, frozenset()) | {_formal}


@lru_cache(maxsize=65536)
def first_name_forms(name: str | None) -> frozenset[str]:
    """Every form a standardised given name may stand for: itself and its formal names.

    Two given names are equivalent when their forms intersect (bill and will
    both include william). Only the first token of a multi-word given name is used.
    """
    if not name:
        return frozenset()
    head = name.split(" ", 1)[0]
    return frozenset({head}) | _FORMAL_OF.get(head, frozenset())


def canonical_first_name(value: Any) -> str | None:
    """One canonical form of a given name: the formal name for a diminutive (Bill -> william).

    A diminutive of several formal names (Alex) gets the first alphabetically,
    so the canonical form suits blocking; use ``first_name_forms`` to compare.
    """
    name = standardise_name(value)
    if name is None:
        return None
    head = name.split(" ", 1)[0]
    formal = _FORMAL_OF.get(head)
    if head in NICKNAMES or not formal:
        return head
    return min(formal)


def canonical_first_names(values: Column) -> list | pa.Array:
    return _map_column(values, canonical_first_name, pa.string())


# --------------------------------------------------------------------------- dates

_ISO = re.compile(r"^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[T ][0-9:.]+Z?)?$")
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SLASHED = re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$")
MIN_YEAR, MAX_YEAR = 1850, 2100


def _make_date(year: int, month: int, day: int) -> date | None:
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        return date(year, month, day)
    except ValueError:
        return None


def parse_date(value: Any, day_first: bool = True) -> date | None:
    """One date: a date/datetime, ISO, YYYYMMDD, or DD/MM/YYYY (MM/DD/YYYY if not ``day_first``)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = _text(value)
    if text is None:
        return None
    if m := _ISO.match(text):
        return _make_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _COMPACT.match(text):
        return _make_date(int(m[1]), int(m[2]), int(m[3]))
    if m := _SLASHED.match(text):
        a, b, year = int(m[1]), int(m[2]), int(m[3])
        return _make_date(year, b, a) if day_first else _make_date(year, a, b)
    return None


@dataclass
class DateColumn:
    """A column of dates read from text, and how it was read."""

    values: list | pa.Array
    column: str
    day_first: bool  # how DD/MM vs MM/DD values were read
    detected: bool  # False: no value showed the order, so the UK day-first convention was assumed
    invalid_rows: list[int] = field(default_factory=list)  # 0-based rows set to None (within the tolerance)
    note: str = ""


def standardise_dates(values: Column, column: str = "dob", tolerance: float = 0.01) -> DateColumn:
    """Read a column of dates, detecting DD/MM/YYYY vs MM/DD/YYYY from the data.

    Slashed dates are day-first if any has a first part over 12, month-first if
    any has a second part over 12; if both occur, the minority is treated as
    invalid when within the tolerance, otherwise the column is rejected. If no
    value shows the order, day-first (the UK convention) is assumed and the
    note says so. Values that are not dates (beyond ``tolerance`` of the
    non-empty values, and at least one) make the whole column invalid: an
    InvalidInput naming the column and the first bad rows (never their values).
    """
    arrow = isinstance(values, (pa.Array, pa.ChunkedArray))
    if arrow and (pa.types.is_date(values.type) or pa.types.is_timestamp(values.type)):
        out = values.cast(pa.date32()) if not pa.types.is_date32(values.type) else values
        if isinstance(out, pa.ChunkedArray):
            out = out.combine_chunks() if out.num_chunks else pa.array([], type=pa.date32())
        return DateColumn(out, column, True, True, note="already dates")
    items = values.to_pylist() if arrow else list(values)
    first_big = second_big = 0
    for v in items:
        if isinstance(v, str) and (m := _SLASHED.match(v.strip())):
            first_big += int(m[1]) > 12
            second_big += int(m[2]) > 12
    present = sum(1 for v in items if _text(v) is not None or isinstance(v, date))
    allowed = int(tolerance * present)
    if first_big and second_big:
        if min(first_big, second_big) > allowed:
            raise InvalidInput(
                f"column '{column}': dates mix day-first and month-first order "
                f"({first_big} values read only as DD/MM/YYYY, {second_big} only as MM/DD/YYYY)")
        day_first, detected = first_big >= second_big, True
    elif second_big:
        day_first, detected = False, True
    else:
        day_first, detected = True, bool(first_big)
    parsed = [parse_date(v, day_first) for v in items]
    bad = [i for i, (v, p) in enumerate(zip(items, parsed)) if p is None and (_text(v) is not None)]
    if len(bad) > allowed:
        rows = ", ".join(str(i + 1) for i in bad[:5])
        raise InvalidInput(
            f"column '{column}': {len(bad)} of {present} values are not dates in a known format "
            f"(YYYY-MM-DD, DD/MM/YYYY, MM/DD/YYYY, YYYYMMDD); first at row {rows}")
    if detected:
        note = "day-first (DD/MM/YYYY)" if day_first else "month-first (MM/DD/YYYY)"
    else:
        note = "no value showed the day/month order: read as day-first (DD/MM/YYYY), the UK convention"
        if any(isinstance(v, str) and _SLASHED.match(v.strip()) for v in items):
            log.info("column '%s': %s", column, note)
    if bad:
        note += f"; {len(bad)} unreadable value(s) left empty"
    out_values: list | pa.Array = pa.array(parsed, type=pa.date32()) if arrow else parsed
    return DateColumn(out_values, column, day_first, detected, bad, note)


# --------------------------------------------------------------------------- postcodes

# Outward code: A9, A99, AA9, AA99, A9A, AA9A with the letters each position may hold;
# inward code: a digit and two letters from ABDEFGHJLNPQRSTUWXYZ.
_POSTCODE = re.compile(
    r"^(?:[A-PR-UWYZ][0-9]{1,2}|[A-PR-UWYZ][A-HK-Y][0-9]{1,2}|[A-PR-UWYZ][0-9][A-HJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY])[0-9][ABD-HJLNP-UW-Z]{2}$"
)
_SPACE = re.compile(r"\s+")


def standardise_postcode(value: Any) -> str | None:
    """'sw1a1aa' -> 'SW1A 1AA'; None if empty or not a valid UK postcode."""
    text = _text(value)
    if text is None:
        return None
    code = _SPACE.sub("", text).upper()
    if code == "GIR0AA":
        return "GIR 0AA"
    if not _POSTCODE.match(code):
        return None
    return f"{code[:-3]} {code[-3:]}"


def standardise_postcodes(values: Column) -> list | pa.Array:
    return _map_column(values, standardise_postcode, pa.string())


def postcode_outward(postcode: str | None) -> str | None:
    return postcode.split(" ", 1)[0] if postcode else None


# --------------------------------------------------------------------------- NINO

NINO_UNALLOCATED = frozenset({"BG", "GB", "KN", "NK", "NT", "TN", "ZZ"})


def standardise_nino(value: Any) -> str | None:
    """'qq 12 34 56 c' -> 'QQ123456C'; None if empty or not a valid NINO.

    The letter rules are accord.privacy.pseudonymise.normalise_nino's (first
    letter not D F I Q U V, second not D F I O Q U V, six digits, suffix A-D);
    this adds the prefixes never allocated (BG GB KN NK NT TN ZZ).
    """
    text = _text(value)
    if text is None:
        return None
    try:
        nino = normalise_nino(text)
    except InvalidInput:
        return None
    return None if nino[:2] in NINO_UNALLOCATED else nino


def is_valid_nino(value: Any) -> bool:
    return standardise_nino(value) is not None


def standardise_ninos(values: Column) -> list | pa.Array:
    return _map_column(values, standardise_nino, pa.string())


# --------------------------------------------------------------------------- addresses, UPRN, sex

ADDRESS_ABBREVIATIONS = {
    "rd": "road", "st": "street", "str": "street", "ave": "avenue", "av": "avenue", "ln": "lane", "dr": "drive",
    "drv": "drive", "cl": "close", "ct": "court", "crt": "court", "cres": "crescent", "cresc": "crescent",
    "cr": "crescent", "gdns": "gardens", "gdn": "garden", "gr": "grove", "gro": "grove", "pl": "place",
    "sq": "square", "ter": "terrace", "terr": "terrace", "tce": "terrace", "pk": "park", "pde": "parade",
    "hse": "house", "ho": "house", "blvd": "boulevard", "wy": "way", "mt": "mount", "hts": "heights",
    "cott": "cottage", "cotts": "cottages", "est": "estate", "fm": "farm", "flt": "flat", "apt": "apartment",
    "bldg": "building", "bldgs": "buildings", "n": "north", "s": "south", "e": "east", "w": "west",
    "upr": "upper", "lwr": "lower", "gt": "great", "lt": "little",
}
_ADDRESS_SPLIT = re.compile(r"[^a-z0-9]+")


def address_tokens(value: Any) -> tuple[str, ...]:
    """'12a, High St.' -> ('12a', 'high', 'street')."""
    text = _text(value)
    if text is None:
        return ()
    text = ascii_fold(text).lower().replace("'", "")
    return tuple(ADDRESS_ABBREVIATIONS.get(t, t) for t in _ADDRESS_SPLIT.split(text) if t)


def standardise_address(value: Any) -> str | None:
    tokens = address_tokens(value)
    return " ".join(tokens) if tokens else None


def standardise_addresses(values: Column) -> list | pa.Array:
    return _map_column(values, standardise_address, pa.string())


def standardise_uprn(value: Any) -> str | None:
    """A UPRN as digits without leading zeros (at most 12), or None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        text = str(value)
    else:
        text = _text(value)
        if text is None:
            return None
        if text.endswith(".0"):  # a UPRN read as a float from a spreadsheet
            text = text[:-2]
    if not text.isdigit() or not text.isascii():
        return None
    text = text.lstrip("0")
    return text if 0 < len(text) <= 12 else None


def standardise_uprns(values: Column) -> list | pa.Array:
    return _map_column(values, standardise_uprn, pa.string())


_SEX = {"m": "M", "male": "M", "man": "M", "1": "M", "f": "F", "female": "F", "woman": "F", "2": "F"}


def standardise_sex(value: Any) -> str | None:
    text = _text(value)
    return _SEX.get(text.lower()) if text else None


# --------------------------------------------------------------------------- mapping and tables


# Column names under which bodies' files and registered datasets hold each standard field, in the
# order they are looked for: the one table every reader of records uses.
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "first_name": ("first_name", "forename", "given_name", "first_names"),
    "middle_name": ("middle_name", "middle_names"),
    "surname": ("surname", "last_name", "family_name"),
    "dob": ("dob", "date_of_birth", "birth_date"),
    "postcode": ("postcode", "post_code", "supply_postcode"),
    "address": ("address", "address_line_1", "supply_address_line_1", "address_1", "address_line1"),
    "nino": ("nino", "national_insurance_number"),
}


def known_columns(columns: Iterable[str], fields: Iterable[str] | None = None,
                  exclude: Iterable[str] = ()) -> dict[str, str]:
    """{standard field: column} for the columns named as a field or one of its aliases (``COLUMN_ALIASES``).

    ``fields`` limits the fields looked for (default: every aliased field); ``exclude``
    names columns that hold something else (an account reference, say).
    """
    present = [c for c in columns if c not in set(exclude)]
    found = {}
    for std in (fields if fields is not None else COLUMN_ALIASES):
        column = next((a for a in COLUMN_ALIASES.get(std, (std,)) if a in present), None)
        if column is not None:
            found[std] = column
    return found


def resolve_mapping(columns: Iterable[str], mapping: Mapping[str, str] | None = None,
                    source: str = "input") -> dict[str, str]:
    """{standard field: column} from the user's mapping plus columns already named as a standard field."""
    columns = list(columns)
    mapping = dict(mapping or {})
    unknown = [k for k in mapping if k not in STANDARD_FIELDS]
    if unknown:
        raise InvalidInput(f"{source}: '{unknown[0]}' is not a standard field "
                           f"(standard fields: {', '.join(STANDARD_FIELDS)})")
    for std, col in mapping.items():
        if col not in columns:
            raise InvalidInput(f"{source}: column '{col}' (mapped to {std}) is not in the input "
                               f"(columns: {', '.join(columns)})")
    for std in STANDARD_FIELDS:
        if std not in mapping and std in columns:
            mapping[std] = std
    return {std: mapping[std] for std in STANDARD_FIELDS if std in mapping}


@dataclass
class StandardTable:
    """A source's records with standard columns: ``id`` and each mapped standard field."""

    table: pa.Table
    mapping: dict[str, str]
    dates: DateColumn | None = None


_STANDARDISERS: dict[str, Callable[[Column], list | pa.Array]] = {
    "first_name": standardise_names,
    "middle_name": standardise_names,
    "surname": standardise_names,
    "postcode": standardise_postcodes,
    "address": standardise_addresses,
    "nino": standardise_ninos,
    "uprn": standardise_uprns,
    "sex": lambda v: _map_column(v, standardise_sex, pa.string()),
}


def standardise_table(data: pa.Table | Sequence[Mapping[str, Any]], mapping: Mapping[str, str] | None = None,
                      id_column: str | None = "record_id", source: str = "input",
                      date_tolerance: float = 0.01) -> StandardTable:
    """Standard columns for every mapped field; ``id`` from ``id_column`` (or the row number)."""
    table = data if isinstance(data, pa.Table) else pa.Table.from_pylist(list(data))
    resolved = resolve_mapping(table.column_names, mapping, source)
    if id_column is not None and id_column not in table.column_names:
        raise InvalidInput(f"{source}: id column '{id_column}' is not in the input")
    if id_column is None:
        ids: pa.Array = pa.array([str(i) for i in range(table.num_rows)], type=pa.string())
    else:
        ids = table.column(id_column).cast(pa.string()).combine_chunks()
    names, arrays = ["id"], [ids]
    dates = None
    for std, col in resolved.items():
        values = table.column(col)
        if std == "dob":
            if not (pa.types.is_date(values.type) or pa.types.is_timestamp(values.type)):
                values = values.cast(pa.string())
            dates = standardise_dates(values, column=col, tolerance=date_tolerance)
            out = dates.values
        else:
            if not pa.types.is_string(values.type) and not pa.types.is_large_string(values.type):
                values = values.cast(pa.string())
            out = _STANDARDISERS[std](values)
        names.append(std)
        arrays.append(out)
    return StandardTable(pa.table(arrays, names=names), resolved, dates)


def standardise_record(record: Mapping[str, Any], mapping: Mapping[str, str] | None = None) -> dict[str, Any]:
    """One record (e.g. a verification request) in standard form, keyed by standard field."""
    resolved = resolve_mapping(record.keys(), mapping, "record")
    one = {
        "first_name": standardise_name, "middle_name": standardise_name, "surname": standardise_name,
        "dob": parse_date, "postcode": standardise_postcode, "address": standardise_address,
        "nino": standardise_nino, "uprn": standardise_uprn, "sex": standardise_sex,
    }
    out: dict[str, Any] = {}
    for std, col in resolved.items():
        value = record[col]
        if std == "dob" and value is not None and parse_date(value) is None and _text(value) is not None:
            raise InvalidInput(f"record: '{col}' is not a date in a known format")
        out[std] = one[std](value)
    return out

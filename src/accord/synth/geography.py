"""Synthetic geography: real UK postcode areas, fictional councils, generated streets.

The postcode areas and their post towns are facts (the list of areas is
public); districts are plausible rather than real (some generated districts do
not exist), and every street is made up. Postcodes are valid in format: outward
code (area, district) and inward code (sector digit, then two unit letters from
the allowed set ABDEFGHJLNPQRSTUWXYZ).

Councils and energy suppliers are fictional. Each council covers a group of
postcode areas, so a council's addresses are geographically coherent.
"""

from __future__ import annotations

import re

import numpy as np

# Postcode area -> post town of the area (as commonly named).
AREAS: dict[str, str] = {
    "AB": "Aberdeen", "AL": "St Albans", "B": "Birmingham", "BA": "Bath", "BB": "Blackburn",
    "BD": "Bradford", "BH": "Bournemouth", "BL": "Bolton", "BN": "Brighton", "BR": "Bromley",
    "BS": "Bristol", "BT": "Belfast", "CA": "Carlisle", "CB": "Cambridge", "CF": "Cardiff",
    "CH": "Chester", "CM": "Chelmsford", "CO": "Colchester", "CR": "Croydon", "CT": "Canterbury",
    "CV": "Coventry", "CW": "Crewe", "DA": "Dartford", "DD": "Dundee", "DE": "Derby",
    "DG": "Dumfries", "DH": "Durham", "DL": "Darlington", "DN": "Doncaster", "DT": "Dorchester",
    "DY": "Dudley", "E": "London", "EC": "London", "EH": "Edinburgh", "EN": "Enfield",
    "EX": "Exeter", "FK": "Falkirk", "FY": "Blackpool", "G": "Glasgow", "GL": "Gloucester",
    "GU": "Guildford", "HA": "Harrow", "HD": "Huddersfield", "HG": "Harrogate", "HP": "Hemel Hempstead",
    "HR": "Hereford", "HS": "Stornoway", "HU": "Hull", "HX": "Halifax", "IG": "Ilford",
    "IP": "Ipswich", "IV": "Inverness", "KA": "Kilmarnock", "KT": "Kingston upon Thames", "KW": "Kirkwall",
    "KY": "Kirkcaldy", "L": "Liverpool", "LA": "Lancaster", "LD": "Llandrindod Wells", "LE": "Leicester",
    "LL": "Llandudno", "LN": "Lincoln", "LS": "Leeds", "LU": "Luton", "M": "Manchester",
    "ME": "Rochester", "MK": "Milton Keynes", "ML": "Motherwell", "N": "London", "NE": "Newcastle upon Tyne",
    "NG": "Nottingham", "NN": "Northampton", "NP": "Newport", "NR": "Norwich", "NW": "London",
    "OL": "Oldham", "OX": "Oxford", "PA": "Paisley", "PE": "Peterborough", "PH": "Perth",
    "PL": "Plymouth", "PO": "Portsmouth", "PR": "Preston", "RG": "Reading", "RH": "Redhill",
    "RM": "Romford", "S": "Sheffield", "SA": "Swansea", "SE": "London", "SG": "Stevenage",
    "SK": "Stockport", "SL": "Slough", "SM": "Sutton", "SN": "Swindon", "SO": "Southampton",
    "SP": "Salisbury", "SR": "Sunderland", "SS": "Southend-on-Sea", "ST": "Stoke-on-Trent", "SW": "London",
    "SY": "Shrewsbury", "TA": "Taunton", "TD": "Galashiels", "TF": "Telford", "TN": "Tonbridge",
    "TQ": "Torquay", "TR": "Truro", "TS": "Middlesbrough", "TW": "Twickenham", "UB": "Southall",
    "W": "London", "WA": "Warrington", "WC": "London", "WD": "Watford", "WF": "Wakefield",
    "WN": "Wigan", "WR": "Worcester", "WS": "Walsall", "WV": "Wolverhampton", "YO": "York",
    "ZE": "Lerwick",
}

# Approximate number of districts in an area (default 20). Plausible, not exact.
_DISTRICTS = {
    "B": 98, "M": 90, "G": 84, "BT": 94, "L": 40, "S": 45, "LS": 29, "BD": 24, "NE": 70, "SE": 28,
    "E": 18, "N": 22, "NW": 11, "W": 14, "SW": 20, "AB": 56, "EH": 55, "CF": 72, "SA": 73, "BS": 49,
    "PA": 80, "PH": 50, "IV": 63, "KA": 30, "KW": 17, "HS": 9, "ZE": 3, "LD": 8, "TD": 15, "DG": 16,
    "FK": 21, "KY": 16, "ML": 12, "DD": 11, "CR": 9, "BR": 8, "SM": 7, "HA": 9, "UB": 11, "WD": 25,
    "EN": 11, "IG": 11, "RM": 20, "KT": 24, "TW": 20, "SL": 9, "WC": 2, "EC": 4, "LU": 7, "SG": 19,
}
# Central London districts carry a letter (EC1A, WC2H, W1T, SW1A ...).
_LETTERED = {
    "EC": ["1A", "1M", "1N", "1R", "1V", "1Y", "2A", "2M", "2N", "2R", "2V", "2Y",
           "3A", "3M", "3N", "3R", "3V", "4A", "4M", "4N", "4R", "4V", "4Y"],
    "WC": ["1A", "1B", "1E", "1H", "1N", "1R", "1V", "1X", "2A", "2B", "2E", "2H", "2N", "2R"],
}
_EXTRA_LETTERED = {"W": ["1A", "1B", "1C", "1D", "1F", "1G", "1H", "1J", "1K", "1S", "1T", "1U", "1W"],
                   "SW": ["1A", "1E", "1H", "1P", "1V", "1W", "1X", "1Y"]}
UNIT_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"

# Fictional councils, each covering a group of real postcode areas, with a modelled share of households.
COUNCILS: dict[str, dict] = {
    "northshire-council": {
        "name": "Northshire County Council",
        "share": 0.30,
        "areas": ["NE", "DH", "SR", "TS", "DL", "YO", "HG", "LS", "BD", "HX", "HD", "WF", "S", "DN", "HU",
                  "LA", "CA", "BB", "BL", "PR", "FY", "WN", "OL", "M", "SK", "WA", "L", "CH", "CW"],
    },
    "westmere-council": {
        "name": "Westmere Borough Council",
        "share": 0.22,
        "areas": ["B", "CV", "DY", "WS", "WV", "ST", "TF", "SY", "HR", "WR", "GL", "DE", "LE", "NG",
                  "CF", "NP", "SA", "LD", "LL", "BS", "BA", "TA", "EX", "TQ", "PL", "TR"],
    },
    "southshire-council": {
        "name": "Southshire District Council",
        "share": 0.25,
        "areas": ["E", "EC", "N", "NW", "SE", "SW", "W", "WC", "BR", "CR", "DA", "EN", "HA", "IG", "KT",
                  "RM", "SM", "TW", "UB", "BN", "CT", "ME", "TN", "RH", "GU", "PO", "SO", "BH", "DT",
                  "SP", "SN", "RG", "OX", "SL", "HP", "WD", "AL"],
    },
    "fenley-council": {
        "name": "Fenley District Council (fictional)",
        "share": 0.13,
        "areas": ["CB", "PE", "NR", "IP", "CO", "CM", "SS", "LN", "NN", "MK", "LU", "SG"],
    },
    "highmoor-council": {
        "name": "Highmoor Council (fictional)",
        "share": 0.10,
        "areas": ["AB", "DD", "DG", "EH", "FK", "G", "HS", "IV", "KA", "KW", "KY", "ML", "PA", "PH",
                  "TD", "ZE", "BT"],
    },
}
COUNCIL_IDS = list(COUNCILS)

# Fictional energy suppliers and modelled market shares.
SUPPLIERS: dict[str, float] = {
    "brightwatt-energy": 0.30,
    "kettleby-energy": 0.25,
    "greyford-power": 0.25,
    "lanternfield-energy": 0.20,
}
SUPPLIER_IDS = list(SUPPLIERS)

STREET_ROOTS = [
    "High", "Station", "Church", "Main", "Park", "Victoria", "Green", "Manor", "Mill", "School", "Queens",
    "Kings", "New", "Grange", "Windsor", "Albert", "Chapel", "Springfield", "Highfield", "Westfield",
    "Orchard", "Meadow", "Oak", "Elm", "Beech", "Ash", "Willow", "Cedar", "Birch", "Hawthorn", "Holly",
    "Rowan", "Larch", "Maple", "Chestnut", "Sycamore", "Alexandra", "York", "Stanley", "George", "Market",
    "Bridge", "North", "South", "East", "West", "Castle", "Farm", "Hill", "Cross", "Brook", "Mount",
    "Pleasant", "Spring", "Prospect", "Richmond", "Cambridge", "Warwick", "Nelson", "Wellington",
    "Marlborough", "Regent", "Princes", "Crown", "Abbey", "Priory", "Vicarage", "Rectory", "Glebe",
    "Hall", "Common", "Field", "Moor", "Heath", "Forest", "Woodland", "Valley", "River", "Lake", "Bank",
    "Garden", "Rose", "Lavender", "Primrose", "Bluebell", "Daisy", "Heather", "Ivy", "Laurel", "Poplar",
    "Sandy", "Stone", "Coronation", "Jubilee", "Trinity", "St Mary's", "St John's", "St Andrew's",
    "St Peter's", "Orchard View", "Fairfield", "Broadway", "Longfield", "Ashfield", "Brookfield",
    "Greenfield", "Hollybush", "Kingsway", "Parkside", "Riverside", "Woodside", "Lakeside", "Hillside",
]
STREET_SUFFIXES = ["Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Court", "Crescent",
                   "Gardens", "Grove", "Place", "Terrace", "View", "Walk", "Mews", "Rise", "Row", "Square"]
# Suffix weights: Road and Street are the commonest.
STREET_SUFFIX_WEIGHTS = np.array([22, 16, 10, 9, 9, 6, 5, 4, 4, 4, 3, 3, 2, 1, 1, 1, 1, 1, 1], dtype=float)

POSTCODE_RE = re.compile(
    r"^(?:[A-PR-UWYZ][0-9][0-9]?|[A-PR-UWYZ][A-HK-Y][0-9][0-9]?|[A-PR-UWYZ][0-9][A-HJKPSTUW]"
    r"|[A-PR-UWYZ][A-HK-Y][0-9][ABEHMNPRVWXY]) [0-9][ABD-HJLNP-UW-Z]{2}$"
)


def is_valid_postcode(text: str) -> bool:
    """True for a postcode in the standard written form (upper case, one space)."""
    return bool(POSTCODE_RE.match(text)) and text.split(" ")[0][:2].rstrip("0123456789") in AREAS


def normalise_postcode(text: str) -> str:
    """Upper case, no inner spaces, then one space before the inward code."""
    compact = re.sub(r"\s+", "", text).upper()
    return f"{compact[:-3]} {compact[-3:]}" if len(compact) > 3 else compact


def districts(area: str) -> list[str]:
    if area in _LETTERED:
        return list(_LETTERED[area])
    count = _DISTRICTS.get(area, 20)
    result = [str(d) for d in range(1, count + 1)]
    return result + _EXTRA_LETTERED.get(area, [])


def council_sectors(council: str) -> list[str]:
    """Every postcode sector ('LS12 3') in a council's areas, in a fixed order."""
    sectors = []
    for area in COUNCILS[council]["areas"]:
        for district in districts(area):
            for digit in range(10):
                sectors.append(f"{area}{district} {digit}")
    return sectors

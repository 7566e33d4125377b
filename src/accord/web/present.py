"""Turn register entries into what a person reads: names, plain dates, labelled rows.

The register entry (accord.registry.agreements.register_entry) is the single
published shape of an agreement; the pages show that shape and nothing more,
so the HTML can never publish a field the JSON and CSV do not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from markupsafe import Markup, escape

from accord.framework import Framework

# Label and GOV.UK tag colour for each public status. Colours follow the Design
# System's guidance: green for "done/in force", blue for "in progress", red for
# a stop, grey for "no longer relevant".
STATUS_TAGS: dict[str, tuple[str, str]] = {
    "consultation": ("In consultation", "govuk-tag--blue"),
    "active": ("Active", "govuk-tag--green"),
    "suspended": ("Suspended", "govuk-tag--orange"),
    "expired": ("Expired", "govuk-tag--grey"),
    "revoked": ("Revoked", "govuk-tag--red"),
    "draft": ("Draft", "govuk-tag--grey"),
}

_DURATION = re.compile(r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?$")


def _uk_zone() -> tzinfo | None:
    """UK time for people in the UK; None (show UTC) where the tz database is absent."""
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:
        return None


UK_TIME = _uk_zone()


def status_label(status: str) -> str:
    return STATUS_TAGS.get(status, (status.capitalize(), ""))[0]


def status_classes(status: str) -> str:
    return STATUS_TAGS.get(status, ("", "govuk-tag--grey"))[1]


def long_date(value: date | str | None) -> str:
    """GOV.UK style: 1 April 2026 (no leading zero, month in words)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)
    if isinstance(value, datetime):
        value = _local(value).date()
    return f"{value.day} {value:%B %Y}"


def long_datetime(value: datetime | str | None) -> str:
    """GOV.UK style: 5:30pm on 1 April 2026 (midday and midnight in words), in UK time."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = _local(value)
    return f"{_clock(local)} on {local.day} {local:%B %Y}" + ("" if UK_TIME else " (UTC)")


def _local(value: datetime) -> datetime:
    return value.astimezone(UK_TIME) if UK_TIME and value.tzinfo else value


def _clock(value: datetime) -> str:
    if (value.hour, value.minute) == (12, 0):
        return "midday"
    if (value.hour, value.minute) == (0, 0):
        return "midnight"
    hour = value.hour % 12 or 12
    minutes = f":{value.minute:02d}" if value.minute else ""
    return f"{hour}{minutes}{'am' if value.hour < 12 else 'pm'}"


def duration(value: str) -> str:
    """ISO 8601 retention periods (P6M) in words (6 months); anything else as given."""
    match = _DURATION.match(value or "")
    if not match or not any(match.groupdict().values()):
        return value
    parts = []
    for unit, amount in match.groupdict().items():
        if amount:
            number = int(amount)
            parts.append(f"{number} {unit[:-1] if number == 1 else unit}")
    return ", ".join(parts)


def plural(count: int, singular: str, many: str | None = None) -> str:
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


# ----------------------------------------------------------- summary lists

Value = str | list[str] | Markup | None


@dataclass
class Section:
    """One summary card: a title and (key, value) rows in the order people read them."""

    title: str
    rows: list[tuple[str, Value]] = field(default_factory=list)

    def summary_list(self) -> dict:
        """Parameters for govukSummaryList, values escaped here so templates pass them as HTML."""
        return {
            "card": {"title": {"text": self.title}},
            "rows": [{"key": {"text": key}, "value": {"html": value_html(value)}} for key, value in self.rows],
        }


def value_html(value: Value) -> Markup:
    """Text is escaped, lists become a GOV.UK list, Markup passes as built; empty says so."""
    if value is None or value == "" or value == []:
        return Markup('<span class="govuk-hint govuk-!-margin-bottom-0">None</span>')
    if isinstance(value, Markup):
        return value
    if isinstance(value, list):
        if len(value) == 1:
            return escape(value[0])
        items = Markup("").join(Markup("<li>{}</li>").format(item) for item in value)
        return Markup('<ul class="govuk-list govuk-list--bullet">{}</ul>').format(items)
    return escape(value)


def link(href: str, text: str) -> Markup:
    return Markup('<a class="govuk-link" href="{}">{}</a>').format(href, text)


@dataclass
class Names:
    """Display names for body and dataset ids, so people read names, not keys."""

    bodies: dict[str, str]
    datasets: dict[str, str]

    def body(self, body_id: str) -> str:
        name = self.bodies.get(body_id)
        return f"{name} ({body_id})" if name else body_id

    def dataset(self, dataset_id: str) -> str:
        name = self.datasets.get(dataset_id)
        return f"{name} ({dataset_id})" if name else dataset_id


def agreement_sections(entry: dict, framework: Framework, names: Names) -> list[Section]:
    """Every published field of an agreement, grouped as a reader would look for them."""
    sections = [
        _legal_power(entry, framework),
        Section("Purpose", [("Purpose", entry["purpose"]), ("Benefits", entry["benefits"])]),
        _parties(entry, names),
        _data(entry, names),
        _handling(entry),
        _dates_and_contact(entry),
    ]
    if entry.get("pilot"):
        sections.append(_pilot(entry["pilot"]))
    return sections


def _legal_power(entry: dict, framework: Framework) -> Section:
    power = entry["legal_power"]
    gateway = framework.gateway(power["gateway"])
    objective = power["objective"]
    if gateway and objective in gateway.objectives:
        objective_title: Value = gateway.objectives[objective].title
    elif gateway and not gateway.objectives:
        objective_title = "Not applicable: this gateway has no list of objectives"
    else:
        objective_title = objective
    purpose_iri = power.get("dpv_purpose")
    return Section(
        "Legal power",
        [
            ("Gateway", power["title"]),
            ("Section", power["section"]),
            ("Objective", objective_title),
            ("Data Privacy Vocabulary purpose", link(purpose_iri, purpose_iri) if purpose_iri else None),
        ],
    )


def _parties(entry: dict, names: Names) -> Section:
    return Section(
        "Who is involved",
        [
            ("Controllers", [names.body(b) for b in entry["controllers"]]),
            ("Disclosing bodies", [names.body(b) for b in entry["disclosers"]]),
            ("Receiving bodies", [names.body(b) for b in entry["recipients"]]),
            ("Processors", list(entry["processors"])),
        ],
    )


def _data(entry: dict, names: Names) -> Section:
    rows: list[tuple[str, Value]] = [
        (names.dataset(item["dataset"]), list(item["fields"])) for item in entry["data_disclosed"]
    ]
    return Section("Data disclosed", rows or [("Datasets", None)])


def _handling(entry: dict) -> Section:
    limits = entry["limits"]
    on_excess = limits["on_excess_fields"]
    excess = {
        "minimise": "Removed: only the fields in this agreement are released",
        "deny": "Refused: the whole request is denied",
    }
    rows: list[tuple[str, Value]] = [
        ("Sharing method", entry["sharing_method"]),
        ("Retention", duration(entry["retention"])),
        ("Requests for fields outside the agreement", excess.get(on_excess, on_excess)),
        ("Most records per request", _number(limits["max_records_per_request"])),
        ("Most requests per day", _number(limits["max_requests_per_day"])),
    ]
    if "embargo" in entry:  # fraud agreements may delay telling people their data was used
        rows.append(("Delay before people can see each use of their data", duration(entry["embargo"] or "") or None))
    return Section("How data is shared and kept", rows)


def _number(value: int | None) -> str:
    return f"{value:,}" if value is not None else "No limit"


def _dates_and_contact(entry: dict) -> Section:
    contact = entry["contact"]
    contact_value: Value = link(f"mailto:{contact}", contact) if "@" in contact and " " not in contact else contact
    return Section(
        "Dates and contact",
        [
            ("Start date", long_date(entry["start_date"])),
            ("End date", long_date(entry["end_date"])),
            ("Review date", long_date(entry["review_date"]) or None),
            ("Contact", contact_value),
            ("Areas", list(entry["areas"])),
            ("Notes", entry.get("notes") or None),
        ],
    )


def _pilot(pilot: dict) -> Section:
    return Section(
        "Pilot",
        [
            ("Business case", pilot.get("business_case")),
            ("Success measures", list(pilot.get("success_measures") or [])),
        ],
    )


def history_rows(entry: dict) -> list[list[dict]]:
    """Status history as govukTable rows, oldest first, as the register records it."""
    rows = []
    for event in entry["history"]:
        to = status_label(event["to"])
        change = f"{status_label(event['from'])} to {to}" if event["from"] else to
        rows.append([{"text": long_date(event["at"])}, {"text": change}, {"text": event["reason"] or ""}])
    return rows

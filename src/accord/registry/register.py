"""The public register of agreements, as data, JSON and CSV.

Drafts are not published. Filters: body (any party), gateway, status.
"""

from __future__ import annotations

import csv
import io
from datetime import date

from sqlalchemy.orm import Session

from accord.errors import InvalidInput
from accord.framework import Framework
from accord.registry.agreements import PUBLIC_STATUSES, list_agreements, register_entry
from accord.storage.models import Body

CSV_COLUMNS = [
    "id", "name", "status", "gateway", "objective", "legal_power", "purpose", "benefits", "controllers",
    "disclosers", "recipients", "processors", "data_disclosed", "sharing_method", "retention",
    "start_date", "end_date", "review_date", "contact", "areas", "notes",
]  # fmt: skip


def register_entries(
    session: Session,
    framework: Framework,
    today: date,
    *,
    body: str | None = None,
    gateway: str | None = None,
    status: str | None = None,
) -> list[dict]:
    if gateway and gateway not in framework.gateways:
        raise InvalidInput(f"gateway '{gateway}' is not one of {', '.join(framework.gateways)}")
    if body and session.get(Body, body) is None:
        raise InvalidInput(f"no body '{body}' is registered")
    if status and status not in PUBLIC_STATUSES:
        raise InvalidInput(f"status '{status}' is not one of {', '.join(PUBLIC_STATUSES)}")
    agreements = list_agreements(session, body=body or None, gateway=gateway or None, statuses=PUBLIC_STATUSES)
    entries = [register_entry(a, framework, today) for a in agreements]
    if status:  # effective status: a live agreement past its end date shows as expired
        entries = [e for e in entries if e["status"] == status]
    return entries


def _cell(value: object) -> object:
    """Neutralise spreadsheet formulas: a public CSV must not run code when opened (OWASP CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(entries: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for entry in entries:
        power = entry["legal_power"]
        row = (
            {
                **{k: entry[k] for k in CSV_COLUMNS if k in entry and not isinstance(entry[k], list | dict)},
                "gateway": power["gateway"],
                "objective": power["objective"] or "",
                "legal_power": f"{power['title']} ({power['section']})",
                "controllers": "; ".join(entry["controllers"]),
                "disclosers": "; ".join(entry["disclosers"]),
                "recipients": "; ".join(entry["recipients"]),
                "processors": "; ".join(entry["processors"]),
                "data_disclosed": "; ".join(f"{d['dataset']}: {', '.join(d['fields'])}" for d in entry["data_disclosed"]),
                "areas": "; ".join(entry["areas"]),
                "review_date": entry["review_date"] or "",
            }
        )
        writer.writerow({key: _cell(value) for key, value in row.items()})
    return out.getvalue()

"""The two forms on the public pages: register filters and a consultation comment.

Each returns its errors as {field: message} in the order the fields appear on
the page, worded as the GOV.UK Design System asks ("Enter your name"), so a
template can build both the error summary and the message beside each field.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.registry.agreements import PUBLIC_STATUSES

# The domain (accord.registry.lifecycle.add_comment) enforces the same limits and
# stays the authority; these exist to say which field is wrong, in GOV.UK words.
MAX_NAME = 200
MAX_COMMENT = 10_000


@dataclass(frozen=True)
class RegisterFilters:
    body: str = ""
    gateway: str = ""
    status: str = ""

    @classmethod
    def from_query(cls, body: str | None, gateway: str | None, status: str | None) -> "RegisterFilters":
        return cls((body or "").strip(), (gateway or "").strip(), (status or "").strip())

    def errors(self, body_ids: set[str], gateways: set[str]) -> dict[str, str]:
        errors = {}
        if self.body and self.body not in body_ids:
            errors["body"] = "Select a public body from the list"
        if self.gateway and self.gateway not in gateways:
            errors["gateway"] = "Select a legal gateway from the list"
        if self.status and self.status not in PUBLIC_STATUSES:
            errors["status"] = "Select a status from the list"
        return errors

    def query(self) -> dict[str, str]:
        """Only the filters in use, for links that carry them (JSON and CSV downloads)."""
        return {name: value for name, value in vars(self).items() if value}

    @property
    def active(self) -> bool:
        return bool(self.query())


@dataclass(frozen=True)
class CommentForm:
    author: str = ""
    organisation: str = ""
    comment: str = ""

    def errors(self) -> dict[str, str]:
        errors = {}
        if not self.author.strip():
            errors["author"] = "Enter your name"
        elif len(self.author) > MAX_NAME:
            errors["author"] = f"Name must be {MAX_NAME} characters or fewer"
        if len(self.organisation) > MAX_NAME:
            errors["organisation"] = f"Organisation must be {MAX_NAME} characters or fewer"
        if not self.comment.strip():
            errors["comment"] = "Enter your comment"
        elif len(self.comment) > MAX_COMMENT:
            errors["comment"] = f"Comment must be {MAX_COMMENT:,} characters or fewer"
        return errors


# Key for an error about the page as a whole (e.g. the consultation has closed): no field to link to.
PAGE = "page"


def error_list(errors: dict[str, str]) -> list[dict[str, str]]:
    """govukErrorSummary items, each linking to its field (the field's id is its name)."""
    return [
        {"text": message} if name == PAGE else {"text": message, "href": f"#{name}"}
        for name, message in errors.items()
    ]

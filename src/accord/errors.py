"""Domain errors shared by every layer.

Faces translate these: the API into problem+json (4xx), the CLI into one line
and exit code 2. Each carries a human sentence and, where useful, a list of
specific problems (e.g. every reason an agreement is invalid).
"""

from __future__ import annotations


class AccordError(Exception):
    """Base for errors a caller can act on. Never used for programming bugs."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str, problems: list[str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = list(problems or [])

    def __str__(self) -> str:
        if not self.problems:
            return self.detail
        return f"{self.detail}: " + "; ".join(self.problems)


class InvalidInput(AccordError):
    status = 422
    title = "Invalid input"


class NotFound(AccordError):
    status = 404
    title = "Not found"


class Conflict(AccordError):
    status = 409
    title = "Conflict"


class Forbidden(AccordError):
    status = 403
    title = "Forbidden"


class Unauthorised(AccordError):
    status = 401
    title = "Unauthorised"


class ConfigurationError(AccordError):
    status = 500
    title = "Configuration error"

"""Public pages (GOV.UK Design System): the register of agreements and consultation."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    from accord.web import views

    views.install(app)

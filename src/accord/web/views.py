"""Placeholder: the register pages are built in accord.web.views (see issue 2, item 6)."""

from __future__ import annotations

from fastapi import FastAPI


def install(app: FastAPI) -> None:
    return None

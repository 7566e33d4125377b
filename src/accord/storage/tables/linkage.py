"""Tables: linkage models stored per agreement (issue 5).

A probabilistic linkage model is trained once for an agreement and reused by
every later run under it, so the hub keeps each trained version. The model
itself is the engine-neutral JSON document of ``accord.linkage.probabilistic``
(field names and m/u probabilities: no personal data); ``training`` summarises
what it was trained on (row counts, fields, EM sessions), never the records.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from accord.storage.models import Base, Int64
from accord.storage.types import UTCDateTime


class LinkageModelRecord(Base):
    """One trained version of an agreement's linkage model; the highest version is the one in use."""

    __tablename__ = "linkage_models"
    __table_args__ = (UniqueConstraint("agreement_id", "version", name="uq_linkage_models_agreement_version"),)

    id: Mapped[int] = mapped_column(Int64, primary_key=True, autoincrement=True)
    agreement_id: Mapped[str] = mapped_column(ForeignKey("agreements.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    model: Mapped[str] = mapped_column(Text)  # the model's JSON document, as written to a --model file
    fields: Mapped[list[str]] = mapped_column(JSON)
    trained_at: Mapped[datetime] = mapped_column(UTCDateTime())
    training: Mapped[dict[str, Any]] = mapped_column(JSON)
    trained_by: Mapped[str] = mapped_column(String(64))

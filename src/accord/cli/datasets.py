"""`accord datasets`: datasets held by bodies."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from accord.cli.common import console, open_hub, parse_as
from accord.clock import utcnow
from accord.files import read_structured
from accord.registry import datasets
from accord.registry.specs import DatasetSpec
from accord.services import holdings

app = typer.Typer(help="Datasets held by bodies, with their classified fields.", no_args_is_help=True)


@app.command("add")
def add(path: Annotated[Path, typer.Argument(help="YAML or JSON file describing the dataset")]) -> None:
    """Register a dataset from a file."""
    spec = parse_as(DatasetSpec, read_structured(path), str(path))
    hub = open_hub()
    with hub.transaction() as session:
        datasets.add_dataset(session, hub.framework, spec, utcnow())
    console.print(f"registered dataset {spec.id} of {spec.body_id} ({len(spec.fields)} fields)")


@app.command("list")
def list_(body: Annotated[str | None, typer.Option(help="Only this body's datasets")] = None) -> None:
    """List datasets."""
    hub = open_hub()
    table = Table("id", "body", "name", "fields")
    with hub.transaction() as session:
        for dataset in datasets.list_datasets(session, body):
            table.add_row(dataset.id, dataset.body_id, dataset.name, str(len(dataset.fields)))
    console.print(table)


@app.command("load")
def load(
    dataset_id: Annotated[str, typer.Argument(metavar="DATASET", help="The registered dataset the records belong to")],
    path: Annotated[Path, typer.Argument(metavar="FILE", help="CSV or Parquet extract of the body's records")],
) -> None:
    """Load a body's current records for a dataset (the holding the purpose services match against)."""
    info = holdings.load_holding(open_hub(), dataset_id, path)
    console.print(f"loaded {info.rows:,} records into {dataset_id} (fields: {', '.join(info.columns)}; sha256 {info.sha256[:12]})")

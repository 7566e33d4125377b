"""Where Splink runs: DuckDB in this process (the default) or Spark (local or a cluster).

Both engines take the same prepared Arrow tables and the same model file; only
how tables get in and predictions get out differs. DuckDB is tuned to stay
inside a memory budget (spilling to a temporary directory beyond it); Spark is
given Splink's similarity-function jar, which Jaro-Winkler comparisons need.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

ENGINES = ("duckdb", "spark")
DEFAULT_MEMORY_LIMIT = "6GB"  # under the 8 GB budget of the 1M x 1M benchmark; DuckDB spills beyond it


def available_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class DuckDBEngine:
    """Splink on an in-process DuckDB database with a memory limit and a spill directory."""

    name = "duckdb"
    dialect = "duckdb"

    def __init__(self, threads: int | None = None, memory_limit: str = DEFAULT_MEMORY_LIMIT,
                 temp_dir: Path | None = None) -> None:
        from splink.backends.duckdb import DuckDBAPI

        self._tmp = Path(tempfile.mkdtemp(prefix="accord-link-", dir=temp_dir))
        self.con = duckdb.connect()
        self.con.execute(f"SET threads = {threads or available_cores()}").fetchall()
        self.con.execute(f"SET memory_limit = '{memory_limit}'").fetchall()
        self.con.execute(f"SET temp_directory = '{self._tmp.as_posix()}'").fetchall()
        self.con.execute("SET enable_progress_bar = false").fetchall()
        self.con.execute("SET preserve_insertion_order = false").fetchall()
        self.db_api = DuckDBAPI(connection=self.con)

    def register(self, table: pa.Table, name: str) -> Any:
        return self.db_api.register(table, dataset_display_name=name, table_name=f"__accord_input_{name}")

    def write(self, splink_df: Any, select_sql: str, out: Path) -> int:
        """Run ``select_sql`` (FROM {table}) on the predictions and write it to ``out`` (Parquet or CSV)."""
        sql = select_sql.format(table=splink_df.physical_name)
        if out.suffix.lower() == ".csv":
            options = "FORMAT CSV, HEADER true"
        else:
            options = "FORMAT PARQUET, COMPRESSION zstd"
        written = self.con.execute(f"COPY ({sql}) TO '{_sql_path(out)}' ({options})").fetchall()
        return int(written[0][0]) if written else 0

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)


class SparkEngine:
    """Splink on Spark: a local session (``local[N]``) unless a session is handed in.

    Tables go in and predictions come out through Parquet files in a
    temporary directory, so neither side needs pandas.
    """

    name = "spark"
    dialect = "spark"

    def __init__(self, session: Any = None, master: str | None = None, driver_memory: str = "4g",
                 break_lineage: str = "parquet", temp_dir: Path | None = None) -> None:
        from splink.backends.spark import SparkAPI, similarity_jar_location

        self._tmp = Path(tempfile.mkdtemp(prefix="accord-link-spark-", dir=temp_dir))
        self._own_session = session is None
        if session is None:
            from pyspark.sql import SparkSession

            master = master or f"local[{available_cores()}]"
            local = re.fullmatch(r"local\[(\d+)\]", master)
            cores = int(local.group(1)) if local else available_cores()
            session = (
                SparkSession.builder.master(master)
                .appName("accord-link")
                .config("spark.jars", similarity_jar_location())
                .config("spark.sql.shuffle.partitions", str(cores * 2))
                .config("spark.default.parallelism", str(cores * 2))
                .config("spark.ui.showConsoleProgress", "false")
                .config("spark.driver.memory", driver_memory)
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.ui.enabled", "false")
                .config("spark.local.dir", str(self._tmp))
                .config("spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile={self._quiet_log4j()}")
                .getOrCreate()
            )
            session.sparkContext.setLogLevel("ERROR")
            session.sparkContext.setCheckpointDir(str(self._tmp / "checkpoints"))
        self.spark = session
        self.db_api = SparkAPI(spark_session=session, break_lineage_method=break_lineage)
        self._inputs = 0

    def _quiet_log4j(self) -> str:
        """Spark's own logging at ERROR: its warnings are not the user's business."""
        path = self._tmp / "log4j2.properties"
        path.write_text(
            "rootLogger.level = error\n"
            "rootLogger.appenderRef.stderr.ref = stderr\n"
            "appender.stderr.type = Console\n"
            "appender.stderr.name = stderr\n"
            "appender.stderr.target = SYSTEM_ERR\n"
            "appender.stderr.layout.type = PatternLayout\n"
            "appender.stderr.layout.pattern = spark: %p %c{1}: %m%n\n",
            encoding="utf-8",
        )
        return path.as_uri()

    def register(self, table: pa.Table, name: str) -> Any:
        self._inputs += 1
        path = self._tmp / f"input-{self._inputs}.parquet"
        pq.write_table(table, path)
        frame = self.spark.read.parquet(str(path))
        return self.db_api.register(frame, dataset_display_name=name, table_name=f"__accord_input_{name}")

    def write(self, splink_df: Any, select_sql: str, out: Path) -> int:
        sql = select_sql.format(table="__accord_predictions")
        splink_df.as_spark_dataframe().createOrReplaceTempView("__accord_predictions")
        parts = self._tmp / "predictions"
        self.spark.sql(sql).write.mode("overwrite").parquet(str(parts))
        table = pads.dataset(str(parts), format="parquet").to_table()
        if out.suffix.lower() == ".csv":
            con = duckdb.connect()
            try:
                con.register("t", table)
                con.execute(f"COPY t TO '{_sql_path(out)}' (FORMAT CSV, HEADER true)").fetchall()
            finally:
                con.close()
        else:
            pq.write_table(table, out, compression="zstd")
        return table.num_rows

    def close(self) -> None:
        try:
            if self._own_session:
                self.spark.stop()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def open_engine(name: str, temp_dir: Path | None = None, **options: Any) -> DuckDBEngine | SparkEngine:
    if name == "duckdb":
        return DuckDBEngine(temp_dir=temp_dir, **options)
    if name == "spark":
        return SparkEngine(temp_dir=temp_dir, **options)
    raise ValueError(f"unknown engine {name!r} (engines: {', '.join(ENGINES)})")

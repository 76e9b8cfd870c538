"""Stage many rows of one item from the demo city, for the verdict and load benchmarks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from connectors.filenames import parse_drop_name
from connectors.readers import open_export
from quality.standards import ItemStandard, catalogue
from quality.verdicts import FileToJudge, Stager, input_table
from tierhub.reference import divisions
from tierhub.synth.city import generate_city


def stage_replicated(con: duckdb.DuckDBPyConnection, item: ItemStandard, rows: int, work: Path, today: dt.date) -> int:
    """Stage the demo city's rows of ``item``, replicated under new file ids to ``rows`` rows."""
    city = generate_city(work / "city", scale="demo", seed=7, as_of=today)
    stager = Stager(con, item)
    for file_id, path in enumerate(sorted(city.drops.rglob("*")), start=1):
        if not path.is_file():
            continue
        name = parse_drop_name(path.name)
        if catalogue().find(name.item).code != item.code:
            continue
        source = divisions().get(name.source_code)
        read = open_export(path, source_id=source.code)
        stager.add(FileToJudge(file_id, source.code, source.prefix, name.export_date, read.batches))
    stager.flush()
    seed_rows = con.execute(f"SELECT count(*) FROM {input_table(item)}").fetchall()[0][0]
    copies = -(-rows // seed_rows)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE bench_seed AS SELECT * FROM {input_table(item)}; "
        f"CREATE OR REPLACE TEMP TABLE {input_table(item)} AS "
        f"SELECT * REPLACE (_file_id + k * 1000000 AS _file_id) FROM bench_seed, range({copies}) t(k) "
        f"LIMIT {rows}"
    )
    return int(con.execute(f"SELECT count(*) FROM {input_table(item)}").fetchall()[0][0])

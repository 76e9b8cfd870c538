"""Stage many rows of one item from the demo city, for the verdict and load benchmarks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from connectors.filenames import parse_drop_name
from connectors.readers import open_export
from quality.verdicts import FileToJudge, Stager, input_table, standard_fields
from tierhub.reference import divisions
from tierhub.standards import ItemStandard, catalogue
from tierhub.synth.city import generate_city

# Copy k of a seed row takes surname SURNAMES[k // 100 % 40] and given-name ending GIVEN[k % 100].
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶"
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国新文斌宇浩凯健俊帆帅旭宁龙林欢阳"
    "佳瑶雪琳晨峰波海亮飞鑫淑慧梅琴云莉倩颖婷玲燕丹蕾琦璐晶妍露楠洁薇颜菲婕嘉睿博远航昊然哲宏"
)


def _distinct_people(item: ItemStandard) -> dict[str, str]:
    """SQL per staged field: copy ``k`` of a seed row describes another person.

    A valid ID number gets district digits 3–6 from ``k`` and a fresh check digit (so its
    birth date and sex still agree with the row); the name gets another surname and ending.
    Everything else — dates, codes, the seed's own errors — is copied as it was.
    """
    fields = set(standard_fields(item))
    out = {}
    if "id_number" in fields:
        base = "upper(trim(id_number))"
        body = f"'12' || lpad(CAST(k % 10000 AS VARCHAR), 4, '0') || substr({base}, 7, 11)"
        out["id_number"] = (
            f"CASE WHEN k > 0 AND regexp_full_match({base}, '\\d{{17}}[\\dX]') "
            f"AND right({base}, 1) = th_id_check(left({base}, 17)) "
            f"THEN {body} || th_id_check({body}) ELSE id_number END"
        )
    if "name" in fields:
        out["name"] = (
            "CASE WHEN k > 0 AND length(name) >= 2 AND NOT contains(name, '·') THEN "
            f"substr('{SURNAMES}', CAST(k // 100 % 40 + 1 AS BIGINT), 1) || substr(name, 2, length(name) - 2) "
            f"|| substr('{GIVEN}', CAST(k % 100 + 1 AS BIGINT), 1) ELSE name END"
        )
    return out


def stage_replicated(
    con: duckdb.DuckDBPyConnection,
    item: ItemStandard,
    rows: int,
    work: Path,
    today: dt.date,
    *,
    distinct_people: bool = False,
) -> int:
    """Stage the demo city's rows of ``item``, replicated under new file ids to ``rows`` rows.

    The demo city holds a few hundred rows of an item, so plain copies describe the same few
    hundred people thousands of times: every column compresses to a tiny dictionary and the
    person master stays a few hundred rows. ``distinct_people`` gives every copy other ID
    numbers and names (see ``_distinct_people``), as a real batch would have.
    """
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
    changes = _distinct_people(item) if distinct_people else {}
    replaced = "".join(f", {expr} AS {column}" for column, expr in changes.items())
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE bench_seed AS SELECT * FROM {input_table(item)}; "
        f"CREATE OR REPLACE TEMP TABLE {input_table(item)} AS "
        f"SELECT * REPLACE (_file_id + k * 1000000 AS _file_id{replaced}) FROM bench_seed, range({copies}) t(k) "
        f"LIMIT {rows}"
    )
    return int(con.execute(f"SELECT count(*) FROM {input_table(item)}").fetchall()[0][0])

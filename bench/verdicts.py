"""Validating 1 M rows of one item: tierhub's compiled verdicts vs one hand-written DuckDB pass.

Issue #4 target: row-level reasons for 1 M rows of one item in ≤ 2× the time of a single
hand-written DuckDB query doing the same checks, memory bounded. For reference, GX's own
pandas engine runs the same item's suite on a 100 k-row slice.

The rows are the demo city's 失业登记 (JY02) rows, staged once, then replicated with new
file ids until there are ``--rows`` of them (defects included, about 6 %).

    uv run python -u bench/verdicts.py [--rows 1000000] [--gx-rows 100000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

from bench.common import git_revision, machine, write_section
from bench.staging import stage_replicated
from quality.rules import JudgeContext
from quality.verdicts import input_table, judge_staged, judged_table
from tierhub.standards import catalogue

TODAY = dt.date.today()

# The same checks as JY02's standard, written by hand as one query: booleans per check,
# ID check characters in plain SQL (ISO 7064 MOD 11-2), the same lookups and date parser.
HAND_WRITTEN = r"""
CREATE OR REPLACE TEMP TABLE hand AS
WITH v AS (
  SELECT s.*,
    upper(regexp_replace(s.id_number, '[\s''`]', '', 'g')) AS _id,
    regexp_replace(regexp_replace(s.mobile_phone, '[\s()\-]', '', 'g'), '^(\+?86|0086)(1\d{10})$', '\2') AS _mobile,
    th_date(s.birth_date) AS _birth, th_date(s.registration_date) AS _reg, th_date(s.handled_at) AS _handled,
    sx.code AS _sex, et.code AS _eth, ed.code AS _edu, ur.code AS _reason, dv.level AS _level,
    upper(replace(s.employer_uscc, ' ', '')) AS _uscc,
    list_filter(list_transform(string_split(regexp_replace(s.documents, '[,，;；/|、\s]+', '、', 'g'), '、'),
      lambda x: lower(trim(x))), lambda x: x <> '') AS _docs
  FROM $input s
  LEFT JOIN th_code_lookup sx ON sx.tbl = 'gbt2261_1_sex' AND sx.label = lower(replace(s.sex, ' ', ''))
  LEFT JOIN th_code_lookup et ON et.tbl = 'gbt3304_ethnicity' AND et.label = lower(replace(s.ethnicity, ' ', ''))
  LEFT JOIN th_code_lookup ed ON ed.tbl = 'gbt4658_education' AND ed.label = lower(replace(s.education_level, ' ', ''))
  LEFT JOIN th_code_lookup ur ON ur.tbl = 'local_unemployment_reason'
    AND ur.label = lower(replace(s.unemployment_reason, ' ', ''))
  LEFT JOIN th_divisions dv ON dv.code = s.community_code
), c AS (
  SELECT v.*,
    CASE WHEN regexp_full_match(_id, '\d{17}[\dX]') THEN
      ['1','0','X','9','8','7','6','5','4','3','2'][CAST(1 + (list_sum(list_transform(range(17),
        lambda i: CAST(substr(_id, i + 1, 1) AS INTEGER) * [7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2][i + 1])) % 11)
        AS BIGINT)]
    END AS _check,
    CASE WHEN regexp_full_match(_uscc, '[0-9A-HJ-NP-RTUW-Y]{18}') THEN
      substr('0123456789ABCDEFGHJKLMNPQRTUWXY', CAST(1 + (31 - list_sum(list_transform(range(17),
        lambda i: (strpos('0123456789ABCDEFGHJKLMNPQRTUWXY', substr(_uscc, i + 1, 1)) - 1)
          * [1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28][i + 1])) % 31) % 31 AS BIGINT), 1)
    END AS _uscc_check,
    CAST(try_strptime(substr(_id, 7, 8), '%Y%m%d') AS DATE) AS _id_birth,
    wf.idx AS _wf, wt.idx AS _wt,
    row_number() OVER (PARTITION BY _file_id, _id, _reg ORDER BY _row_number) AS _nth
  FROM v
  LEFT JOIN th_workdays wf ON wf.day = _reg
  LEFT JOIN th_workdays wt ON wt.day = _handled
)
SELECT _file_id, _row_number,
  name IS NULL AS f_name_missing,
  id_number IS NULL AS f_id_missing,
  id_number IS NOT NULL AND (_check IS NULL OR right(_id, 1) <> _check
    OR _id_birth IS NULL OR _id_birth < DATE '1900-01-01' OR _id_birth > DATE '$today') AS f_id_bad,
  sex IS NULL AS f_sex_missing, sex IS NOT NULL AND _sex IS NULL AS f_sex_code,
  _sex IS NOT NULL AND right(_id, 1) = _check AND _sex <> CASE WHEN CAST(substr(_id, 17, 1) AS INTEGER) % 2 = 1
    THEN '1' ELSE '2' END AS f_sex_id,
  birth_date IS NULL AS f_birth_missing, birth_date IS NOT NULL AND _birth IS NULL AS f_birth_format,
  _birth IS NOT NULL AND right(_id, 1) = _check AND _birth <> _id_birth AS f_birth_id,
  ethnicity IS NOT NULL AND _eth IS NULL AS f_eth, education_level IS NOT NULL AND _edu IS NULL AS f_edu,
  mobile_phone IS NULL AS f_mobile_missing,
  mobile_phone IS NOT NULL AND NOT regexp_full_match(_mobile, '1[3-9]\d{9}') AS f_mobile,
  community_code IS NULL AS f_comm_missing,
  community_code IS NOT NULL AND (_level IS NULL OR _level <> 'community'
    OR NOT starts_with(community_code, _source_prefix)) AS f_comm,
  employer_uscc IS NOT NULL AND (_uscc_check IS NULL OR right(_uscc, 1) <> _uscc_check) AS f_uscc,
  unemployment_reason IS NOT NULL AND _reason IS NULL AS f_reason,
  registration_date IS NULL AS f_reg_missing, registration_date IS NOT NULL AND _reg IS NULL AS f_reg_format,
  _reg > DATE '$today' AS f_reg_future,
  handled_at IS NULL AS f_handled_missing, handled_at IS NOT NULL AND _handled IS NULL AS f_handled_format,
  _handled > DATE '$today' AS f_handled_future,
  _birth IS NOT NULL AND _reg IS NOT NULL AND _reg < _birth AS f_order1,
  _reg IS NOT NULL AND _handled IS NOT NULL AND _handled < _reg AS f_order2,
  _wt - _wf > 5 AS f_limit,
  documents IS NULL AS f_docs_missing,
  documents IS NOT NULL AND NOT list_has_any(_docs, $identity) AS f_doc_identity,
  documents IS NOT NULL AND NOT list_has_any(_docs, $termination) AS f_doc_termination,
  _id IS NOT NULL AND _reg IS NOT NULL AND _nth > 1 AS f_duplicate
FROM c
"""


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--gx-rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    item = catalogue().find("JY02")
    version = item.version_for(TODAY)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        con = duckdb.connect()
        rows = stage_replicated(con, item, args.rows, root, TODAY)
        docs = {d.code: "[" + ", ".join(f"'{x}'" for x in d.labels) + "]" for d in version.documents}
        hand_sql = (
            HAND_WRITTEN.replace("$input", input_table(item))
            .replace("$today", TODAY.isoformat())
            .replace("$identity", docs["identity"])
            .replace("$termination", docs["termination_proof"])
        )
        ctx = JudgeContext(TODAY)
        hand_times, tierhub_times = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            con.execute(hand_sql)
            hand_times.append(time.perf_counter() - started)
            started = time.perf_counter()
            judge_staged(con, item, ctx)
            tierhub_times.append(time.perf_counter() - started)
        hand_bad = con.execute(
            "SELECT count(*) FROM hand WHERE " + " OR ".join(c for c in _flag_columns(con))
        ).fetchall()[0][0]
        tierhub_bad = con.execute(f"SELECT count(*) FROM {judged_table(item)} WHERE len(_reasons) > 0").fetchall()[0][0]
        hand_s, tierhub_s = statistics.median(hand_times), statistics.median(tierhub_times)

        # GX's own engine (pandas) on a slice, for reference.
        from quality import gx_compat
        from quality.suites import SuiteBuilder

        builder = SuiteBuilder(item, version, TODAY)
        suite = builder.build()
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE gx_input AS SELECT * FROM {input_table(item)} LIMIT {args.gx_rows}; "
            f"CREATE OR REPLACE TEMP TABLE gx_judged AS SELECT * FROM {judged_table(item)} "
            f"SEMI JOIN gx_input USING (_file_id, _row_number)"
        )
        started = time.perf_counter()
        frame = con.execute(builder.frame_sql("gx_input", "gx_judged")).df()
        frame_s = time.perf_counter() - started
        started = time.perf_counter()
        gx_compat.validate_frame(suite, frame)
        gx_s = time.perf_counter() - started
        gx_rows = len(frame)
        started = time.perf_counter()
        con.execute(hand_sql.replace(input_table(item), "gx_input"))
        hand_slice_s = time.perf_counter() - started

    ratio = tierhub_s / hand_s
    gx_ratio = gx_s / hand_slice_s
    table = "\n".join(
        [
            "| path | time | rows/s | vs hand-written |",
            "|---|---:|---:|---:|",
            f"| hand-written single DuckDB pass (booleans per check, SQL check digits) | {hand_s:.2f} s "
            f"| {rows / hand_s:,.0f} | 1.00× |",
            f"| tierhub compiled verdicts (all reasons per row, list of structs) | {tierhub_s:.2f} s "
            f"| {rows / tierhub_s:,.0f} | **{ratio:.2f}×** |",
            f"| GX 1.24 pandas engine, same suite, {gx_rows:,}-row slice (+{frame_s:.2f} s to build the frame) "
            f"| {gx_s:.2f} s | {gx_rows / gx_s:,.0f} "
            f"| {gx_ratio:.1f}× (hand-written on the slice: {hand_slice_s:.3f} s) |",
        ]
    )
    body = f"""Script: `bench/verdicts.py` · machine: {machine()} · commit {git_revision()} · {dt.date.today()}

{rows:,} rows of 失业登记 (JY02, standard {version.version}; demo-city rows replicated, ~6 % defective),
median of {args.repeat} runs in one process. Both queries read the same staged table and the same lookups.

{table}

Rows failing: hand-written {hand_bad:,}, tierhub {tierhub_bad:,}. Peak RSS of the benchmark process:
{peak_rss_mib():,.0f} MiB (the staged rows in DuckDB are the bulk; DuckDB spills past its memory limit).
Target ≤ 2× the hand-written pass: {"met" if ratio <= 2 else "NOT met"}.
"""
    print(body)
    write_section("Verdicts: 1 M rows of one item (issue #4)", body)


def _flag_columns(con: object) -> list[str]:
    import duckdb

    assert isinstance(con, duckdb.DuckDBPyConnection)
    names = [r[0] for r in con.execute("DESCRIBE hand").fetchall()]
    return [n for n in names if n.startswith("f_")]


if __name__ == "__main__":
    main()

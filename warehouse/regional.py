"""Regional check (区域协查) for one ID number: what other districts are asked today on paper.

Before a guarantee loan (创业担保贷款) or a hardship recognition, a district asks every other
district whether the person has an outstanding guarantee loan, a current employment
registration, or a hardship recognition. The warehouse already holds those records: this
answers in one case-index lookup and a few fact-row reads, as a receipt (协查回执) that names
the districts consulted, the sync each one's data comes from (``ops.loads``), when it was
made (Beijing time) and its SHA-256.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
from dataclasses import dataclass

import duckdb

from tierhub.clock import bureau_time, shown
from tierhub.reference import divisions
from tierhub.scope import Scope
from tierhub.standards import catalogue
from warehouse.queries import case_index
from warehouse.schema import fact_table

# The states a regional check reports, and the items that set them (latest record wins).
EMPLOYMENT = ("JY01", "JY02")  # employment registration; an unemployment registration ends it
HARDSHIP = ("JY04",)
LOAN = ("JY10",)


@dataclass(frozen=True, slots=True)
class Finding:
    """One answer of the check: the question, yes/no, and the record behind a yes."""

    check_zh: str
    check_en: str
    found: bool
    district_code: str | None = None
    district_name: str | None = None
    business_date: dt.date | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Consulted:
    """A district whose records were consulted, and the sync they are as of."""

    district_code: str
    district_name: str
    last_load: str | None
    synced_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class RegionalReceipt:
    """The 协查回执: the findings, the districts consulted, when, and the hash of its text."""

    id_number: str
    asked_by: str
    made_at: dt.datetime
    findings: list[Finding]
    consulted: list[Consulted]
    csv_text: str
    sha256: str


def _consulted(con: duckdb.DuckDBPyConnection, asked_by: Scope) -> list[Consulted]:
    rows = con.execute(
        "SELECT left(f.source_id, 6), arg_max(l.load_id, l.committed_at), max(l.committed_at) "
        "FROM ops.files f JOIN ops.loads l USING (load_id) GROUP BY 1 ORDER BY 1"
    ).fetchall()
    tree = divisions()
    return [
        Consulted(f"{d}000000", tree.get(f"{d}000000").name, str(load), at)
        for d, load, at in rows
        if not asked_by.contains(f"{d}000000") or asked_by.level == "city"
    ]


def regional_check(
    con: duckdb.DuckDBPyConnection, id_number: str, asked_by: str, *, today: dt.date | None = None
) -> RegionalReceipt:
    """Answer the regional check for ``id_number`` asked by the division ``asked_by``.

    Looks at the records of every other district (all of them for a city user): an
    outstanding guarantee loan (registration date + term not yet passed), a current
    employment registration (the latest of 就业/失业登记 is 就业登记), a hardship recognition.
    """
    scope = Scope(asked_by)
    made_at = dt.datetime.now(dt.UTC)
    today = today or bureau_time(made_at).date()
    outside = [c for c in case_index(con, Scope.city(), id_number) if scope.level == "city" or not scope.contains(c[1])]
    items = catalogue().items

    def latest(codes: tuple[str, ...]) -> tuple[str, str, dt.date | None, int, int] | None:
        found = [(c[0], c[1], c[2], c[4], c[5]) for c in outside if c[0] in codes]
        return found[0] if found else None  # case_index sorts newest first

    findings = []
    loan = latest(LOAN)
    loan_detail, outstanding = "", False
    if loan is not None:
        amount, months, registered = con.execute(
            f"SELECT loan_amount, loan_term_months, registration_date FROM {fact_table(items['JY10'])} "
            f"WHERE file_id = {loan[3]} AND row_number = {loan[4]}"
        ).fetchone() or (None, None, None)
        if registered is not None and months is not None:
            ends = registered + dt.timedelta(days=int(months) * 30)
            outstanding = ends >= today
            loan_detail = f"{amount} 元 / {months} 个月, 约 {ends.isoformat()} 到期"
    findings.append(
        _finding("未结清的创业担保贷款", "Outstanding guarantee loan", loan if outstanding else None, loan_detail)
    )
    job = latest(EMPLOYMENT)
    findings.append(
        _finding("在册就业登记", "Current employment registration", job if job and job[0] == "JY01" else None, "")
    )
    findings.append(_finding("就业困难人员认定", "Hardship recognition", latest(HARDSHIP), ""))
    consulted = _consulted(con, scope)
    text = _csv(id_number.strip().upper(), scope, made_at, findings, consulted)
    return RegionalReceipt(
        id_number.strip().upper(), scope, made_at, findings, consulted, text, hashlib.sha256(text.encode()).hexdigest()
    )


def _finding(zh: str, en: str, record: tuple[str, str, dt.date | None, int, int] | None, detail: str) -> Finding:
    if record is None:
        return Finding(zh, en, False)
    district = divisions().get(record[1][:6] + "000000")
    return Finding(zh, en, True, district.code, district.name, record[2], detail)


def _csv(
    id_number: str, scope: Scope, made_at: dt.datetime, findings: list[Finding], consulted: list[Consulted]
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["协查回执 / Regional check receipt"])
    writer.writerow(["公民身份号码 / ID number", id_number])
    writer.writerow(["协查单位 / Asked by", scope, scope.division.name])
    writer.writerow(["生成时间 / Made at", shown(made_at, "zh")])
    writer.writerow([])
    writer.writerow(["协查事项 / Check", "结果 / Result", "区 / District", "业务日期 / Date", "说明 / Detail"])
    for f in findings:
        writer.writerow(
            [
                f"{f.check_zh} / {f.check_en}",
                "有 / yes" if f.found else "无 / no",
                f.district_name or "",
                f.business_date.isoformat() if f.business_date else "",
                f.detail,
            ]
        )
    writer.writerow([])
    writer.writerow(["已查询的区 / Districts consulted", "数据截至 / Data as of", "同步批次 / Load"])
    for c in consulted:
        writer.writerow(
            [f"{c.district_code} {c.district_name}", shown(c.synced_at, "zh") if c.synced_at else "", c.last_load or ""]
        )
    return out.getvalue()

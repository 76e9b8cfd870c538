"""Clean cell values for every field of the catalogue, written the way street offices write them.

A row is drawn from its standard version: the dates keep the version's order and time
limit, numbers stay inside the field's range, codes come from the field's code table
(as official names, aliases or bare codes), and patterned values fit their pattern. So a
clean row passes every rule, and the defects of ``tierhub.synth.defects`` each break one.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from tierhub.calendar import is_working_day
from tierhub.reference import Division, code_tables
from tierhub.standards import Document, FieldRule, ItemStandard, StandardVersion
from tierhub.synth.people import (
    BANKS,
    EDUCATION,
    Person,
    make_bank_account,
    make_card_number,
    make_contact_phone,
    make_landline,
    make_uscc,
    random_name,
)
from tierhub.synth.writers import Cell

LIST_SEPARATORS = ("、", "、", ",", "；", " ")
# Codes a field takes in one item (the rest of its table does not fit the item).
CODE_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("SK02", "ss_card_status"): ("2", "3"),
    ("SK04", "ss_card_status"): ("1", "1", "4"),
    ("JY08", "employment_form"): ("3",),
    ("SB08", "employment_form"): ("3", "3", "2"),
    ("JY03", "employment_status"): ("11", "12", "20"),
    ("JY07", "employment_status"): ("20", "20", "11", "12"),
    ("SB05", "benefit_status"): ("1",),
    ("SB06", "cancellation_reason"): ("1", "1", "1", "3", "2", "4"),
    ("SB12", "industry"): ("62", "62", "52", "52", "61", "80"),
    ("JC01", "id_type"): ("01",),
}
# Fields drawn from the person, not at random from their code table.
PERSONAL = ("sex", "ethnicity", "education_level")
MULTIPLE = {"hardship_category": (1, 2), "insurance_types": (1, 3)}
# Realistic values of numeric fields: (low, high, step); clamped to the field's min/max.
NUMBERS: dict[str, tuple[int, int, int]] = {
    "subsidy_amount": (300, 3000, 50),
    "loan_amount": (20000, 300000, 10000),
    "loan_term_months": (12, 36, 12),
    "benefit_amount": (300, 4000, 1),
    "contribution_amount": (300, 3000, 100),
    "contribution_months": (12, 360, 1),
    "benefit_months": (1, 24, 1),
    "medical_total_amount": (300, 80000, 1),
    "invoice_count": (1, 20, 1),
    "arrears_amount": (2000, 200000, 100),
    "workers_involved": (1, 30, 1),
    "dispute_amount": (0, 100000, 100),
    "employee_count": (3, 80, 1),
    "family_size": (2, 6, 1),
    "contribution_base": (4000, 30000, 100),
}
TEXTS: dict[str, tuple[str, ...]] = {
    "training_course": ("中式烹调师", "育婴员", "电工", "养老护理员", "家政服务员", "焊工", "美容师", "电子商务师"),
    "post_name": ("社区保洁员", "治安巡逻员", "公共设施维护员", "社区协管员", "绿化养护员"),
    "job_intention": ("保安", "保洁", "营业员", "快递员", "厨师", "会计", "司机", "仓库管理员"),
    "hospital_name": ("天津医科大学总医院", "天津市第一中心医院", "北京协和医院", "河北医科大学第二医院"),
    "certificate_purpose": ("子女入学", "购房", "办理居住证", "积分落户", "贷款"),
    "value_before": ("原登记信息",),
}
# County-level codes of other provinces, for pension transfers (GB/T 2260).
OTHER_COUNTIES = ("130102", "130681", "370102", "410105", "210102", "110105", "131002", "140105")


@dataclass
class RowFacts:
    """What the drawer decided for a row, which defects need to know."""

    dates: dict[str, dt.date | None] = field(default_factory=dict)
    documents: list[tuple[Document, str]] = field(default_factory=list)  # each listed document and its label


def add_working_days(day: dt.date, count: int) -> dt.date:
    """The date ``count`` working days after ``day``."""
    while count > 0:
        day += dt.timedelta(days=1)
        count -= is_working_day(day)
    return day


def medical_category(age: int) -> str:
    """The resident medical insurance category (local_medical_category) of an age."""
    if age < 1:
        return "5"
    if age < 18:
        return "1"
    return "3" if age < 60 else "4"


def _years_after(day: dt.date, years: int) -> dt.date:
    return dt.date(day.year + years, day.month, min(day.day, 28))


class ValueDrawer:
    """Draws the cells of clean rows for one source."""

    def __init__(self, rng: random.Random, as_of: dt.date, source: Division, street: Division, district: Division):
        self.rng = rng
        self.as_of = as_of
        self.source = source
        self.street = street
        self.district = district

    # -- cell styles ---------------------------------------------------------------
    def date_cell(self, day: dt.date) -> Cell:
        style = self.rng.random()
        if style < 0.35:
            return day  # a date cell in XLSX, ISO text in CSV
        if style < 0.7:
            return day.isoformat()
        if style < 0.85:
            return f"{day.year}/{day.month}/{day.day}"
        return day.strftime("%Y%m%d")

    def number_cell(self, value: Decimal, rule: FieldRule, xlsx: bool) -> Cell:
        rng = self.rng
        if xlsx and rng.random() < 0.5:
            return float(value)  # a number cell
        if rule.type == "integer":
            return str(int(value))
        style = rng.randrange(5)
        if style == 0:
            return f"{value:,.2f}"
        if style == 1:
            return f"￥{value}"
        if style == 2:
            return f"{value}元"
        return f"{value:.2f}" if style == 3 else str(value)

    def code_cell(self, table: str, code: str) -> str:
        labels = sorted(label for label, c in code_tables()[table].lookup.items() if c == code)
        return code_tables()[table].names[code] if self.rng.random() < 0.6 else self.rng.choice(labels)

    # -- values --------------------------------------------------------------------
    def codes(self, item: ItemStandard, rule: FieldRule) -> list[str]:
        """The codes a code-table field takes in a row."""
        assert rule.code_table is not None
        choices = CODE_CHOICES.get((item.code, rule.field)) or tuple(code_tables()[rule.code_table].names)
        if not rule.multiple:
            return [self.rng.choice(choices)]
        low, high = MULTIPLE.get(rule.field, (1, 2))
        return self.rng.sample(list(choices), self.rng.randint(low, high))

    def number(self, rule: FieldRule) -> Decimal:
        """A realistic value of a numeric field inside its range."""
        low, high, step = NUMBERS.get(rule.field, (1, 1000, 1))
        value = Decimal(self.rng.randrange(low, high + 1, step))
        if rule.type == "decimal" and step == 1:
            value += Decimal(self.rng.randrange(0, 100)) / 100
        if rule.min is not None:
            value = max(value, rule.min)
        if rule.max is not None:
            value = min(value, rule.max)
        return value

    def dates(
        self, version: StandardVersion, person: Person, registered: dt.date, handled: dt.date | None = None
    ) -> dict[str, dt.date | None]:
        """Every date of a row, in the version's order and within its time limit."""
        rng, limit = self.rng, version.time_limit
        if handled is None:
            if limit and limit.from_ == "registration_date" and limit.to == "handled_at":
                days = rng.randint(0, limit.days)
                handled = (
                    add_working_days(registered, days)
                    if limit.working_days is not None
                    else registered + dt.timedelta(days=days)
                )
            else:
                handled = add_working_days(registered, rng.randint(0, 3))
            if handled > self.as_of:
                handled = registered
        started = registered - dt.timedelta(days=rng.randint(0, limit.days if limit else 20))
        training = registered - dt.timedelta(days=rng.randint(20, 150))
        admitted = registered - dt.timedelta(days=rng.randint(5, 90))
        ages = (_years_after(person.birth_date, years) for years in (50, 55, 60))
        retired = max((day for day in ages if day < registered), default=registered - dt.timedelta(days=1))
        next_month = (registered.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return {
            "birth_date": person.birth_date,
            "registration_date": registered,
            "handled_at": handled,
            "notice_date": registered + dt.timedelta(days=rng.randint(0, max((handled - registered).days, 0))),
            "employment_start_date": max(started, person.birth_date),
            "training_start_date": training,
            "training_end_date": min(training + dt.timedelta(days=rng.randint(5, 40)), registered),
            "admission_date": admitted,
            "discharge_date": min(admitted + dt.timedelta(days=rng.randint(0, 14)), registered),
            "placement_date": min(registered + dt.timedelta(days=rng.randint(0, 15)), self.as_of),
            "insurance_start_date": registered.replace(day=1),
            "benefit_start_date": next_month,
            "retirement_date": retired,
            "death_date": None,
        }

    def row(
        self,
        item: ItemStandard,
        version: StandardVersion,
        fields: list[str],
        person: Person,
        community: Division,
        registered: dt.date,
        xlsx: bool,
    ) -> tuple[dict[str, Cell], RowFacts]:
        """A clean row of ``fields`` for ``person``, registered on ``registered``."""
        rng = self.rng
        rules = {r.field: r for r in version.fields}
        facts = RowFacts(dates=self.dates(version, person, registered))
        codes = {f: self.codes(item, rules[f]) for f in fields if rules[f].code_table and f not in PERSONAL}
        if "medical_category" in codes:
            codes["medical_category"] = [medical_category((self.as_of - person.birth_date).days // 365)]
        if "cancellation_reason" in codes and codes["cancellation_reason"] == ["1"]:
            facts.dates["death_date"] = registered - dt.timedelta(days=rng.randint(1, 40))
        if item.code == "JC02" and rng.random() < 0.05:
            retired = facts.dates["retirement_date"] or registered
            facts.dates["death_date"] = max(self.as_of - dt.timedelta(days=rng.randint(1, 60)), retired)
            codes["benefit_status"] = ["3"]
        hardship = codes.get("hardship_category", [])
        if "disability_cert_no" in fields and hardship and "08" not in hardship and rng.random() < 0.25:
            # 残疾人 are a large share of 就业困难人员, and the certificate column must show up in a
            # demo-sized city: at 1 in 8 some days' demo had no certificate at all (a test failed).
            codes["hardship_category"] = [hardship[0], "08"]
        disabled = "08" in codes.get("hardship_category", []) or (item.code == "JC01" and rng.random() < 0.05)
        facts.documents = [
            (d, rng.choice((d.name_zh, *d.aliases))) for d in version.documents if d.required or rng.random() < 0.5
        ]
        transfer_in = codes.get("transfer_direction") == ["1"]
        account = make_bank_account(rng)
        period_year = registered.year - (1 if registered.month == 1 else 0)
        values: dict[str, Callable[[], Cell]] = {
            "name": lambda: person.name,
            "id_number": lambda: person.id_number.lower() if rng.random() < 0.3 else person.id_number,
            "sex": lambda: rng.choice({"1": ("男", "男性", "1"), "2": ("女", "女性", "2")}[person.sex]),
            "ethnicity": lambda: person.ethnicity,
            "education_level": lambda: rng.choice(EDUCATION),
            "mobile_phone": lambda: (
                make_contact_phone(rng, person.mobile)
                if rules["mobile_phone"].check == "contact_phone"
                else rng.choice(("", "", "", "+86 ", "86-")) + person.mobile
            ),
            "landline": lambda: make_landline(rng),
            "residence_address": lambda: (
                f"天津市{self.district.name}{self.street.name}{community.name}"
                f"{rng.randint(1, 30)}号楼{rng.randint(1, 6)}门{rng.randint(101, 1802)}"
            ),
            "hukou_address": lambda: f"天津市{self.district.name}{self.street.name}{community.name}",
            "community_code": lambda: community.code,
            "employer_name": lambda: (
                f"天津市{rng.choice(('宏达', '津港', '海河', '渤海', '联合'))}"
                f"{rng.choice(('商贸', '物流', '餐饮', '制造'))}有限公司"
            ),
            "employer_uscc": lambda: make_uscc(rng, self.source.code[:6]),
            "handling_agency": lambda: f"{self.street.name}劳动保障服务中心",
            "handler_name": lambda: random_name(rng),
            "contact_name": lambda: person.name,
            "bank_name": lambda: rng.choice(BANKS),
            "bank_account_no": lambda: (
                " ".join(account[i : i + 4] for i in range(0, len(account), 4)) if rng.random() < 0.2 else account
            ),
            "ss_card_no": lambda: make_card_number(rng),
            "disability_cert_no": lambda: (
                (person.id_number.lower() if rng.random() < 0.3 else person.id_number)
                + f"{rng.randint(1, 7)}{rng.randint(1, 4)}"
                if disabled
                else None
            ),
            "employment_certificate_no": lambda: f"{self.source.code[:6]}{registered.year}{rng.randint(1, 999999):06d}",
            "period_from": lambda: f"{period_year}01" if rng.random() < 0.5 else f"{period_year}-01",
            "period_to": lambda: f"{period_year}{max(registered.month - 1, 1):02d}",
            "transfer_out_region": lambda: rng.choice(OTHER_COUNTIES) if transfer_in else self.source.code[:6],
            "transfer_in_region": lambda: self.source.code[:6] if transfer_in else rng.choice(OTHER_COUNTIES),
            "value_after": lambda: rng.choice((person.mobile, f"天津市{self.district.name}{community.name}", "第三档")),
            "contribution_year": lambda: str(registered.year),
            "documents": lambda: "、".join(label for _, label in facts.documents),
        }
        row: dict[str, Cell] = {}
        for name in fields:
            rule = rules[name]
            if name in codes:
                table = rule.code_table or ""
                cells = [self.code_cell(table, c) for c in codes[name]]
                row[name] = rng.choice(LIST_SEPARATORS).join(cells)
            elif rule.type == "date":
                day = facts.dates.get(name)
                row[name] = None if day is None else self.date_cell(day)
            elif name in values:
                row[name] = values[name]()
            elif rule.type in ("decimal", "integer"):
                row[name] = self.number_cell(self.number(rule), rule, xlsx)
            else:
                row[name] = rng.choice(TEXTS[name])
            if not rule.required and name in OPTIONAL_BLANKS and rng.random() < OPTIONAL_BLANKS[name]:
                row[name] = None
        if "insured_count" in row and "employee_count" in fields:
            row["insured_count"] = str(rng.randint(0, int(float(str(row["employee_count"]).replace(",", "")))))
        return row, facts


# Optional fields left blank in some rows (the rest of the optional fields are filled).
OPTIONAL_BLANKS: dict[str, float] = {
    "handled_at": 0.05,
    "notice_date": 0.1,
    "hardship_category": 0.6,
    "employer_name": 0.15,
    "employer_uscc": 0.2,
    "mobile_phone": 0.2,
    "landline": 0.5,
    "benefit_amount": 0.2,
    "ss_card_no": 0.3,
    "value_before": 0.3,
    "bank_name": 0.2,
    "certificate_purpose": 0.4,
}

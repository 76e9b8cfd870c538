"""Compile a standard version into one DuckDB query that judges every row.

Each rule of the catalogue becomes a SQL condition; the query returns every input row
with its normalised, typed values and ``_reasons``: a list of
``{rule, field, value, detail}`` — empty for a valid row. One pass over the data, all
reasons at once. The same conditions are what the Great Expectations suites assert
(see ``quality.suites``), so the two can never disagree on what a rule means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from quality.checks import FieldSql, check_for, code_text, id_text, reason, validate_version, when
from quality.normalise import RAW_PREFIX
from tierhub.reference import field_dictionary
from tierhub.sql import ident, lit
from tierhub.standards import NUMERIC_TYPES, FieldRule, ItemStandard, StandardVersion

# Columns of the judging query's innermost layer: a field's normalised value, computed once.
NORMALISED_PREFIX = "_norm__"

# Separators between the entries of a list cell (documents, several codes).
LIST_SEPARATORS = "[,，;；/|、\\s]+"


@dataclass(frozen=True, slots=True)
class JudgeContext:
    """What a verdict depends on besides the rows: the day that counts as 'today'.

    Who sent each row travels with it: the judged relation has the columns
    ``_file_id``, ``_source_code``, ``_source_prefix`` (the code prefix of every division
    inside the source's area) and ``_file_date`` (the export date in the file name).
    """

    today: dt.date


class VersionCompiler:
    """Builds the judging query of one standard version."""

    def __init__(self, item: ItemStandard, version: StandardVersion, ctx: JudgeContext) -> None:
        validate_version(item, version)
        self.item = item
        self.version = version
        self.ctx = ctx
        self.joins: list[str] = []
        self.values: dict[str, str] = {}  # field → normalised, typed SQL expression
        self.checks: list[str] = []

    # -- normalised values -------------------------------------------------------
    def _value(self, rule: FieldRule) -> str:
        f = rule.field
        col = f"s.{ident(f)}"
        check = check_for(rule)
        normalised = check.value_sql(rule, col) if check else None
        if normalised is not None:
            self.joins.extend(normalised.joins)
            return normalised.sql
        if f == "id_number":
            return id_text(col)
        if rule.code_table and rule.multiple:
            # One map per table, so each listed entry is looked up without a join per entry.
            alias = f"cm_{f}"
            self.joins.append(
                f"CROSS JOIN (SELECT map_from_entries(list({{'k': label, 'v': code}})) AS m "
                f"FROM th_code_lookup WHERE tbl = {lit(rule.code_table)}) {alias}"
            )
            split = f"string_split(regexp_replace({col}, '{LIST_SEPARATORS}', '、', 'g'), '、')"
            parts = f"list_filter({split}, lambda x: x <> '')"
            return f"list_transform({parts}, lambda x: {alias}.m[lower(x)])"
        if rule.code_table:
            alias = f"cl_{f}"
            self.joins.append(
                f"LEFT JOIN th_code_lookup {alias} ON {alias}.tbl = {lit(rule.code_table)} "
                f"AND {alias}.label = lower(replace({col}, ' ', ''))"
            )
            return f"{alias}.code"
        if rule.type == "date":
            return f"th_date({col})"
        if rule.type in NUMERIC_TYPES:
            # Thousands separators, ￥ (NFKC folds it to ¥) and a trailing 元 are decoration.
            bare = f"regexp_replace({col}, '[,\\s¥￥]|元$', '', 'g')"
            if rule.type == "integer":
                return (
                    f"CASE WHEN regexp_full_match({bare}, '[+-]?\\d{{1,18}}(\\.0+)?') "
                    f"THEN TRY_CAST(regexp_replace({bare}, '\\.0+$', '') AS BIGINT) END"
                )
            return (
                f"CASE WHEN regexp_full_match({bare}, '[+-]?\\d{{1,15}}(\\.\\d{{1,2}})?') "
                f"THEN TRY_CAST({bare} AS DECIMAL(18, 2)) END"
            )
        if f == "employer_uscc":
            return code_text(col)
        if f == "documents":
            split = f"string_split(regexp_replace({col}, '{LIST_SEPARATORS}', '、', 'g'), '、')"
            return f"list_filter(list_transform({split}, lambda x: lower(trim(x))), lambda x: x <> '')"
        return col

    # -- checks --------------------------------------------------------------------
    def _raw(self, field: str) -> str:
        return f"s.{ident(RAW_PREFIX + field)}"

    def _present(self, field: str) -> str:
        return f"s.{ident(field)} IS NOT NULL"

    def required_missing_sql(self, field: str) -> str:
        """SQL: the row fails REQUIRED_MISSING on ``field``.

        A column the export does not carry (``_absent``) is reported once for the file
        (COLUMN_MISSING in the registry), not on every row — unless it names who or where the
        record is (``identity_fields``): then every row fails and the file is held whole.
        """
        if field in self.version.identity_fields:
            return f"s.{ident(field)} IS NULL"
        return f"s.{ident(field)} IS NULL AND NOT list_contains(s._absent, {lit(field)})"

    def _field_checks(self, rule: FieldRule) -> None:
        f, v, raw = rule.field, self.values[rule.field], self._raw(rule.field)
        present = self._present(f)
        if rule.required:
            self.checks.append(when(self.required_missing_sql(f), "REQUIRED_MISSING", f, raw))
        if rule.code_table:
            standard = field_dictionary()[f].standard
            unknown = (
                f"(len({v}) = 0 OR list_bool_or(list_transform({v}, lambda c: c IS NULL)))"
                if rule.multiple
                else f"{v} IS NULL"
            )
            self.checks.append(when(f"{present} AND {unknown}", "CODE_UNKNOWN", f, raw, lit(standard)))
        if rule.type == "date":
            self.checks.append(when(f"{present} AND {v} IS NULL", "DATE_FORMAT", f, raw))
        if rule.type in NUMERIC_TYPES:
            self.checks.append(when(f"{present} AND {v} IS NULL", "NUMBER_FORMAT", f, raw, lit(rule.type)))
            if rule.min is not None or rule.max is not None:
                low = f"{v} < {lit(rule.min)}" if rule.min is not None else "FALSE"
                high = f"{v} > {lit(rule.max)}" if rule.max is not None else "FALSE"
                self.checks.append(when(f"({low} OR {high})", "VALUE_RANGE", f, raw, lit(value_range(rule))))
        if rule.pattern is not None:
            self.checks.append(
                when(
                    f"{present} AND NOT regexp_full_match({v}, {lit(rule.pattern)})",
                    "PATTERN_MISMATCH",
                    f,
                    raw,
                    lit(rule.pattern_hint),
                )
            )
        check = check_for(rule)
        if check is not None:
            self.checks.extend(check.reasons_sql(FieldSql(rule, v, raw, self.ctx.today)))

    def _cross_checks(self) -> None:
        labels = {name: spec.zh_header for name, spec in field_dictionary().items()}
        for earlier, later in self.version.date_order:
            if earlier in self.values and later in self.values:
                a, b = self.values[earlier], self.values[later]
                self.checks.append(
                    when(
                        f"{a} IS NOT NULL AND {b} IS NOT NULL AND {b} < {a}",
                        "DATE_ORDER",
                        later,
                        self._raw(later),
                        f"{lit(labels[earlier])} || ' ' || strftime({a}, '%Y-%m-%d')",
                    )
                )
        limit = self.version.time_limit
        if limit and limit.calendar_days is not None:
            start, end = self.values[limit.from_], self.values[limit.to]
            self.checks.append(
                when(
                    f"{end} - {start} > {limit.calendar_days}",
                    "TIME_LIMIT_EXCEEDED_CALENDAR",
                    limit.to,
                    self._raw(limit.to),
                    f"{end} - {start}",
                )
            )
        elif limit:
            self.joins.append(f"LEFT JOIN th_workdays wd_from ON wd_from.day = {self.values[limit.from_]}")
            self.joins.append(f"LEFT JOIN th_workdays wd_to ON wd_to.day = {self.values[limit.to]}")
            self.checks.append(
                when(
                    f"wd_to.idx - wd_from.idx > {limit.working_days}",
                    "TIME_LIMIT_EXCEEDED",
                    limit.to,
                    self._raw(limit.to),
                    "wd_to.idx - wd_from.idx",
                )
            )
        doc_rule = self.version.field("documents")
        if doc_rule is not None:
            docs = self.values["documents"]
            for document in self.version.documents:
                if document.required:
                    labels_sql = "[" + ", ".join(lit(x) for x in document.labels) + "]"
                    self.checks.append(
                        when(
                            f"{self._present('documents')} AND NOT list_has_any({docs}, {labels_sql})",
                            "DOC_MISSING",
                            "documents",
                            self._raw("documents"),
                            lit(document.name_zh),
                        )
                    )

    # -- the query -------------------------------------------------------------------
    def business_date_sql(self) -> str:
        """The row's business date (which version applies), parsed."""
        return f"th_date(s.{ident(self.version.business_date)})"

    def duplicate_key_sql(self, values: dict[str, str] | None = None) -> str:
        """The row's duplicate key as one string, NULL when a key field is empty.

        Code-table fields count by their normalised text: the key is computed before the
        lookups are joined. ``values``: the value expressions to use (default ``self.values``).
        """
        values = self.values if values is None else values
        parts = []
        for name in self.version.duplicate_key:
            rule = self.version.field(name)
            parts.append(f"s.{ident(name)}" if rule is None or rule.code_table else values[name])
        if not parts:
            return "NULL"
        filled = " AND ".join(f"({p}) IS NOT NULL" for p in parts)
        joined = ", ".join(f"CAST({p} AS VARCHAR)" for p in parts)
        return f"CASE WHEN {filled} THEN concat_ws('|', {joined}) END"

    def compile(self, relation: str, where: str = "TRUE") -> str:
        """The judging SELECT for the rows of ``relation`` that satisfy ``where``.

        Each normalised value that needs no lookup join is computed once, in the innermost
        layer, and the checks refer to that column: inlined, a date field's ``th_date``
        macro was expanded in every check that reads it (72 times for JY02), the ID's
        clean-up 22 times and the ID check digit in every check gated on a valid ID.
        Afterwards ``values`` and ``joins`` hold the expressions themselves: the GX frame
        (``quality.suites``) computes them on the staged rows again.
        """
        expressions = {rule.field: self._value(rule) for rule in self.version.fields}
        materialised = {
            rule.field: expressions[rule.field]
            for rule in self.version.fields
            if not rule.code_table and expressions[rule.field] != f"s.{ident(rule.field)}"
        }
        self.values = {
            f: f"s.{ident(NORMALISED_PREFIX + f)}" if f in materialised else e for f, e in expressions.items()
        }
        id_value = self.values.get("id_number", "NULL")
        for rule in self.version.fields:
            self._field_checks(rule)
        self._cross_checks()
        checks = [*self.checks]
        key = self.version.duplicate_key
        duplicates = ""
        if key:
            checks.append(
                f"CASE WHEN s._key IS NOT NULL AND s._bdate IS NOT NULL AND dup._first_row <> s._row_number "
                f"THEN {reason('DUPLICATE_ROW', key[0], self._raw(key[0]), 'dup._first_row')} END"
            )
            # The first row of each repeated (file, key, business date): a hash aggregate over the
            # key columns alone, joined back — a window would sort every row with all its columns.
            duplicates = f"""
LEFT JOIN (
  SELECT _file_id, _key, _bdate, min(_row_number) AS _first_row
  FROM (
    SELECT s._file_id, s._row_number, {self.duplicate_key_sql(expressions)} AS _key,
      {self.business_date_sql()} AS _bdate
    FROM {relation} s WHERE {where}
  )
  GROUP BY _file_id, _key, _bdate HAVING count(*) > 1
) dup ON dup._file_id = s._file_id AND dup._key = s._key AND dup._bdate = s._bdate"""
        checks_sql = ",\n      ".join(checks)
        columns = ",\n    ".join(f"{expr} AS {ident(name)}" for name, expr in self.values.items())
        normalised = "".join(f",\n      {e} AS {ident(NORMALISED_PREFIX + f)}" for f, e in materialised.items())
        raws = ", ".join(f"{lit(rule.field)}: {self._raw(rule.field)}" for rule in self.version.fields)
        joins = "\n".join(self.joins)
        business_date = self.version.business_date
        bdate = self.values[business_date] if business_date in materialised else self.business_date_sql()
        warnings = "[" + ", ".join(lit(c) for c in self.version.warning_rules()) + "]::VARCHAR[]"
        sql = f"""
SELECT * EXCLUDE (_found),
  list_filter(_found, lambda x: NOT list_contains({warnings}, x.rule)) AS _reasons,
  list_filter(_found, lambda x: list_contains({warnings}, x.rule)) AS _warnings
FROM (
SELECT
    s._file_id, s._source_code, s._row_number, s._sheet,
    {lit(self.item.code)} AS _item_code,
    {lit(self.version.version)} AS _standard_version,
    {columns},
    {{{raws}}} AS _raw,
    -- Each check once: testing them all first (to build the list only for failing rows) doubled
    -- the statement and cost more than it saved (decision 0033).
    list_filter([
      {checks_sql}
    ], lambda x: x IS NOT NULL) AS _found
FROM (
  SELECT s.*, {id_ok_expression()} AS _id_ok
  FROM (
    SELECT s.*, {id_value} AS _id, {self.duplicate_key_sql()} AS _key, {bdate} AS _bdate,
      CAST(try_strptime(substr({id_value}, 7, 8), '%Y%m%d') AS DATE) AS _id_birth
    FROM (
      SELECT s.*{normalised}
      FROM {relation} s WHERE {where}
    ) s
  ) s
) s{duplicates}
{joins}
)
"""
        # Callers that judge without the normalised layer (the GX frame) get the joins and values as expressions.
        for f, e in materialised.items():
            self.joins = [j.replace(self.values[f], f"({e})") for j in self.joins]
        self.values = expressions
        return sql


def value_range(rule: FieldRule) -> str:
    """The allowed range of a numeric field as people write it: 12–24, ≥ 12 or ≤ 300000."""
    if rule.min is not None and rule.max is not None:
        return f"{rule.min}–{rule.max}"
    return f"≥ {rule.min}" if rule.min is not None else f"≤ {rule.max}"


def id_ok_expression() -> str:
    """SQL that is true when ``_id`` is a well-formed 18-character ID with a good check digit."""
    return (
        "(regexp_full_match(_id, '\\d{17}[\\dX]') AND right(_id, 1) = th_id_check(left(_id, 17)) "
        "AND _id_birth IS NOT NULL AND _id_birth >= DATE '1900-01-01')"
    )


def compile_item(item: ItemStandard, ctx: JudgeContext, relation: str) -> str:
    """One query judging every row of ``relation`` against the version in force on its business date.

    A row whose business date is missing, unreadable or outside every version is judged
    by the version in force on its file's export date (else the newest), and the date
    problem is among its reasons. Every row goes to exactly one version.
    """
    if len(item.versions) == 1:
        # One version judges every row: no routing (it would parse each business date twice more).
        return VersionCompiler(item, item.versions[0], ctx).compile(relation)
    newest = max(item.versions, key=lambda v: v.effective_from)

    def in_range(version: StandardVersion, day: str) -> str:
        end = f" AND {day} < {lit(version.effective_to)}" if version.effective_to else ""
        return f"coalesce({day} >= {lit(version.effective_from)}{end}, FALSE)"

    bdates = {v.version: VersionCompiler(item, v, ctx).business_date_sql() for v in item.versions}
    covered = " OR ".join(in_range(v, bdates[v.version]) for v in item.versions)
    by_file = {v.version: in_range(v, "s._file_date") for v in item.versions}
    others = " OR ".join(["FALSE", *(c for name, c in by_file.items() if name != newest.version)])
    by_file[newest.version] = f"NOT ({others})"
    parts = [
        VersionCompiler(item, version, ctx).compile(
            relation,
            f"({in_range(version, bdates[version.version])} OR (NOT ({covered}) AND {by_file[version.version]}))",
        )
        for version in item.versions
    ]
    return "\nUNION ALL BY NAME\n".join(parts)

"""The named kinds of defect the generator injects, and the rule each must trip."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DefectKind:
    """One kind of real-world export defect."""

    kind: str
    rule: str  # the rule code the validator must report for it
    field: str
    description: str
    needs: str | None = None  # a field the item's standard must have


DEFECTS: tuple[DefectKind, ...] = (
    DefectKind("id_bad_checksum", "ID_CHECKSUM", "id_number", "one digit of the ID mistyped"),
    DefectKind("id_float_damaged", "ID_FLOAT_DAMAGED", "id_number", "ID stored by Excel as a number"),
    DefectKind("id_17_chars", "ID_LENGTH", "id_number", "ID with its last character lost"),
    DefectKind("future_date", "DATE_FUTURE", "registration_date", "registration date in the future"),
    DefectKind("sex_mismatch", "SEX_ID_MISMATCH", "sex", "sex contradicts the ID's digit 17"),
    DefectKind("birth_mismatch", "BIRTH_ID_MISMATCH", "birth_date", "birth date differs from the ID", "birth_date"),
    DefectKind("unknown_code", "CODE_UNKNOWN", "ethnicity", "ethnicity not in GB/T 3304", "ethnicity"),
    DefectKind("community_outside_source", "DIVISION_OUTSIDE_SOURCE", "community_code", "community of another street"),
    DefectKind("unknown_division", "DIVISION_UNKNOWN", "community_code", "community code that does not exist"),
    DefectKind("missing_required", "REQUIRED_MISSING", "mobile_phone", "required field left empty"),
    DefectKind("missing_document", "DOC_MISSING", "documents", "a required document (要件) not listed"),
    DefectKind("duplicate_row", "DUPLICATE_ROW", "id_number", "the same record entered twice"),
    DefectKind(
        "time_limit_exceeded", "TIME_LIMIT_EXCEEDED", "handled_at", "handled after the time limit", "handled_at"
    ),
    DefectKind("bad_mobile", "MOBILE_FORMAT", "mobile_phone", "mobile number with a digit missing"),
    DefectKind("date_order", "DATE_ORDER", "handled_at", "handled before it was applied for", "handled_at"),
    DefectKind("bad_uscc", "USCC_CHECKSUM", "employer_uscc", "employer credit code mistyped", "employer_uscc"),
)
BY_KIND = {d.kind: d for d in DEFECTS}

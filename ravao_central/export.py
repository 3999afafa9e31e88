"""A trace written to a file for a health officer: CSV (one table, a
``kind`` column: visit, contact, coverage) or XLSX (one sheet of each)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from ravao_protocol.atomic import write_atomic
from ravao_protocol.errors import UserError

PERSON = ["person_type", "person_id", "person_issuer", "person_name", "person_dob"]
VISIT = ["venue_id", "vehicle", "route", "start", "end", "start_inferred", "end_inferred", "devices"]
CONTACT = ["venue_id", "vehicle", "overlap_minutes", "first", "last"]
COVERAGE = ["device_id", "venue_id", "missing", "offline"]
COLUMNS = ["kind", *PERSON, *dict.fromkeys(VISIT + CONTACT + COVERAGE)]


def _person(person: dict[str, Any]) -> dict[str, Any]:
    return {"person_type": person.get("type"), "person_id": person.get("id"), "person_issuer": person.get("issuer"),
            "person_name": person.get("name"), "person_dob": person.get("dob")}


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return " ".join("-".join(str(x) for x in v) if isinstance(v, list) else str(v) for v in value)
    return value


def sheets(trace: dict[str, Any]) -> dict[str, tuple[list[str], list[dict[str, Any]]]]:
    """The trace as three tables: visits (the traced person's), contacts, coverage."""
    visits = [{**_person(trace["person"]), **{k: _cell(v[k]) for k in VISIT}} for v in trace["visits"]]
    contacts = [{**_person(c["person"]), **{k: _cell(c[k]) for k in CONTACT}} for c in trace["contacts"]]
    coverage = [{k: _cell(h[k]) for k in COVERAGE} for h in trace["coverage"]]
    return {"visits": (PERSON + VISIT, visits), "contacts": (PERSON + CONTACT, contacts),
            "coverage": (COVERAGE, coverage)}


def _csv(trace: dict[str, Any]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.DictWriter(out, COLUMNS, extrasaction="raise")
    writer.writeheader()
    for kind, (_, rows) in sheets(trace).items():
        writer.writerows({"kind": kind.rstrip("s") if kind != "coverage" else kind, **_safe(row)} for row in rows)
    return out.getvalue().encode("utf-8-sig")  # a BOM, so spreadsheet programs read Vietnamese right


def _safe(row: dict[str, Any]) -> dict[str, Any]:
    """Text that a spreadsheet would run as a formula (a name starting with
    ``=``, ``+``, ``-``, ``@``) is kept as text."""
    return {k: "'" + v if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for k, v in row.items()}


def _xlsx(trace: dict[str, Any]) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for title, (columns, rows) in sheets(trace).items():
        sheet = book.create_sheet(title)
        sheet.append(columns)
        for row in rows:
            sheet.append([_safe(row)[c] for c in columns])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def write_export(trace: dict[str, Any], path: str | Path) -> Path:
    """Write `trace` to `path` as CSV or XLSX by its ending (mode 0600: it names people)."""
    p = Path(path)
    writers = {".csv": _csv, ".xlsx": _xlsx}
    writer = writers.get(p.suffix.lower())
    if writer is None:
        raise UserError(f"--out {str(p)!r}: must end in .csv or .xlsx")
    try:
        write_atomic(p, writer(trace), 0o600)
    except OSError as exc:
        raise UserError(f"--out {str(p)!r}: cannot write: {exc.strerror}") from None
    return p


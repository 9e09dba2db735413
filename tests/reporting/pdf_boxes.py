"""What a PDF's pages hold, read with poppler (``pdftotext -bbox-layout``, ``pdftoppm``).

Words come with their boxes in PDF points (origin top left), so a test can say that no
word lies outside its page or on top of another word, the check that fails on the notice's
old nowrap table headers (``tests/reporting/test_notice_document.py``).
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

needs_poppler = pytest.mark.skipif(
    not (shutil.which("pdftoppm") and shutil.which("pdftotext")),
    reason="poppler-utils 未安装 (apt-get install poppler-utils)",
)
XHTML = "{http://www.w3.org/1999/xhtml}"
#: boxes may touch or share a hair (rounding, a glyph's side bearing): points
TOLERANCE = 0.6


@dataclass(frozen=True)
class Word:
    page: int  # 1-based
    text: str
    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True)
class Page:
    number: int
    width: float
    height: float
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return "".join(w.text for w in self.words)


def pages(pdf: Path) -> list[Page]:
    """Every page with its words, in reading order."""
    out = subprocess.run(
        ["pdftotext", "-bbox-layout", str(pdf), "-"], check=True, capture_output=True, text=True
    ).stdout
    root = ET.fromstring(out)
    found = []
    for number, page in enumerate(root.iter(f"{XHTML}page"), start=1):
        words = tuple(
            Word(
                number,
                w.text or "",
                *(float(w.get(k)) for k in ("xMin", "yMin", "xMax", "yMax")),
            )
            for w in page.iter(f"{XHTML}word")
        )
        found.append(Page(number, float(page.get("width")), float(page.get("height")), words))
    return found


def outside(page: Page) -> list[Word]:
    """Words not wholly on their page."""
    t = TOLERANCE
    return [
        w
        for w in page.words
        if w.x0 < -t or w.y0 < -t or w.x1 > page.width + t or w.y1 > page.height + t
    ]


def overlapping(page: Page) -> list[tuple[Word, Word]]:
    """Pairs of words whose boxes overlap by more than ``TOLERANCE`` both ways."""
    t = TOLERANCE
    words = sorted(page.words, key=lambda w: w.x0)
    pairs = []
    for i, a in enumerate(words):
        for b in words[i + 1 :]:
            if b.x0 >= a.x1 - t:
                break  # sorted by x0: no later word reaches back into a
            if min(a.y1, b.y1) - max(a.y0, b.y0) > t and min(a.x1, b.x1) - b.x0 > t:
                pairs.append((a, b))
    return pairs


def render_pages(pdf: Path, folder: Path, dpi: int = 50) -> list[Path]:
    """The pages as PNG images (``pdftoppm``), in order."""
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(folder / "page")], check=True)
    return sorted(folder.glob("page*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))


def fonts(pdf: Path) -> str:
    """``pdffonts``' table: which faces the PDF embeds."""
    return subprocess.run(["pdffonts", str(pdf)], check=True, capture_output=True, text=True).stdout

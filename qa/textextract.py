"""Plain text and a title from the files `manage.py ingest` reads."""

import re
from dataclasses import dataclass
from pathlib import Path

from bs4 import BeautifulSoup

SUPPORTED_SUFFIXES = (".md", ".txt", ".rst", ".html")

_MD_HEADING = re.compile(r"^#\s+(.+?)\s*#*\s*$", re.MULTILINE)
# An rst title is a line underlined (and maybe overlined) by a row of one punctuation character.
_RST_TITLE = re.compile(r"^(?!\s)(.+)\n([=\-~^\"'`#*+])\2{2,}\s*$", re.MULTILINE)
_BLANK_LINES = re.compile(r"\n\s*\n\s*")
_HTML_BLOCKS = ["p", "div", "section", "article", "li", "pre", "blockquote", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6"]


class UnsupportedFile(ValueError):
    pass


@dataclass(frozen=True)
class Extracted:
    title: str
    text: str


def _title_from_name(path: Path) -> str:
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize() or path.name


def _markdown(raw: str, path: Path) -> Extracted:
    heading = _MD_HEADING.search(raw)
    return Extracted(heading.group(1) if heading else _title_from_name(path), raw.strip())


def _rst(raw: str, path: Path) -> Extracted:
    title = _RST_TITLE.search(raw)
    return Extracted(title.group(1).strip() if title else _title_from_name(path), raw.strip())


def _html(raw: str, path: Path) -> Extracted:
    soup = BeautifulSoup(raw, "html.parser")
    heading = soup.title or soup.find("h1")
    title = heading.get_text(" ", strip=True) if heading else ""
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    # Blocks become paragraphs (which chunking splits on); inline tags stay inside their sentence.
    for tag in soup(_HTML_BLOCKS):
        tag.insert_after("\n\n")
    text = _BLANK_LINES.sub("\n\n", soup.get_text()).strip()
    return Extracted(title or _title_from_name(path), text)


def _plain(raw: str, path: Path) -> Extracted:
    return Extracted(_title_from_name(path), raw.strip())


_EXTRACTORS = {".md": _markdown, ".rst": _rst, ".html": _html, ".txt": _plain}


def text_extract(*, path: Path) -> Extracted:
    """The title and plain text of a UTF-8 file; raises UnsupportedFile or UnicodeDecodeError."""
    extractor = _EXTRACTORS.get(path.suffix.lower())
    if extractor is None:
        raise UnsupportedFile(f"unsupported file type {path.suffix!r} (expected {', '.join(SUPPORTED_SUFFIXES)})")
    return extractor(path.read_text(encoding="utf-8"), path)

"""The report as a list of blocks, rendered to Markdown and to HTML by jinja2 templates.

Blocks: :class:`Heading`, :class:`Paragraph`, :class:`Bullets`, :class:`Quote`, :class:`Table`,
:class:`Images`. Their text may hold the inline Markdown the report uses (``**bold**``,
```code```, ``*emphasis*``); the HTML template renders it with markdown-it-py (raw HTML in
the text is escaped), the Markdown template writes it as it is. Both templates live in
``report/templates/``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    kind: str = "heading"


@dataclass(frozen=True)
class Paragraph:
    text: str
    kind: str = "paragraph"


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]
    kind: str = "bullets"


@dataclass(frozen=True)
class Quote:
    """A highlighted paragraph with an optional list under it (the report's warnings)."""

    text: str
    items: Sequence[str] = ()
    kind: str = "quote"


@dataclass(frozen=True)
class Table:
    """Header, rows of cell strings and one alignment letter (l / c / r) per column."""

    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    align: str = ""
    kind: str = "table"

    def aligns(self) -> str:
        return self.align or "l" + "r" * (len(self.header) - 1)


@dataclass(frozen=True)
class Images:
    """Figures side by side: (alt text, path relative to the report)."""

    images: Sequence[tuple[str, str]]
    kind: str = "images"


Block = Heading | Paragraph | Bullets | Quote | Table | Images


@dataclass
class Document:
    title: str
    blocks: list[Block] = field(default_factory=list)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)


def markdown_table(table: Table) -> str:
    """A GitHub-flavoured Markdown table (``|`` in cells escaped)."""
    marks = {"l": ":---", "c": ":---:", "r": "---:"}

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    out = [line(table.header), "|" + "|".join(marks[a] for a in table.aligns()) + "|"]
    out += [line(r) for r in table.rows]
    return "\n".join(out) + "\n"


@lru_cache(maxsize=1)
def _environment() -> Any:
    import jinja2
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False})
    env = jinja2.Environment(loader=jinja2.PackageLoader("vaerobust.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html"]), trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters["inline"] = lambda text: jinja2.utils.markupsafe.Markup(md.renderInline(str(text)))
    env.filters["md_table"] = markdown_table
    return env


def render(doc: Document, fmt: str) -> str:
    """``doc`` as ``"md"`` or ``"html"`` text."""
    return _environment().get_template(f"report.{fmt}.j2").render(doc=doc)


__all__ = ["Block", "Bullets", "Document", "Heading", "Images", "Paragraph", "Quote", "Table", "markdown_table",
           "render"]

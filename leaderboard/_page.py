"""A leaderboard page described once, rendered as Markdown or as HTML.

A page is a list of blocks (:class:`Heading`, :class:`Text`, :class:`Bullets`,
:class:`Table`, :class:`Figure`, :class:`Gallery`, :class:`Section`, :class:`Only`);
:func:`render_markdown` and :func:`render_html` turn the same list into ``leaderboard.md``
and ``report.html``, so the two files cannot drift apart. Table cells are text or
:class:`Cell`, which carries details the HTML page tucks into a tooltip (``title=``) and the
Markdown writes out in parentheses, and a shade for heatmaps.

The HTML page fits a 1400-px screen: tables use a compact font when wide, a ``[...]``
interval never breaks inside itself (a cell wraps between value and interval, not into
five lines), figures are scaled to their column, a table still wider than the page (the
leaderboard across runs, whose rows carry every run's facts) scrolls sideways inside its own
box rather than the page, and a :class:`Section` with ``collapsed=True`` is a closed
``<details>`` element.
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Union

import pandas as pd

__all__ = [
    "Cell",
    "Heading",
    "Text",
    "Bullets",
    "Table",
    "Figure",
    "Gallery",
    "Section",
    "Only",
    "Block",
    "CSS",
    "with_mark",
    "cell_text",
    "markdown_table",
    "render_markdown",
    "render_html",
    "strip_paths",
]


@dataclass(frozen=True)
class Cell:
    """One table cell.

    Attributes:
        text: what every page shows (e.g. ``"0.875 [0.750, 1.000]"``).
        details: Markdown appends each as `` (detail)``; HTML puts them, joined by ``; ``,
            into the cell's tooltip (e.g. ``"2 seeds: 0.750–1.000"``).
        mark: appended last, on every page (:data:`~forgebench.leaderboard._notes.THIN_MARK`).
        tip: HTML only: added to the tooltip (what the Markdown page lists elsewhere).
        strong: HTML only: bold (e.g. the in-domain diagonal of a matrix).
        shade: a value in [0, 1] (an AUC) that colours the HTML cell: white at 0.5, green
            towards 1, red towards 0; None for no colour.
    """

    text: str
    details: tuple[str, ...] = ()
    mark: str = ""
    tip: str = ""
    strong: bool = False
    shade: float | None = None

    def __str__(self) -> str:
        return cell_text(self)


def cell_text(x) -> str:
    """The Markdown text of a cell: ``text (detail) (detail) mark`` for a :class:`Cell`,
    ``str(x)`` otherwise."""
    if not isinstance(x, Cell):
        return str(x)
    return " ".join([x.text, *(f"({d})" for d in x.details if d), *([x.mark] if x.mark else [])])


def with_mark(x, mark: str, on: bool = True):
    """``x`` (text or :class:`Cell`) with ``mark`` appended when ``on``: a Cell keeps its
    details (the mark goes after them), text becomes ``"text mark"``."""
    if not on or not mark:
        return x
    if isinstance(x, Cell):
        return replace(x, mark=f"{x.mark} {mark}".strip())
    return f"{x} {mark}"


@dataclass
class Heading:
    """A heading of ``level`` 1..4 (``#``..``####`` / ``<h1>``..``<h4>``)."""

    text: str
    level: int = 2


@dataclass
class Text:
    """A paragraph. ``style``: ``""``, ``"strong"`` (bold), ``"msg"`` (a warning or a
    missing result; HTML colours it), ``"note"`` (how to read a table; HTML: small print).
    Backquoted words are code on both pages."""

    text: str
    style: str = ""


@dataclass
class Bullets:
    """A list of lines, after an optional ``intro`` paragraph."""

    items: list[str]
    intro: str = ""


@dataclass
class Table:
    """A table of text / :class:`Cell` cells with lines under it (footnotes).

    ``compact``: HTML uses the small font (wide tables). ``caption``: a line above the
    table (Markdown: a bold line; HTML: ``<caption>``)."""

    frame: pd.DataFrame
    notes: list[str] = field(default_factory=list)
    compact: bool = False
    caption: str = ""


@dataclass
class Figure:
    """An image of ``plots/`` by its path relative to the page: Markdown shows ``alt`` as the
    image's text, HTML the image with ``caption`` under it.
    ``width``: the share of the page's width it takes in HTML (``"full"``, ``"wide"`` (3/4),
    ``"half"`` or ``"third"``)."""

    src: str
    alt: str
    caption: str
    width: str = "half"


@dataclass
class Gallery:
    """Figures side by side (HTML), one image line each (Markdown)."""

    figures: list[Figure]


@dataclass
class Section:
    """A titled part of the page.

    Markdown: a heading of ``level``, the ``summary`` as a paragraph, then the blocks.
    HTML: ``<section id=anchor>`` with the heading; with ``collapsed=True`` a closed
    ``<details>`` whose ``<summary>`` line is the title and ``summary``.
    """

    title: str
    blocks: list[Block]
    level: int = 2
    anchor: str = ""
    collapsed: bool = False
    summary: str = ""


@dataclass
class Only:
    """Blocks that only one page shows: ``page`` is ``"markdown"`` or ``"html"``."""

    page: str
    blocks: list[Block]


Block = Union[Heading, Text, Bullets, Table, Figure, Gallery, Section, Only]


# -- Markdown ----------------------------------------------------------------------------------
def markdown_table(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub Markdown table (cells as :func:`cell_text`, ``|`` escaped,
    newlines as spaces)."""

    def cell(x) -> str:
        return cell_text(x).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(c) for c in df.columns) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(x) for x in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def _markdown(block: Block) -> list[str]:
    """The Markdown lines of one block, each paragraph followed by an empty line."""
    if isinstance(block, Heading):
        return ["#" * block.level + " " + block.text, ""]
    if isinstance(block, Text):
        return [f"**{block.text}**" if block.style == "strong" else block.text, ""]
    if isinstance(block, Bullets):
        return ([block.intro, ""] if block.intro else []) + [f"- {item}" for item in block.items] + [""]
    if isinstance(block, Table):
        lines = [f"**{block.caption}**", ""] if block.caption else []
        lines += [markdown_table(block.frame), ""]
        return lines + ([*[f"{n}  " for n in block.notes], ""] if block.notes else [])
    if isinstance(block, Figure):
        return [f"![{block.alt}]({block.src})", ""]
    if isinstance(block, Gallery):
        return [line for f in block.figures for line in _markdown(f)]
    if isinstance(block, Section):
        lines = ["#" * block.level + " " + block.title, ""] + ([block.summary, ""] if block.summary else [])
        return lines + [line for b in block.blocks for line in _markdown(b)]
    if isinstance(block, Only):
        return [line for b in block.blocks for line in _markdown(b)] if block.page == "markdown" else []
    raise TypeError(f"not a page block: {type(block).__name__}")


def render_markdown(blocks: Sequence[Block]) -> str:
    """The blocks as Markdown text (ends with one newline).

    Raises:
        TypeError: an element of ``blocks`` (or of a section) is not a page block.
    """
    return "\n".join(line for b in blocks for line in _markdown(b)).rstrip() + "\n"


# -- HTML -----------------------------------------------------------------------------------
#: The page's style: 1400-px screens without sideways scrolling (see the module docstring).
CSS = (
    "body{font-family:system-ui,sans-serif;margin:1em auto;max-width:1360px;padding:0 12px;color:#222;line-height:1.35}"
    "h1{font-size:24px;margin:.4em 0}h2{font-size:20px;margin:1.2em 0 .4em;border-bottom:1px solid #ccc}"
    "h3{font-size:16px;margin:1em 0 .3em}h4{font-size:14px;margin:.8em 0 .3em}"
    "table{border-collapse:collapse;margin:.4em 0 .6em;font-size:13px;max-width:100%}.scroll{overflow-x:auto}"
    "table.compact{font-size:11.5px}table.compact td,table.compact th{padding:1px 4px}"
    "td:last-child{min-width:8em}caption{text-align:left;font-weight:600;padding:2px 0}"
    "td,th{border:1px solid #bbb;padding:2px 6px;text-align:left;vertical-align:top}"
    "th{background:#eee;font-weight:600}.ci{white-space:nowrap}"
    "td[title]{cursor:help}td[title]>.v{border-bottom:1px dotted #777}"
    ".msg{color:#a40}.note{font-size:12px;color:#444}.fn{font-size:12px;color:#444;margin:.2em 0 .6em;padding-left:1.2em}"
    ".gallery{display:flex;flex-wrap:wrap;gap:10px;align-items:flex-start}figure{margin:.3em 0;box-sizing:border-box}"
    "figure.full{width:100%}figure.wide{width:75%}figure.half{width:calc(50% - 5px)}figure.third{width:calc(33.3% - 7px)}"
    "figcaption{font-size:12px;color:#444}img{width:100%;height:auto}"
    "details{margin:.6em 0;border:1px solid #ddd;border-radius:4px;padding:.2em .8em}"
    "summary{cursor:pointer;padding:.3em 0}summary .title{font-weight:600;font-size:15px}"
    "summary .sub{font-size:13px;color:#555}code{font-size:12px;background:#f4f4f4;padding:0 2px}"
)

#: An interval ``[...]``, with a short ``(...)`` and the marks after it, kept on one line (the
#: cell may wrap before it, not inside it).
_INTERVAL = re.compile(r"(\[[^\[\]]*\](?: \([^()]{1,12}\))?(?: [†‡▲≈]+)*)")
#: An absolute path on this machine (``/home/...``, ``/root/.cache/...``: a folder and more),
#: not a URL's path nor a lone ``/`` of a ratio.
_ABSOLUTE = re.compile(r"(?<![\w.:/~-])/(?:[\w.+@-]+/)+[\w.+@-]*")


def strip_paths(text: str) -> str:
    """``text`` with every absolute file path replaced by its last part
    (``/root/.cache/torch/hub/checkpoints/x.pth`` -> ``x.pth``): what a machine's folders
    are called is no part of a report that may be published."""
    return _ABSOLUTE.sub(lambda m: os.path.basename(m.group(0).rstrip("/")) or m.group(0), text)


def _inline(text: str) -> str:
    """Escaped text with backquoted words as ``<code>``."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _keep_intervals(text: str) -> str:
    """Escaped cell text with each ``[...]`` interval (and the marks after it) in a span
    that does not break."""
    return _INTERVAL.sub(r"<span class=ci>\1</span>", html.escape(text))


def _shade(value: float) -> str:
    """Background colour of a heatmap cell: white at 0.5, green towards 1, red towards 0."""
    strength = min(1.0, abs(float(value) - 0.5) * 2)
    hue = 120 if value >= 0.5 else 0
    return f"background:hsl({hue},55%,{100 - 38 * strength:.0f}%)"


def _td(x) -> str:
    """One ``<td>``: a :class:`Cell`'s details as its tooltip, intervals kept whole."""
    if not isinstance(x, Cell):
        text = "" if x is None or (isinstance(x, float) and pd.isna(x)) else str(x)
        return f"<td>{_keep_intervals(text)}</td>"
    body = _keep_intervals(f"{x.text} {x.mark}" if x.mark else x.text)  # the mark stays beside the interval
    if x.strong:
        body = f"<b>{body}</b>"
    attrs = ""
    tip = "; ".join(d for d in (*x.details, x.tip) if d)
    if tip:
        attrs += f' title="{html.escape(tip)}"'
        body = f"<span class=v>{body}</span>"
    if x.shade is not None and not pd.isna(x.shade):
        attrs += f' style="{_shade(x.shade)}"'
    return f"<td{attrs}>{body}</td>"


def _table_html(block: Table) -> list[str]:
    df = block.frame
    out = [f"<div class=scroll><table{' class=compact' if block.compact else ''}>"]
    if block.caption:
        out.append(f"<caption>{_inline(block.caption)}</caption>")
    out.append("<thead><tr>" + "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns) + "</tr></thead><tbody>")
    out += ["<tr>" + "".join(_td(x) for x in row) + "</tr>" for row in df.itertuples(index=False)]
    out.append("</tbody></table></div>")
    if block.notes:
        out.append("<ul class=fn>" + "".join(f"<li>{_inline(n)}</li>" for n in block.notes) + "</ul>")
    return out


def _html(block: Block) -> list[str]:
    """The HTML lines of one block."""
    if isinstance(block, Heading):
        return [f"<h{block.level}>{_inline(block.text)}</h{block.level}>"]
    if isinstance(block, Text):
        text = _inline(block.text)
        if block.style == "strong":
            return [f"<p class=msg><strong>{text}</strong></p>"]
        return [f"<p class={block.style}>{text}</p>" if block.style else f"<p>{text}</p>"]
    if isinstance(block, Bullets):
        intro = [f"<p>{_inline(block.intro)}</p>"] if block.intro else []
        return intro + ["<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in block.items) + "</ul>"]
    if isinstance(block, Table):
        return _table_html(block)
    if isinstance(block, Figure):
        return [
            f"<figure class={block.width}><a href='{html.escape(block.src)}'><img src='{html.escape(block.src)}' "
            f"alt='{html.escape(block.alt)}' loading=lazy></a><figcaption>{_inline(block.caption)}</figcaption></figure>"
        ]
    if isinstance(block, Gallery):
        return ["<div class=gallery>"] + [line for f in block.figures for line in _html(f)] + ["</div>"]
    if isinstance(block, Section):
        inner = [line for b in block.blocks for line in _html(b)]
        anchor = f" id='{html.escape(block.anchor)}'" if block.anchor else ""
        if block.collapsed:
            sub = f" <span class=sub>— {_inline(block.summary)}</span>" if block.summary else ""
            return [
                f"<details{anchor}><summary><span class=title>{_inline(block.title)}</span>{sub}</summary>",
                *inner,
                "</details>",
            ]
        head = [f"<h{block.level}>{_inline(block.title)}</h{block.level}>"]
        head += [f"<p>{_inline(block.summary)}</p>"] if block.summary else []
        return [f"<section{anchor}>", *head, *inner, "</section>"]
    if isinstance(block, Only):
        return [line for b in block.blocks for line in _html(b)] if block.page == "html" else []
    raise TypeError(f"not a page block: {type(block).__name__}")


def _without_paths(block: Block) -> Block:
    """``block`` with :func:`strip_paths` applied to every text it shows."""

    def cell(x):
        if isinstance(x, Cell):
            return replace(
                x, text=strip_paths(x.text), details=tuple(strip_paths(d) for d in x.details), tip=strip_paths(x.tip)
            )
        return strip_paths(x) if isinstance(x, str) else x

    if isinstance(block, (Heading, Text)):
        return replace(block, text=strip_paths(block.text))
    if isinstance(block, Bullets):
        return replace(block, items=[strip_paths(i) for i in block.items], intro=strip_paths(block.intro))
    if isinstance(block, Table):
        return replace(
            block,
            frame=block.frame.map(cell),
            notes=[strip_paths(n) for n in block.notes],
            caption=strip_paths(block.caption),
        )
    if isinstance(block, Section):
        return replace(
            block,
            title=strip_paths(block.title),
            summary=strip_paths(block.summary),
            blocks=[_without_paths(b) for b in block.blocks],
        )
    if isinstance(block, Only):
        return replace(block, blocks=[_without_paths(b) for b in block.blocks])
    return block  # figures: relative paths of plots/


def render_html(blocks: Sequence[Block], title: str, machine_paths: bool = False) -> str:
    """The blocks as one self-contained HTML page (figures by their relative paths).

    ``machine_paths=False`` cuts every absolute path in the page's text to its file name
    (:func:`strip_paths`): a report that may be published says which file, not where it
    lay on the machine (``leaderboard.md`` and ``leaderboard.csv`` keep the stored text).

    Raises:
        TypeError: an element of ``blocks`` (or of a section) is not a page block.
    """
    if not machine_paths:
        blocks = [_without_paths(b) for b in blocks]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{CSS}</style></head><body>",
    ]
    parts += [line for b in blocks for line in _html(b)]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

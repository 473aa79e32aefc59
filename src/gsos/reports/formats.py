"""One table in every format people use: CSV (every number), Markdown, LaTeX and HTML.

The CSV keeps every column at full precision; the other three show ``shown`` (a compact form
when given: value and interval in one cell) with numbers formatted by :func:`fmt_number`.
pandas writes all three (LaTeX and HTML through its Styler, Markdown through tabulate); this
module only decides how a number reads and how the standalone HTML page looks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gsos.atomic import atomic_write_text

FLAG = "DISAGREES"  # a published cell this project's aggregation does not reproduce
PAGE_STYLE = [
    {"selector": "", "props": "border-collapse:collapse;font-size:13px"},
    {"selector": "th, td", "props": "border:1px solid #bbb;padding:3px 6px;text-align:right"},
    {"selector": "th", "props": "background:#eef"},
    {"selector": "td:first-child, th:first-child", "props": "text-align:left"},
    {"selector": "caption", "props": "font-weight:bold;text-align:left;padding:4px 0"},
]


def fmt_number(v: float, floatfmt: str = ".4f") -> str:
    """How a number is shown: 'n/a' when missing; whole numbers as integers (thousands
    separated); large values (a cost in sample-epochs) rounded to integers; the rest with
    ``floatfmt``."""
    if v is None or not np.isfinite(v):
        return "n/a"
    if abs(v) >= 1000 or float(v).is_integer():
        return f"{v:,.0f}"
    return format(float(v), floatfmt)


def fmt_cell(v: Any, floatfmt: str = ".4f") -> str:
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return fmt_number(float(v), floatfmt)
    if isinstance(v, float | np.floating):
        return fmt_number(float(v), floatfmt)
    if v is None:
        return "n/a"
    return str(v)


def as_text(df: pd.DataFrame, floatfmt: str = ".4f") -> pd.DataFrame:
    """Every cell as the text people read (column names kept)."""
    return pd.DataFrame(
        {c: [fmt_cell(v, floatfmt) for v in df[c]] for c in df.columns}, columns=df.columns
    )


def to_markdown(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    return as_text(df, floatfmt).to_markdown(index=False, tablefmt="github") + "\n"


def to_latex(df: pd.DataFrame, floatfmt: str = ".4f") -> str:
    """A booktabs tabular (\\toprule, \\midrule, \\bottomrule), every cell escaped."""
    styler = as_text(df, floatfmt).style.hide(axis="index")
    styler = styler.format(escape="latex").format_index(escape="latex", axis=1)
    return styler.to_latex(hrules=True, column_format="l" * len(df.columns))


def to_html(df: pd.DataFrame, floatfmt: str = ".4f", title: str = "") -> str:
    """A standalone, styled HTML page holding the table (the report shows it inline); a
    published cell this project does not reproduce is marked in red (class ``flag``)."""
    text = as_text(df, floatfmt)
    styler = (
        text.style.set_uuid("table")  # a fixed id: the same table gives the same page
        .hide(axis="index")
        .format(escape="html")
        .format_index(escape="html", axis=1)
        .set_table_styles(PAGE_STYLE)
        .set_td_classes(text.map(lambda v: "flag" if v == FLAG else ""))
        .set_table_styles([{"selector": ".flag", "props": "background:#fbb"}], overwrite=False)
    )
    if title:
        styler = styler.set_caption(title)
    return styler.to_html(doctype_html=True)


def compact(
    df: pd.DataFrame, floatfmt: str = ".4f", drop: Sequence[str] = (" (s.d.)",)
) -> pd.DataFrame:
    """Each value with its 'CI low'/'CI high' columns as one cell, 'value [low, high]'
    (columns ending in ``drop`` are left out): the form people read; the CSV keeps all."""
    out = {}
    for col in df.columns:
        if col.endswith((" CI low", " CI high")) or col.endswith(tuple(drop)):
            continue
        base = col[: -len(" (mean)")] if col.endswith(" (mean)") else col
        if f"{base} CI low" in df.columns and f"{base} CI high" in df.columns:
            lo, hi = df[f"{base} CI low"], df[f"{base} CI high"]
            name = f"{base} (mean [95 % CI])" if col.endswith(" (mean)") else f"{base} [95 % CI]"
            out[name] = [_cell(m, a, b, floatfmt) for m, a, b in zip(df[col], lo, hi, strict=True)]
        else:
            out[col] = df[col]
    return pd.DataFrame(out)


def bound_text(v: float, fmt: str = ".4f") -> str:
    """An interval's end: an unbounded one (Fieller's, with few seeds) as ±∞."""
    if np.isinf(v):
        return "∞" if v > 0 else "−∞"
    return fmt_number(v, fmt)


def _cell(mean: float, lo: float, hi: float, fmt: str) -> str:
    if not np.isfinite(mean):
        return "n/a"
    if np.isnan(lo) or np.isnan(hi):  # no interval (one value, or no spread)
        return fmt_number(mean, fmt)
    return f"{fmt_number(mean, fmt)} [{bound_text(lo, fmt)}, {bound_text(hi, fmt)}]"


def write_table(
    df: pd.DataFrame,
    csv: Path,
    floatfmt: str = ".4f",
    title: str = "",
    shown: pd.DataFrame | None = None,
) -> None:
    """``df`` as CSV (every number), and ``shown`` (default ``df``) as Markdown, LaTeX and
    HTML beside it, each file written whole or not at all."""
    csv = Path(csv)
    shown = df if shown is None else shown
    atomic_write_text(csv, df.to_csv(index=False))
    atomic_write_text(csv.with_suffix(".md"), to_markdown(shown, floatfmt))
    atomic_write_text(csv.with_suffix(".tex"), to_latex(shown, floatfmt))
    atomic_write_text(csv.with_suffix(".html"), to_html(shown, floatfmt, title or csv.stem))

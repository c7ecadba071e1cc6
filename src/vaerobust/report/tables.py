"""Result tables as pure functions of an attack's ``summary.json`` dict (PROTOCOL §6-7).

A *summary* is what :func:`vaerobust.evaluation.attack_sweep` writes: a dict whose
``results`` entry is :meth:`vaerobust.metrics.robustness.SuccessTable.to_json`, i.e.
``{"classes", "n_pairs_total", "n_kept", "ignore": {...}, "target": {...}}`` where each of
``ignore`` / ``target`` holds ``hits``, ``rate``, ``ci_low``, ``ci_high`` (matrices indexed
``[source][target]``, None on the diagonal and on empty cells), ``source_marginal``,
``target_marginal`` and ``overall``. Every function here also accepts the ``results`` dict
itself. Rates are fractions in the summaries and printed as percents here.

Tables (each as Markdown and as a LaTeX ``tabular``):

- the thesis-layout pair table (its Tables 7.1-7.3): row = source s, column = target t,
  cell = "AS ignore-target (AS target)", "–" on the diagonal;
- the source-marginal table (its Tables 5.1-5.3), with the thesis's rows under ours;
- the means table: one row per model, ours with a 95 % interval beside the thesis's value;

and :func:`pairs_frame`, the per-pair numbers in long format for a CSV file.
Nothing here reads files: the report module does that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from vaerobust.report import references

DASH = "–"  # en dash: the diagonal (a class is never attacked towards itself)
NA = "n/a"
WHICH = ("ignore", "target")
WHICH_LABEL = {"ignore": "AS ignore-target", "target": "AS target"}


# --------------------------------------------------------------------------- small helpers


def results_of(summary: Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``results`` part of a summary (or the argument itself if it already is one)."""
    res = summary.get("results", summary) if isinstance(summary, Mapping) else None
    if not isinstance(res, Mapping) or any(k not in res for k in ("classes", "ignore", "target")):
        raise ValueError("expected an attack summary with results.classes, results.ignore and results.target "
                         "(as written by vaerobust.evaluation.attack_sweep)")
    return res


def is_missing(x: Any) -> bool:
    """True for None and NaN (how the summaries mark an empty cell)."""
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_pct(x: float | None, decimals: int = 2) -> str:
    """A fraction as a percent string: 0.5 -> "50.00%"; None/NaN -> "n/a"."""
    return NA if is_missing(x) else f"{100 * float(x):.{decimals}f}%"  # type: ignore[arg-type]


def fmt_ref_pct(x: float | None, decimals: int = 2) -> str:
    """A number that already is a percent (the thesis's): 36.59 -> "36.59%"."""
    return NA if is_missing(x) else f"{float(x):.{decimals}f}%"  # type: ignore[arg-type]


def fmt_ci(mean: float | None, lo: float | None, hi: float | None, decimals: int = 1) -> str:
    """Fractions as "36.6% [34.1, 39.0]" (mean with its 95 % interval, in percent)."""
    if is_missing(mean):
        return NA
    if is_missing(lo) or is_missing(hi):
        return fmt_pct(mean, decimals)
    return f"{100 * mean:.{decimals}f}% [{100 * lo:.{decimals}f}, {100 * hi:.{decimals}f}]"  # type: ignore[operator]


def fmt_pp(x: float | None, decimals: int = 2) -> str:
    """A difference in percentage points with its sign: "+1.23"."""
    return NA if is_missing(x) else f"{float(x):+.{decimals}f}"  # type: ignore[arg-type]


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (model names such as ``entangled_wd``)."""
    rep = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
           "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", DASH: "--"}
    return "".join(rep.get(c, c) for c in str(text))


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None) -> str:
    """A GitHub-flavoured Markdown table; ``align`` is one of l/c/r per column (default: l then r)."""
    align = align or "l" + "r" * (len(header) - 1)
    marks = {"l": ":---", "c": ":---:", "r": "---:"}

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    out = [line(header), "|" + "|".join(marks[a] for a in align) + "|"]
    out += [line(r) for r in rows]
    return "\n".join(out) + "\n"


def latex_tabular(header: Sequence[str], rows: Sequence[Sequence[str]], align: str | None = None,
                  escape: bool = True) -> str:
    """A LaTeX ``tabular`` (plain ``\\hline`` rules, no extra package); one data row per line."""
    align = align or "l" + "r" * (len(header) - 1)
    esc = latex_escape if escape else str

    def line(cells: Sequence[str]) -> str:
        return " & ".join(esc(c) for c in cells) + r" \\"

    out = [rf"\begin{{tabular}}{{{align}}}", r"\hline", line(header), r"\hline"]
    out += [line(r) for r in rows]
    out += [r"\hline", r"\end{tabular}"]
    return "\n".join(out) + "\n"


def latex_table(tabular: str, caption: str, label: str | None = None, resize: bool = False) -> str:
    """Wrap a tabular in a ``table`` float; ``resize`` fits it to the text width (needs graphicx)."""
    body = rf"\resizebox{{\textwidth}}{{!}}{{%" + "\n" + tabular + "}\n" if resize else tabular
    lab = rf"\label{{{label}}}" + "\n" if label else ""
    return (r"\begin{table}[ht]" + "\n" + r"\centering" + "\n" + r"\small" + "\n" + body
            + rf"\caption{{{latex_escape(caption)}}}" + "\n" + lab + r"\end{table}" + "\n")


# --------------------------------------------------------------------------- the pair table


def pair_cells(summary: Mapping[str, Any], decimals: int = 2) -> list[list[str]]:
    """The thesis's cell strings, ``cells[s][t]`` = "ignore-target% (target%)".

    E.g. a pair whose kept sources were moved off their class half of the time and onto the
    target a quarter of the time reads "50.00% (25.00%)". The diagonal reads "–"; a pair with
    no kept source (every clean reconstruction misclassified) reads "n/a".
    """
    res = results_of(summary)
    k = len(res["classes"])
    ri, rt = res["ignore"]["rate"], res["target"]["rate"]
    cells = []
    for s in range(k):
        row = []
        for t in range(k):
            if s == t:
                row.append(DASH)
            elif is_missing(ri[s][t]):
                row.append(NA)
            else:
                row.append(f"{fmt_pct(ri[s][t], decimals)} ({fmt_pct(rt[s][t], decimals)})")
        cells.append(row)
    return cells


def _pair_header(res: Mapping[str, Any]) -> list[str]:
    return ["source \\ target"] + [str(c) for c in res["classes"]]


def pair_table_markdown(summary: Mapping[str, Any], decimals: int = 2) -> str:
    """The thesis-layout table (rows = source, columns = target) as Markdown."""
    res = results_of(summary)
    rows = [[str(c)] + r for c, r in zip(res["classes"], pair_cells(res, decimals))]
    return markdown_table(_pair_header(res), rows, "c" * (len(res["classes"]) + 1))


def pair_table_latex(summary: Mapping[str, Any], decimals: int = 2) -> str:
    """The thesis-layout table as a LaTeX tabular: one line of data per source class."""
    res = results_of(summary)
    rows = [[str(c)] + r for c, r in zip(res["classes"], pair_cells(res, decimals))]
    return latex_tabular(_pair_header(res), rows, "c" * (len(res["classes"]) + 1))


# --------------------------------------------------------------------------- source marginals


def marginal_rows(summary: Mapping[str, Any], model: str | None = None) -> list[dict[str, Any]]:
    """Rows of the marginal table as numbers, in percent.

    Each row: ``{"label", "which", "who" ("ours" | "thesis"), "values" (one per class, percent
    or None), "mean" (percent or None)}``. Ours: the source marginals of the summary and the
    mean over pairs. The thesis's rows follow ours where :mod:`references` knows ``model``.
    """
    res = results_of(summary)
    classes = list(res["classes"])
    rows = []
    for which in WHICH:
        part = res[which]
        rows.append({
            "label": f"{WHICH_LABEL[which]} (ours)", "which": which, "who": "ours",
            "values": [None if is_missing(v) else 100 * v for v in part["source_marginal"]],
            "mean": None if is_missing(part["overall"]["mean"]) else 100 * part["overall"]["mean"],
        })
        ref = references.reference_marginal(model, which) if model else None  # type: ignore[arg-type]
        if ref is not None:
            vals = [ref[c] if isinstance(c, int) and 0 <= c < len(ref) else None for c in classes]
            rows.append({"label": f"{WHICH_LABEL[which]} (thesis)", "which": which, "who": "thesis",
                         "values": vals, "mean": references.reference_overall(model, which)})  # type: ignore[arg-type]
    return rows


def _marginal_body(summary: Mapping[str, Any], model: str | None, decimals: int) -> tuple[list[str], list[list[str]]]:
    res = results_of(summary)
    header = ["source"] + [str(c) for c in res["classes"]] + ["mean"]
    rows = [[r["label"]] + [fmt_ref_pct(v, decimals) for v in r["values"]] + [fmt_ref_pct(r["mean"], decimals)]
            for r in marginal_rows(res, model)]
    return header, rows


def marginal_table_markdown(summary: Mapping[str, Any], model: str | None = None, decimals: int = 2) -> str:
    """Source marginals (AS ignore-target, AS target) per source class, with the thesis's rows.

    The mean column is the mean over pairs (for the thesis: its reported mean).
    """
    header, rows = _marginal_body(summary, model, decimals)
    return markdown_table(header, rows)


def marginal_table_latex(summary: Mapping[str, Any], model: str | None = None, decimals: int = 2) -> str:
    """:func:`marginal_table_markdown` as a LaTeX tabular."""
    header, rows = _marginal_body(summary, model, decimals)
    return latex_tabular(header, rows)


# --------------------------------------------------------------------------- the means table


def means_rows(summaries: Mapping[str, Mapping[str, Any]],
               reference_names: Mapping[str, str | None] | None = None) -> list[dict[str, Any]]:
    """One dict of numbers per model (fractions for ours, percent for the thesis).

    ``summaries``: display name -> summary; ``reference_names``: display name -> the model
    name to look up in :mod:`references` (default: the display name itself).
    Keys: ``model``, ``reference``, ``n_attacked``, ``n_pairs_formed``,
    ``clean_recon_accuracy``, and per ``which`` in ("ignore", "target"): ``mean``,
    ``ci_low``, ``ci_high``, ``pairs``, ``thesis``, ``thesis_later``, ``diff_pp`` (ours - thesis,
    percentage points), ``thesis_in_ci`` (the thesis's value inside our interval).
    """
    out = []
    for name, summary in summaries.items():
        res = results_of(summary)
        ref_name = (reference_names or {}).get(name, name)
        row: dict[str, Any] = {
            "model": name, "reference": ref_name if ref_name and references.reference_for(ref_name) else None,
            "n_attacked": summary.get("n_attacked"), "n_pairs_formed": summary.get("n_pairs_formed"),
            "clean_recon_accuracy": summary.get("clean_recon_accuracy"),
        }
        for which in WHICH:
            ov = res[which]["overall"]
            mean = None if is_missing(ov.get("mean")) else float(ov["mean"])
            lo = None if is_missing(ov.get("ci_low")) else float(ov["ci_low"])
            hi = None if is_missing(ov.get("ci_high")) else float(ov["ci_high"])
            thesis = references.reference_overall(ref_name, which) if ref_name else None  # type: ignore[arg-type]
            later = references.reference_overall(ref_name, which, later_draft=True) if ref_name else None  # type: ignore[arg-type]
            diff = None if thesis is None or mean is None else 100 * mean - thesis
            inside = None if thesis is None or lo is None or hi is None else bool(100 * lo <= thesis <= 100 * hi)
            row[which] = {"mean": mean, "ci_low": lo, "ci_high": hi, "pairs": ov.get("pairs"),
                          "thesis": thesis, "thesis_later": later, "diff_pp": diff, "thesis_in_ci": inside}
        out.append(row)
    return out


def _means_body(summaries: Mapping[str, Mapping[str, Any]],
                reference_names: Mapping[str, str | None] | None) -> tuple[list[str], list[list[str]]]:
    header = ["model"]
    for which in WHICH:
        header += [f"{WHICH_LABEL[which]} (ours, 95% CI)", "thesis (draft / later draft)", "ours − thesis (pp)"]
    header += ["pairs", "n attacked", "clean-recon accuracy"]
    rows = []
    for r in means_rows(summaries, reference_names):
        cells = [r["model"]]
        for which in WHICH:
            w = r[which]
            thesis = NA if w["thesis"] is None else f"{fmt_ref_pct(w['thesis'])} / {fmt_ref_pct(w['thesis_later'])}"
            cells += [fmt_ci(w["mean"], w["ci_low"], w["ci_high"]), thesis, fmt_pp(w["diff_pp"])]
        pairs = r["ignore"]["pairs"]
        cells += [NA if pairs is None else str(pairs), NA if r["n_attacked"] is None else str(r["n_attacked"]),
                  fmt_pct(r["clean_recon_accuracy"])]
        rows.append(cells)
    return header, rows


def means_table_markdown(summaries: Mapping[str, Mapping[str, Any]],
                         reference_names: Mapping[str, str | None] | None = None) -> str:
    """Means over pairs with 95 % intervals beside the thesis's Tables 5.1-5.3 means.

    "pairs" is how many of the ordered pairs had a kept source (the mean is over those);
    "n attacked" the number of kept, attacked sources; "clean-recon accuracy" the judge's
    accuracy on the model's clean test reconstructions. Models the thesis did not train get
    "n/a" in the thesis columns.
    """
    header, rows = _means_body(summaries, reference_names)
    return markdown_table(header, rows)


def means_table_latex(summaries: Mapping[str, Mapping[str, Any]],
                      reference_names: Mapping[str, str | None] | None = None) -> str:
    """:func:`means_table_markdown` as a LaTeX tabular."""
    header, rows = _means_body(summaries, reference_names)
    header = [h.replace("−", "-") for h in header]
    rows = [[c.replace("−", "-") for c in r] for r in rows]
    return latex_tabular(header, rows)


# --------------------------------------------------------------------------- long format


PAIR_COLUMNS = ["model", "source", "target", "n_pairs_formed", "n_kept",
                "hits_ignore", "rate_ignore", "ci_low_ignore", "ci_high_ignore",
                "hits_target", "rate_target", "ci_low_target", "ci_high_target"]


def pairs_frame(summaries: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """Per-pair counts, rates (fractions) and Wilson 95 % bounds, one row per (model, s, t), s != t.

    Columns: see :data:`PAIR_COLUMNS`. Rates and bounds are NaN where no source was kept.
    """
    rows = []
    for name, summary in summaries.items():
        res = results_of(summary)
        classes = list(res["classes"])
        for i, s in enumerate(classes):
            for j, t in enumerate(classes):
                if i == j:
                    continue
                row: dict[str, Any] = {"model": name, "source": s, "target": t,
                                       "n_pairs_formed": res["n_pairs_total"][i][j], "n_kept": res["n_kept"][i][j]}
                for which in WHICH:
                    part = res[which]
                    row[f"hits_{which}"] = part["hits"][i][j]
                    for key in ("rate", "ci_low", "ci_high"):
                        v = part[key][i][j]
                        row[f"{key}_{which}"] = math.nan if is_missing(v) else float(v)
                rows.append(row)
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)

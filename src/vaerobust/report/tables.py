"""Result tables as pure functions of an attack's ``summary.json`` dict (PROTOCOL §6-7).

A *summary* is what :func:`vaerobust.pipelines.attack.attack_sweep` writes
(:class:`vaerobust.rundir.AttackSummary`, or the same as a plain dict), whose
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
Reference numbers (the thesis's) come from a :class:`vaerobust.studies.Study`; without one
(or for a model it has no numbers for) the reference columns read "n/a". Tables are
:class:`~vaerobust.report.document.Table` blocks; the ``*_markdown`` and ``*_latex`` functions
render them. Nothing here reads files: :mod:`vaerobust.report.collect` does that.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from vaerobust.report.document import Table
from vaerobust.report.document import markdown_table as _markdown
from vaerobust.rundir import AttackSummary
from vaerobust.studies import Study, get_study

DASH = "–"  # en dash: the diagonal (a class is never attacked towards itself)
NA = "n/a"
WHICH = ("ignore", "target")
WHICH_LABEL = {"ignore": "AS ignore-target", "target": "AS target"}


# --------------------------------------------------------------------------- small helpers


def results_of(summary: AttackSummary | Mapping[str, Any]) -> Mapping[str, Any]:
    """The ``results`` part of a summary (or the argument itself if it already is one)."""
    if isinstance(summary, AttackSummary):
        return summary.results
    res = summary.get("results", summary) if isinstance(summary, Mapping) else None
    if not isinstance(res, Mapping) or any(k not in res for k in ("classes", "ignore", "target")):
        raise ValueError("expected an attack summary with results.classes, results.ignore and results.target "
                         "(as written by vaerobust.pipelines.attack.attack_sweep)")
    return res


def class_labels(summary: AttackSummary | Mapping[str, Any]) -> list[str]:
    """One label per class of a summary's matrices: the dataset's class names where it has them
    (``T-shirt/top`` ... for Fashion-MNIST), "not A" / "A" for a sweep over attribute A
    (CelebA), the class numbers otherwise (MNIST's digits, a bare ``results`` mapping, an
    unknown dataset)."""
    from vaerobust.data import DATASETS

    classes = list(results_of(summary)["classes"])
    full = isinstance(summary, AttackSummary) or (isinstance(summary, Mapping) and "results" in summary)
    data = (summary.data if isinstance(summary, AttackSummary) else summary.get("data")) if full else None
    sweep = (summary.sweep if isinstance(summary, AttackSummary) else summary.get("sweep")) if full else None
    attribute = sweep.get("attribute") if isinstance(sweep, Mapping) else None
    if isinstance(attribute, str) and classes == [0, 1]:  # CelebA: the attribute's two values
        return [f"not {attribute}", attribute]
    name = data.get("name") if isinstance(data, Mapping) else None
    factor = sweep.get("factor") if isinstance(sweep, Mapping) else None
    info = DATASETS.get(name) if isinstance(name, str) and name in DATASETS else None
    if isinstance(factor, str) and info is not None and info.factor_names and factor != info.factor_names[0]:
        return [f"{factor} {c}" for c in classes]  # dSprites: a factor's value indices (the labels name shapes)
    names = DATASETS.get(name).class_names if isinstance(name, str) and name in DATASETS else None
    if names is None or any(not (isinstance(c, int) and 0 <= c < len(names)) for c in classes):
        return [str(c) for c in classes]
    return [names[c] for c in classes]


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


def count(summary: AttackSummary | Mapping[str, Any], key: str) -> Any:
    """A top-level number of a summary (``n_attacked``, ...), None where it has none."""
    return getattr(summary, key, None) if isinstance(summary, AttackSummary) else summary.get(key)


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
    body = r"\resizebox{\textwidth}{!}{%" + "\n" + tabular + "}\n" if resize else tabular
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


def _pair_header(labels: Sequence[str]) -> list[str]:
    return ["source \\ target"] + list(labels)


def pair_table(summary: Any, decimals: int = 2) -> Table:
    """The thesis-layout table (rows = source, columns = target), classes named by :func:`class_labels`."""
    res, labels = results_of(summary), class_labels(summary)
    rows = [[c] + r for c, r in zip(labels, pair_cells(res, decimals))]
    return Table(_pair_header(labels), rows, "c" * (len(labels) + 1))


def pair_table_markdown(summary: Any, decimals: int = 2) -> str:
    """:func:`pair_table` as Markdown."""
    return _markdown(pair_table(summary, decimals))


def pair_table_latex(summary: Mapping[str, Any], decimals: int = 2) -> str:
    """The thesis-layout table as a LaTeX tabular: one line of data per source class."""
    res, labels = results_of(summary), class_labels(summary)
    rows = [[c] + r for c, r in zip(labels, pair_cells(res, decimals))]
    return latex_tabular(_pair_header(labels), rows, "c" * (len(labels) + 1))


# --------------------------------------------------------------------------- source marginals


def marginal_rows(summary: Any, model: str | None = None, study: Study | None = None) -> list[dict[str, Any]]:
    """Rows of the marginal table as numbers, in percent.

    Each row: ``{"label", "which", "who" ("ours" | the study's reference label), "values" (one per class, percent
    or None), "mean" (percent or None)}``. Ours: the source marginals of the summary and the
    mean over pairs. The study's reference rows follow ours where it has numbers for ``model``.
    """
    study = study if study is not None else get_study(None)
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
        ref = study.reference_marginal(model, which)
        if ref is not None:
            vals = [ref[c] if isinstance(c, int) and 0 <= c < len(ref) else None for c in classes]
            rows.append({"label": f"{WHICH_LABEL[which]} ({study.reference_label})", "which": which,
                         "who": study.reference_label, "values": vals,
                         "mean": study.reference_overall(model, which)})
    return rows


def marginal_table(summary: Any, model: str | None = None, decimals: int = 2, study: Study | None = None) -> Table:
    """Source marginals (AS ignore-target, AS target) per source class, with the reference rows.

    The mean column is the mean over pairs (for the reference: its reported mean).
    """
    header = ["source"] + class_labels(summary) + ["mean"]
    rows = [[r["label"]] + [fmt_ref_pct(v, decimals) for v in r["values"]] + [fmt_ref_pct(r["mean"], decimals)]
            for r in marginal_rows(results_of(summary), model, study)]
    return Table(header, rows)


def marginal_table_markdown(summary: Any, model: str | None = None, decimals: int = 2,
                            study: Study | None = None) -> str:
    """:func:`marginal_table` as Markdown."""
    return _markdown(marginal_table(summary, model, decimals, study))


def marginal_table_latex(summary: Any, model: str | None = None, decimals: int = 2, study: Study | None = None) -> str:
    """:func:`marginal_table` as a LaTeX tabular."""
    t = marginal_table(summary, model, decimals, study)
    return latex_tabular(t.header, t.rows)


# --------------------------------------------------------------------------- the means table


def means_rows(summaries: Mapping[str, Any], reference_names: Mapping[str, str | None] | None = None,
               study: Study | None = None) -> list[dict[str, Any]]:
    """One dict of numbers per model (fractions for ours, percent for the reference).

    ``summaries``: display name -> summary; ``reference_names``: display name -> the model
    name to look up in the study's references (default: the display name itself); ``study``:
    whose reference numbers (default: none).
    Keys: ``model``, ``reference``, ``n_attacked``, ``n_pairs_formed``,
    ``clean_recon_accuracy``, and per ``which`` in ("ignore", "target"): ``mean``,
    ``ci_low``, ``ci_high``, ``pairs``, ``reference``, ``reference_later`` (a second reported value,
    e.g. the thesis's later draft), ``diff_pp`` (ours - reference, percentage points),
    ``reference_in_ci`` (the reference value inside our interval).
    """
    study = study if study is not None else get_study(None)
    out = []
    for name, summary in summaries.items():
        res = results_of(summary)
        ref_name = (reference_names or {}).get(name, name)
        row: dict[str, Any] = {
            "model": name, "reference_model": ref_name if study.reference_for(ref_name) else None,
            "n_attacked": count(summary, "n_attacked"), "n_pairs_formed": count(summary, "n_pairs_formed"),
            "clean_recon_accuracy": count(summary, "clean_recon_accuracy"),
        }
        for which in WHICH:
            ov = res[which]["overall"]
            mean = None if is_missing(ov.get("mean")) else float(ov["mean"])
            lo = None if is_missing(ov.get("ci_low")) else float(ov["ci_low"])
            hi = None if is_missing(ov.get("ci_high")) else float(ov["ci_high"])
            ref = study.reference_overall(ref_name, which)
            later = study.reference_overall(ref_name, which, later_draft=True)
            diff = None if ref is None or mean is None else 100 * mean - ref
            inside = None if ref is None or lo is None or hi is None else bool(100 * lo <= ref <= 100 * hi)
            row[which] = {"mean": mean, "ci_low": lo, "ci_high": hi, "pairs": ov.get("pairs"),
                          "reference": ref, "reference_later": later, "diff_pp": diff, "reference_in_ci": inside}
        out.append(row)
    return out


def means_table(summaries: Mapping[str, Any], reference_names: Mapping[str, str | None] | None = None,
                study: Study | None = None) -> Table:
    """Means over pairs with 95 % intervals beside the reference's means (the thesis's Tables 5.1-5.3).

    "pairs" is how many of the ordered pairs had a kept source (the mean is over those);
    "n attacked" the number of kept, attacked sources; "clean-recon accuracy" the judge's
    accuracy on the model's clean test reconstructions. Models without reference numbers get
    "n/a" in the reference columns.
    """
    study = study if study is not None else get_study(None)
    ref = study.reference_label
    header = ["model"]
    for which in WHICH:
        header += [f"{WHICH_LABEL[which]} (ours, 95% CI)", study.reference_header, f"ours − {ref} (pp)"]
    header += ["pairs", "n attacked", "clean-recon accuracy"]
    rows = []
    for r in means_rows(summaries, reference_names, study):
        cells = [r["model"]]
        for which in WHICH:
            w = r[which]
            if w["reference"] is None:
                reference = NA
            elif w["reference_later"] is None:
                reference = fmt_ref_pct(w["reference"])
            else:
                reference = f"{fmt_ref_pct(w['reference'])} / {fmt_ref_pct(w['reference_later'])}"
            cells += [fmt_ci(w["mean"], w["ci_low"], w["ci_high"]), reference, fmt_pp(w["diff_pp"])]
        pairs = r["ignore"]["pairs"]
        cells += [NA if pairs is None else str(pairs), NA if r["n_attacked"] is None else str(r["n_attacked"]),
                  fmt_pct(r["clean_recon_accuracy"])]
        rows.append(cells)
    return Table(header, rows)


def means_table_markdown(summaries: Mapping[str, Any], reference_names: Mapping[str, str | None] | None = None,
                         study: Study | None = None) -> str:
    """:func:`means_table` as Markdown."""
    return _markdown(means_table(summaries, reference_names, study))


def means_table_latex(summaries: Mapping[str, Any], reference_names: Mapping[str, str | None] | None = None,
                      study: Study | None = None) -> str:
    """:func:`means_table` as a LaTeX tabular."""
    t = means_table(summaries, reference_names, study)
    header = [h.replace("−", "-") for h in t.header]
    rows = [[c.replace("−", "-") for c in r] for r in t.rows]
    return latex_tabular(header, rows)


# --------------------------------------------------------------------------- long format


PAIR_COLUMNS = ["model", "source", "target", "n_pairs_formed", "n_kept",
                "hits_ignore", "rate_ignore", "ci_low_ignore", "ci_high_ignore",
                "hits_target", "rate_target", "ci_low_target", "ci_high_target"]


def pairs_frame(summaries: Mapping[str, Any]) -> pd.DataFrame:
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

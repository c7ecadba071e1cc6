"""The report of a whole study (``vaerobust study collect``): its tables, a figure and sentences
generated from the numbers of ``tables/summary.csv``, ``differences.csv`` and ``effects.csv``.

It reads those tables only (built from the job records by :func:`vaerobust.pipelines.study.collect`),
so a study's committed records rebuild the same report. Every finding is a sentence computed from
an interval: a difference whose 95% interval covers 0 is called inconclusive, never a direction.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaerobust import __version__, files
from vaerobust.report import correlations as corr_report
from vaerobust.report import tables
from vaerobust.report.document import Bullets, Document, Heading, Images, Paragraph, Quote, Table, render
from vaerobust.report.figures import _plt, save_png

MEASURES = (("as_ignore", "ignore", "AS ignore-target"), ("as_target", "target", "AS target"))


def _num(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def _pct(v: Any, d: int = 1) -> str:
    f = _num(v)
    return tables.NA if f is None else f"{100 * f:.{d}f}%"


def _pp(v: Any) -> str:
    f = _num(v)
    return tables.NA if f is None else f"{100 * f:+.1f} pp"


def _interval(lo: Any, hi: Any) -> str:
    a, b = _num(lo), _num(hi)
    return "" if a is None or b is None else f" [{100 * a:+.1f}, {100 * b:+.1f}]"


def _context(row: pd.Series, keys: list[str]) -> str:
    parts = [f"{k}={row[k]}" for k in keys if k in row and not pd.isna(row[k])]
    return f" ({', '.join(parts)})" if parts else ""


def _unequal_rows(summary: pd.DataFrame, keys: list[str]) -> list[tuple[str, float, str, float]]:
    """(model, its clean-reconstruction accuracy, the best model, the best one's) for every model the
    judge reads more than :data:`~vaerobust.report.statements.MAX_CLEAN_ACCURACY_GAP` below the best
    model at the same attack and grid point; a model's first such group only."""
    from vaerobust.report.statements import MAX_CLEAN_ACCURACY_GAP

    out: dict[str, tuple[str, float, str, float]] = {}
    if summary.empty or "clean_recon_accuracy_mean" not in summary.columns:
        return []
    group = [k for k in ["attack", *keys] if k in summary.columns]
    for _, part in (summary.groupby(group, dropna=False) if group else [((), summary)]):
        acc = pd.to_numeric(part["clean_recon_accuracy_mean"], errors="coerce")
        if acc.notna().sum() < 2:
            continue
        best = part.loc[acc.idxmax()]
        best_acc = float(best["clean_recon_accuracy_mean"])
        for (_, r), a in zip(part.iterrows(), acc):
            if np.isfinite(a) and best_acc - a > MAX_CLEAN_ACCURACY_GAP:
                out.setdefault(str(r["model"]), (str(r["model"]), float(a), str(best["model"]), best_acc))
    return list(out.values())


def unequal_judging(summary: pd.DataFrame, keys: list[str]) -> dict[str, str]:
    """Models the judge does not read on equal terms with the best one (its clean-reconstruction
    accuracy, mean over seeds, more than :data:`~vaerobust.report.statements.MAX_CLEAN_ACCURACY_GAP`
    below the best model's at the same attack and grid point): model -> the reason, in words."""
    return {m: _judged_text(f"{a:.1%}", f"{m}'s", f"{b:.1%}", best) for m, a, best, b in _unequal_rows(summary, keys)}


def _judged_text(acc: str, whose: str, best_acc: str, best: str) -> str:
    return (f"the judge reads {acc} of {whose} clean test reconstructions correctly against {best_acc} for {best} "
            "(mean over seeds): the models are not judged on equal terms, so their attack success compares "
            "different sources")


def unequal_judging_warnings(summary: pd.DataFrame, keys: list[str]) -> list[str]:
    """The warnings of :func:`unequal_judging`, one line per (accuracy as printed, best model): models
    the judge reads equally badly (e.g. every collapsed model at chance) share a line."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for m, a, best, b in _unequal_rows(summary, keys):
        groups.setdefault((f"{a:.1%}", best, f"{b:.1%}"), []).append(m)
    out = []
    for (a, best, b), models in groups.items():
        whose = (f"{models[0]}'s" if len(models) == 1
                 else f"each of {len(models)} models' ({', '.join(models)})")
        out.append(_judged_text(a, whose, b, best))
    return out


def difference_sentences(diffs: pd.DataFrame, context_keys: list[str], reference_label: str,
                         unequal: dict[str, str] | None = None) -> list[str]:
    """One sentence per pair of models and measure, from the paired difference's interval; a pair
    with a model of ``unequal`` (see :func:`unequal_judging`) is stated as inconclusive."""
    unequal = unequal or {}
    out: list[str] = []
    if diffs.empty:
        return out
    for _, r in diffs.iterrows():
        ctx = _context(r, context_keys)
        if str(r.get("model_b")) == "(the reference's ordering)":
            for col, _, label in MEASURES:
                k = _num(r.get(f"{col}_seeds_in_reference_order"))
                n = _num(r.get(f"{col}_seeds_defined"))
                n = int(r["seeds"]) if n is None and k is not None else n  # records collected before the count
                if k is not None:
                    out.append(f"{label}{ctx}: {int(k)} of {int(n)} seeds order the models as the "
                               f"{reference_label} does ({r['model_a']}).")
                elif n is not None:
                    out.append(f"{label}{ctx}: inconclusive: no seed has a figure for every model (nothing "
                               "attacked), so the models cannot be ordered.")
            continue
        for col, _, label in MEASURES:
            d, lo, hi = _num(r.get(f"{col}_diff")), _num(r.get(f"{col}_diff_low")), _num(r.get(f"{col}_diff_high"))
            if d is None or lo is None or hi is None:
                continue
            n, above = int(r["seeds"]), _num(r.get(f"{col}_a_above_b"))
            tail = f" over {n} seed(s)" + (f", {r['model_a']} above in {int(above)} of {n}" if above is not None else "")
            flagged = [m for m in (str(r["model_a"]), str(r["model_b"])) if m in unequal]
            if flagged:
                verdict = (f"inconclusive: {flagged[0]} is not judged on equal terms (clean-reconstruction accuracy far "
                           "below the other's; see the warnings above), so the measured difference is not a finding")
            elif lo > 0:
                verdict = f"{r['model_a']} is more attackable than {r['model_b']}"
            elif hi < 0:
                verdict = f"{r['model_a']} is less attackable than {r['model_b']}"
            else:
                verdict = (f"inconclusive: no clear difference between {r['model_a']} and {r['model_b']} "
                           "(the interval covers 0)")
            out.append(f"{label}{ctx}: {verdict}; {r['model_a']} - {r['model_b']} = {_pp(d)}{_interval(lo, hi)}{tail}.")
    return out


def effect_sentences(effects: pd.DataFrame, reference_label: str) -> list[str]:
    """One sentence per (model, setting) and measure: what the setting does against the baseline,
    and whether it moves the figure towards the reference's mean."""
    out: list[str] = []
    if effects.empty:
        return out
    for _, r in effects.iterrows():
        for col, _, label in MEASURES:
            d, lo, hi = _num(r.get(f"{col}_diff")), _num(r.get(f"{col}_diff_low")), _num(r.get(f"{col}_diff_high"))
            if d is None:
                continue
            text = (f"{r['model']}, {r['setting']}: {label} {_pct(r[f'{col}_baseline'])} -> "
                    f"{_pct(r[f'{col}_setting'])} ({_pp(d)}{_interval(lo, hi)}, {int(r['seeds'])} seed(s))")
            ref, move = _num(r.get(f"{col}_reference")), r.get(f"{col}_move")
            if lo is None or hi is None:
                text += "; no interval (the outcome files are missing)"
            elif ref is not None and isinstance(move, str):
                gap = (f"the gap to the {reference_label}'s {100 * ref:.1f}% goes from {100 * r[f'{col}_gap_baseline']:.1f}"
                       f" to {100 * r[f'{col}_gap_setting']:.1f} points")
                text += {"towards": f"; moves towards the {reference_label}: {gap}",
                         "away from": f"; moves away from the {reference_label}: {gap}",
                         }.get(move, f"; inconclusive: no clear move (the interval covers 0); {gap}")
            elif lo > 0 or hi < 0:
                text += "; a clear change (the interval excludes 0)"
            else:
                text += "; inconclusive: no clear change (the interval covers 0)"
            out.append(text + ".")
    return out


def _summary_table(summary: pd.DataFrame, keys: list[str], study: Any) -> Table:
    header = ["model", "attack", *keys, "seeds", "AS ignore-target: mean [95% incl. training]", "sd between seeds",
              "AS target: mean [95%]", "sd", "clean recon. accuracy"]  # sd in percentage points
    has_ref = bool(getattr(study, "references", None))
    if has_ref:
        header += [f"{study.reference_label}: ignore / target"]
    rows = []
    for _, r in summary.iterrows():
        cells = [str(r["model"]), str(r["attack"]), *[str(r[k]) for k in keys], str(int(r["jobs"]))]
        for col, _, _ in MEASURES:
            sd = _num(r.get(f"{col}_sd"))
            cells += [tables.fmt_ci(_num(r[f"{col}_mean"]), _num(r.get(f"{col}_boot_low")), _num(r.get(f"{col}_boot_high"))),
                      tables.NA if sd is None else f"{100 * sd:.1f} pt"]
        cells.append(_pct(r.get("clean_recon_accuracy_mean")))
        if has_ref:
            ri, rt = study.reference_overall(r["model"], "ignore"), study.reference_overall(r["model"], "target")
            cells.append(tables.NA if ri is None else f"{ri:.1f}% / {rt:.1f}%")
        rows.append(cells)
    return Table(header, rows)


def _effects_table(effects: pd.DataFrame) -> Table:
    header = ["model", "setting", "seeds"]
    for _, _, label in MEASURES:
        header += [f"{label}: baseline -> setting", "difference [95%]", "vs reference"]
    rows = []
    for _, r in effects.iterrows():
        cells = [str(r["model"]), str(r["setting"]), str(int(r["seeds"]))]
        for col, _, _ in MEASURES:
            move = r.get(f"{col}_move")
            cells += [f"{_pct(r[f'{col}_baseline'])} -> {_pct(r[f'{col}_setting'])}",
                      _pp(r[f"{col}_diff"]) + _interval(r.get(f"{col}_diff_low"), r.get(f"{col}_diff_high")),
                      move if isinstance(move, str) else tables.DASH]
        rows.append(cells)
    return Table(header, rows)


def sweep_warnings(notes: list[tuple[str, str, str]]) -> list[str]:
    """The attack sweeps' own warnings (an attribute the judge cannot read, no source kept), each
    once, with the sweeps that gave it: ``notes`` holds (model, attack, warning) per sweep."""
    seen: dict[str, set[str]] = {}
    for model, attack, w in notes:
        seen.setdefault(w, set()).add(f"{model}/{attack}")
    return [f"{w} ({len(v)} sweep(s): {', '.join(sorted(v)[:4])}{', ...' if len(v) > 4 else ''})" for w, v in seen.items()]


def retrained_warnings(judges: list[dict[str, Any]]) -> list[str]:
    """A warning per judge trained again (its weights were missing) to weights not known to be its
    first ones: some retrain, compared with the record it replaced, gave other weights, or could not
    be compared (that record had no hash). Each retrain is one link from the first record on."""
    out = []
    for j in judges:
        r = j.get("retrained")
        if not isinstance(r, dict):
            continue
        links = [x.get("same_weights") for x in [*j.get("retrained_earlier", []), r] if isinstance(x, dict)]
        if all(x is True for x in links):
            continue
        if any(x is False for x in links):
            why = "to other weights than an earlier record's"
        else:
            checked = sum(x is True for x in links)
            why = ("and its first record has no weights hash to compare with"
                   + (f" (each of its {checked} later retrain(s) gave the weights of the record before it)"
                      if checked else ""))
        out.append(f"the judge {j.get('id')} was trained again (its weights were not there) {why}: jobs attacked "
                   "before and after may be judged by different networks (its first record: result.previous.json)")
    return out


def _distance_table(results: pd.DataFrame, keys: list[str]) -> Table | None:
    cols = [("mean_out_dist", "L2 to target", "{:.2f}"), ("mean_ms_ssim", "MS-SSIM to target", "{:.3f}"),
            ("mean_ms_ssim_clean", "MS-SSIM, no attack", "{:.3f}")]
    if "mean_ms_ssim" not in results.columns or results["mean_ms_ssim"].isna().all():
        return None
    group = ["model", "attack", *keys]
    rows = []
    for key, part in results.groupby(group, dropna=False, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        cells = [str(k) for k in key] + [str(len(part))]
        for col, _, fmt in cols:
            v = pd.to_numeric(part[col], errors="coerce").mean() if col in part else float("nan")
            cells.append(tables.NA if not np.isfinite(v) else fmt.format(v))
        rows.append(cells)
    return Table([*group, "seeds", *[c[1] for c in cols]], rows)


def pooled_pair_tables(recs: list[dict[str, Any]], attacks: list[str]) -> list[tuple[str, str, Table]]:
    """(model, attack, table) per model and attack: the thesis's pair layout (rows source, columns
    target; "AS ignore-target% (AS target%)") pooled over the seeds (hits over kept sources, summed
    over the jobs), the classes named as the data names them."""
    pooled: dict[tuple[str, str], dict[str, Any]] = {}
    for r in recs:
        for name in attacks:
            rob = (r.get("robustness") or {}).get(name)
            if not rob or "n_kept" not in rob:
                continue
            key = (r["model"], name)
            p = pooled.setdefault(key, {"classes": rob["classes"], "kept": 0, "ign": 0, "tgt": 0, "seeds": 0,
                                        "data": ((r.get("settings") or {}).get("run") or {}).get("data", {}),
                                        "sweep": (((r.get("settings") or {}).get("attacks") or {}).get(name) or {})
                                        .get("sweep", {})})
            p["kept"] = p["kept"] + np.asarray(rob["n_kept"], dtype=float)
            p["ign"] = p["ign"] + np.asarray(rob["hits_ignore"], dtype=float)
            p["tgt"] = p["tgt"] + np.asarray(rob["hits_target"], dtype=float)
            p["seeds"] += 1
    out = []
    for (model, name), p in sorted(pooled.items()):
        rates = {w: [[None if kept == 0 else float(hit / kept) for hit, kept in zip(hr, kr)]
                     for hr, kr in zip(p[key], p["kept"])] for w, key in (("ignore", "ign"), ("target", "tgt"))}
        summary = {"results": {"classes": p["classes"], "ignore": {"rate": rates["ignore"]},
                               "target": {"rate": rates["target"]}}, "data": p["data"], "sweep": p["sweep"]}
        out.append((model, name, tables.pair_table(summary, decimals=1)))  # the thesis's layout, classes named
    return out


def _judge_section(judge: dict[str, Any]) -> list[Any]:
    """The judge: its accuracy on clean test images; a multi-label judge's figures per attribute."""
    clf = (judge.get("judge") or {}).get("classifier") or {}
    head = (f"`{judge.get('id')}` ({clf.get('arch', '?')}, {judge.get('steps')} steps): accuracy on the "
            f"{judge.get('n_test')} clean test images {_pct(judge.get('test_accuracy'))}")
    per = judge.get("attributes")
    facs = judge.get("factors")
    if isinstance(facs, dict):
        return [Heading(2, "The judge"), Paragraph(head + " (mean over factors), on held-out images."),
                Table(["factor", "test accuracy", "chance"],
                      [[n, _pct(v.get("accuracy")), _pct(v.get("chance"))] for n, v in facs.items()])]
    if not isinstance(per, dict):
        return [Heading(2, "The judge"), Paragraph(head + ".")]
    rows = [[name, _pct(v.get("accuracy")), _pct(v.get("balanced_accuracy")), _pct(v.get("positive_rate"))]
            for name, v in per.items()]
    return [Heading(2, "The judge"),
            Paragraph(head + " (mean over attributes). Balanced accuracy: the mean of its accuracies on the images "
                      "with and without the attribute (0.5 for a constant guess); an attack sweep uses an attribute "
                      "only where it reaches the sweep's `min_judge_accuracy`."),
            Table(["attribute", "accuracy", "balanced accuracy", "share with the attribute"], rows)]


def seeds_png(results: pd.DataFrame, summary: pd.DataFrame, keys: list[str], study: Any, path: Path) -> Path:
    """Per group (model, attack, other grid values): each seed's figure as a dot, the mean over seeds
    and its 95% interval including training as a bar, and the reference's mean as a black tick."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.45 * len(summary) + 1.6), sharey=True)
    labels = [" / ".join(str(r[k]) for k in ["model", "attack", *keys]) for _, r in summary.iterrows()]
    y = np.arange(len(summary))[::-1]
    for ax, (col, which, label) in zip(axes, MEASURES):
        for yi, (_, r) in zip(y, summary.iterrows()):
            sel = results
            for k in ["model", "attack", *keys]:
                sel = sel[sel[k].astype(str) == str(r[k])]
            ax.scatter(100 * sel[col].astype(float), np.full(len(sel), yi), s=14, color="tab:blue", alpha=0.6, zorder=2)
            lo, hi = _num(r.get(f"{col}_boot_low")), _num(r.get(f"{col}_boot_high"))
            if lo is not None and hi is not None:
                ax.plot([100 * lo, 100 * hi], [yi, yi], color="tab:orange", lw=3, alpha=0.7, zorder=1)
            ax.scatter([100 * float(r[f"{col}_mean"])], [yi], marker="D", s=28, color="tab:orange", zorder=3)
            ref = study.reference_overall(r["model"], which) if getattr(study, "references", None) else None
            if ref is not None:
                ax.scatter([ref], [yi], marker="|", s=200, linewidths=2, color="black", zorder=4)
        ax.set_xlabel(f"{label} (%)")
        ax.set_xlim(left=0)
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].set_title("dots: seeds; bar: mean and 95% interval incl. training; black: reference", fontsize=9, loc="left")
    return save_png(fig, path)


def is_missing(v: Any) -> bool:
    """A null setting, as a table holds it (None, or NaN in a float column)."""
    return v is None or (isinstance(v, float) and math.isnan(v))


def rows_at(frame: pd.DataFrame, where: dict[str, Any]) -> pd.DataFrame:
    """The rows of ``frame`` whose columns hold the values ``where`` (a null matches a missing value,
    as tables hold a null grid value as NaN); keys that are not columns are ignored."""
    for k, v in where.items():
        if k in frame.columns:
            frame = frame[frame[k].isna()] if is_missing(v) else frame[frame[k] == v]
    return frame


def write_study_report(out: Path, name: str, results: pd.DataFrame, summary: pd.DataFrame, diffs: pd.DataFrame,
                       effects: pd.DataFrame, keys: list[str], study: Any, n_jobs: int, n_done: int,
                       baseline: dict[str, Any] | None = None, judges: list[dict[str, Any]] | None = None,
                       notes: list[tuple[str, str, str]] | None = None,
                       pair_tables: list[tuple[str, str, Table]] | None = None,
                       correlations: pd.DataFrame | None = None, min_judge_accuracy: float | None = None,
                       paired: bool = True) -> dict[str, Path]:
    """``report.md``, ``report.html`` and ``figures/seeds.png`` of the study in ``out`` (paths returned).

    ``baseline`` (the first attack and the first value of every grid axis): the findings state the
    differences between models there, and what every other setting does; the tables hold the rest."""
    ref = getattr(study, "reference_label", "reference")
    doc = Document(f"{getattr(study, 'title', name)}")
    doc.add(Heading(1, doc.title), Paragraph(f"Study `{name}`: {n_done} of {n_jobs} model jobs finished. Generated by vaerobust "
                      f"{__version__} from the job records alone (`jobs/*/result.json`, `jobs/*/outcomes-*.csv.gz`, "
                      "`jobs/*/margin.json` where measured); "
                      "`vaerobust study collect` rebuilds it."))
    warnings = []
    if n_done < n_jobs:
        warnings.append(f"{n_jobs - n_done} job(s) have not finished: the tables hold the finished ones only")
    seeds = summary["jobs"].min() if not summary.empty else 0
    if seeds < 2:
        warnings.append("some groups have a single training seed: their intervals cover the sampling of test "
                        "images only, not training")
    warnings += sweep_warnings(notes or [])
    warnings += retrained_warnings(judges or [])
    unequal = unequal_judging(summary, keys)
    warnings += unequal_judging_warnings(summary, keys)
    if warnings:
        doc.add(Quote("**Read with care:**", warnings))
    headline = rows_at(diffs, baseline) if baseline and not diffs.empty else diffs
    statements = (corr_report.headline(correlations, corr_report.headline_figure(results))
                  if correlations is not None and not correlations.empty else [])
    statements += difference_sentences(headline, [k for k in ["attack", *keys] if k in diffs.columns], ref, unequal)
    if paired:
        statements += effect_sentences(effects, ref)
    else:
        statements.append(f"{results.model.nunique()} models: no paired differences between every two of them, and what "
                          "each attack does against the baseline attack is in the table below, not in sentences (the "
                          "correlations answer the study's question)")
    if statements:
        doc.add(Heading(2, "Findings (generated from the numbers below)"), Bullets(statements))
    if correlations is not None and not correlations.empty:
        doc.add(*corr_report.section(correlations, out, results))
    unreliable = {n for j in judges or [] for n, v in (j.get("factors") or {}).items()
                  if min_judge_accuracy is not None and (_num(v.get("accuracy")) or 0.0) < min_judge_accuracy}
    moved = corr_report.moved_table(results, unreliable)
    if moved is not None:
        doc.add(Heading(2, "Which factors the attacks moved"),
                Paragraph("Per setting and attack, the mean over seeds of the share of attacked examples whose "
                          "adversarial reconstruction the factor judge reads with another value of the factor than the "
                          "source's clean reconstruction (the attacked factor included). A factor marked unreliable is "
                          f"one the judge reads below min_judge_accuracy = {min_judge_accuracy:g} on held-out images: "
                          "its share mixes the attack with the judge's own errors."), moved)
    fig = seeds_png(results, summary, keys, study, out / "figures" / "seeds.png") if not summary.empty else None
    doc.add(Heading(2, "Per model: the mean over seeds with a 95% interval that includes training"),
            Paragraph("Interval: hierarchical bootstrap (resample the seeds, then the source images with all their "
                      "pairs). sd: the standard deviation between the seeds' own figures."),
            _summary_table(summary, keys, study))
    if fig is not None:
        doc.add(Images([("each seed, the mean and its interval", "figures/seeds.png")]))
    if not effects.empty:
        doc.add(Heading(2, "What each setting does (against each model's baseline, seed by seed)"),
                Paragraph("Baseline: the study's first attack at the first value of every grid axis. Difference: "
                          "the mean paired difference over seeds (same checkpoints when only the attack differs) "
                          f"with its bootstrap interval. vs reference: whether it moves the figure towards the "
                          f"{ref}'s mean (the interval excludes 0), away from it, or makes no clear move."),
                _effects_table(effects))
    dist = _distance_table(results, keys)
    if dist is not None:
        doc.add(Heading(2, "Without labels: how close the adversarial reconstruction comes to the target"),
                Paragraph("Means over the attacked examples and the seeds. L2: ||recon(x_adv) - x_t||; MS-SSIM "
                          "(1 = identical) between the target and the adversarial reconstruction, beside the same for "
                          "the source's clean reconstruction (no attack)."), dist)
    for judge in judges or []:
        doc.add(*_judge_section(judge))
    if pair_tables:
        doc.add(Heading(2, "Per pair, pooled over the seeds"),
                Paragraph("Rows: source class; columns: target class; each cell AS ignore-target (AS target): the "
                          "attacked sources of that pair over every seed, hits over kept sources."))
        for model, name, t in pair_tables:
            pics = sorted((out / "figures" / "examples").glob(f"{model}__{name}.png"))
            doc.add(Heading(3, f"{model}, attack {name}"), t)
            if pics:
                doc.add(Images([(f"{model}, {name}: source, target, adversarial input, reconstructions",
                                 str(pics[0].relative_to(out)))]))
    pairs = diffs[diffs["model_b"] != "(the reference's ordering)"] if not diffs.empty else diffs
    if not pairs.empty:
        doc.add(Heading(2, "Paired differences between models"), Table(
            ["model A", "model B", *[k for k in ["attack", *keys] if k in pairs.columns], "seeds",
             "AS ignore-target A - B [95%]", "AS target A - B [95%]"],
            [[str(r["model_a"]), str(r["model_b"]), *[str(r[k]) for k in ["attack", *keys] if k in pairs.columns],
              str(int(r["seeds"])),
              _pp(r.get("as_ignore_diff")) + _interval(r.get("as_ignore_diff_low"), r.get("as_ignore_diff_high")),
              _pp(r.get("as_target_diff")) + _interval(r.get("as_target_diff_low"), r.get("as_target_diff_high"))]
             for _, r in pairs.iterrows()]))
    paths = {"report.md": out / "report.md", "report.html": out / "report.html"}
    files.write_text(paths["report.md"], render(doc, "md"))
    files.write_text(paths["report.html"], render(doc, "html"))
    if fig is not None:
        paths["seeds.png"] = fig
    return paths


__all__ = ["difference_sentences", "effect_sentences", "is_missing", "pooled_pair_tables", "rows_at", "seeds_png",
           "unequal_judging", "unequal_judging_warnings", "write_study_report"]

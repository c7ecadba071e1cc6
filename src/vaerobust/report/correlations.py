"""Disentanglement against robustness across a study's models: the tables, figures and sentences of
``vaerobust study collect`` (issue 10, part 5), built from the study's results table alone.

A study whose models have factor metrics (a dataset with a ground-truth factor grid, e.g. dSprites)
gets, per attack sweep, for each (disentanglement metric, robustness figure) pair the rank
correlations of :func:`vaerobust.metrics.correlation.correlation_table`: over all models (plain,
and partial given the confounds :data:`CONTROLS`), within each objective (strength and seed
varying) and across the objectives' means. The bootstrap resamples *settings* (a model name: the
training seeds of one setting are not independent models). Attack success is a figure where
higher means less robust, so a positive correlation with an interval above 0 reads "more
disentangled, less robust".

- ``tables/correlations.csv``: every row (:data:`vaerobust.metrics.correlation.TABLE_COLUMNS` and
  ``attack``);
- ``figures/scatter-<attack>.png``: metric (columns) against figure (rows), a point per model job;
- the report's section "Are more disentangled models less robust?" (:func:`section`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaerobust.metrics.correlation import (
    LESS_ROBUST,
    MIN_MODELS,
    MORE_ROBUST,
    NO_EVIDENCE,
    NOT_ENOUGH,
    correlation_table,
)
from vaerobust.report import tables
from vaerobust.report.document import Bullets, Heading, Images, Paragraph, Table
from vaerobust.report.statements import MAX_CLEAN_ACCURACY_GAP

#: The headline value of each disentanglement metric (a column of the study table): higher = more disentangled.
METRICS = {"beta_vae.eval_accuracy": "BetaVAE score", "factor_vae.eval_accuracy": "FactorVAE score", "mig.mig": "MIG",
           "sap.sap": "SAP", "dci.disentanglement": "DCI disentanglement"}
#: Robustness figures (attack success: higher = less robust).
FIGURES = {"as_ignore": "AS ignore-target", "as_target": "AS target"}
#: The confounds the partial correlations control for: reconstruction error and the posterior's scale.
CONTROLS = ("test_mse_per_pixel", "mean_sigma_active")
#: A second partial correlation adds the judge's clean-reconstruction accuracy (a model the judge can
#: barely read keeps few sources, and those move little): decided before the study's later records
#: came in; both partial correlations are reported, neither replaces the other.
MORE_CONTROLS = ("clean_recon_accuracy",)
CLUSTER = "model"  # a setting: its seeds form one bootstrap cluster
#: A sensitivity scope, added after the dSprites study's records showed settings the judge reads at
#: chance: the all-models correlations again over the settings the judge reads on equal terms (clean-
#: reconstruction accuracy, mean over seeds, within the report's 20-point gap of the best setting's at
#: that attack). Reported beside the all-models rows, which stay the answer fixed in advance.
EQUAL = "models judged on equal terms"
#: The attack-free figure (``vaerobust study margin``): per radius r, the median first-order r-robustness
#: margin of a model job (columns ``margin_r<r>``; higher = more robust), correlated over the jobs that have
#: it as if it were one more attack.
MARGIN_PREFIX = "margin_r"
NO_ATTACK = "first-order margin (no attack)"
#: what makes two jobs' margins comparable (the sample count sets the cap on p(x))
MARGIN_SETTINGS = ("margin_samples", "margin_images", "margin_radii")


_MARGIN_COLUMN = re.compile(re.escape(MARGIN_PREFIX) + r"[0-9.]+(e[+-][0-9]+)?")


def margin_figures(results: pd.DataFrame) -> list[str]:
    """The ``margin_r<r>`` columns, by radius."""
    figures = [c for c in results.columns if _MARGIN_COLUMN.fullmatch(str(c))]
    return sorted(figures, key=lambda c: float(c[len(MARGIN_PREFIX):]))


def label(figure: str) -> str:
    """A figure's name in the report."""
    if _MARGIN_COLUMN.fullmatch(figure):
        return f"median margin, r = {figure[len(MARGIN_PREFIX):]}"
    return FIGURES.get(figure, figure)


def available(results: pd.DataFrame) -> list[str]:
    """The metrics of :data:`METRICS` the table has a finite value of (none: the study has no factor metrics)."""
    return [m for m in METRICS if m in results.columns and pd.to_numeric(results[m], errors="coerce").notna().any()]


def correlations(results: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Every correlation row, per attack sweep (empty if the study has no factor metrics)."""
    metrics = available(results)
    if not metrics or results.empty:
        return pd.DataFrame()
    def present(names: tuple[str, ...]) -> list[str]:
        return [c for c in names if c in results.columns and pd.to_numeric(results[c], errors="coerce").notna().any()]

    controls = present(CONTROLS)
    more = present(MORE_CONTROLS) if controls else []
    group = "objective" if "objective" in results.columns else None
    parts = []
    for attack, part in results.groupby("attack", sort=False):
        part = part.reset_index(drop=True)
        cluster = CLUSTER if CLUSTER in part.columns else None
        t = correlation_table(part, metrics, list(FIGURES), controls=controls, group=group,
                              cluster=cluster, n_boot=n_boot, seed=seed, more_controls=more)
        parts.append(t.assign(attack=attack))
        equal = judged_on_equal_terms(part)
        if equal is not None:
            t = correlation_table(part[equal].reset_index(drop=True), metrics, list(FIGURES), controls=controls,
                                  group=None, cluster=cluster, n_boot=n_boot, seed=seed, scope=EQUAL)
            parts.append(t.assign(attack=attack))
    models = per_model(results)
    if models is not None:  # one row per model job; the judge's clean-recon accuracy is an attack's, not the margin's
        figures = margin_figures(models)
        t = correlation_table(models, metrics, figures, controls=controls, group=group,
                              cluster=CLUSTER if CLUSTER in models.columns else None, n_boot=n_boot, seed=seed,
                              higher_is_less_robust={f: False for f in figures})
        parts.append(t.assign(attack=NO_ATTACK))
    out = pd.concat(parts, ignore_index=True)
    return out[["attack", *[c for c in out.columns if c != "attack"]]]


def judged_on_equal_terms(part: pd.DataFrame) -> np.ndarray | None:
    """Rows (one attack's) of the settings whose clean-reconstruction accuracy, mean over their seeds, is
    within :data:`~vaerobust.report.statements.MAX_CLEAN_ACCURACY_GAP` of the best setting's; None when
    that leaves every row (nothing to compare) or none, or the table has no such column."""
    if "clean_recon_accuracy" not in part.columns or CLUSTER not in part.columns:
        return None
    acc = pd.to_numeric(part["clean_recon_accuracy"], errors="coerce")
    means = acc.groupby(part[CLUSTER]).mean()
    if means.notna().sum() < 2:
        return None
    keep = part[CLUSTER].map(means >= means.max() - MAX_CLEAN_ACCURACY_GAP).fillna(False).to_numpy(dtype=bool)
    return keep if 0 < keep.sum() < len(part) else None


def left_out(part: pd.DataFrame) -> str:
    """The settings :func:`judged_on_equal_terms` leaves out of one attack's rows, in words ("" if none)."""
    keep = judged_on_equal_terms(part)
    if keep is None:
        return ""
    gone = sorted(set(part.loc[~keep, CLUSTER].astype(str)))
    return f"{len(gone)} setting{'s' if len(gone) != 1 else ''}: {', '.join(gone)}"


def per_model(results: pd.DataFrame) -> pd.DataFrame | None:
    """One row per model job, its margins kept only where measured with the settings most jobs share (the
    others' set to NaN: their figures are not comparable); None when no job has a finite margin."""
    figures = margin_figures(results)
    if not figures or "job" not in results.columns:
        return None
    rows = results.drop_duplicates("job").reset_index(drop=True)
    have = rows[figures].apply(pd.to_numeric, errors="coerce").notna().any(axis=1)
    if not have.any():
        return None
    keys = [k for k in MARGIN_SETTINGS if k in rows.columns]
    if keys:
        setting = pd.Series(["|".join(map(str, t)) for t in rows[keys].itertuples(index=False)], index=rows.index)
        common = setting[have].value_counts().index[0]
        rows.loc[have & (setting != common), figures] = np.nan
    return rows


def margin_text(results: pd.DataFrame) -> str:
    """What the margin section's numbers rest on, from the table: how many jobs, at which settings, how many
    were left out and why, and where the headline radius puts the images (at the sample cap, r-robust)."""
    rows = results.drop_duplicates("job") if "job" in results.columns else results
    used = per_model(results)
    figures = margin_figures(results)
    n_used = int(used[figures].notna().any(axis=1).sum()) if used is not None else 0
    n_have = int(rows[figures].apply(pd.to_numeric, errors="coerce").notna().any(axis=1).sum()) if figures else 0
    parts = [f"{n_used} of {len(rows)} model jobs have a margin"]
    if n_have > n_used:
        parts.append(f"{n_have - n_used} more were measured with other settings and are left out")
    if "margin_not_applicable" in rows.columns and rows.margin_not_applicable.notna().any():
        parts.append(f"to {int(rows.margin_not_applicable.notna().sum())} it does not apply "
                     f"({'; '.join(dict.fromkeys(rows.margin_not_applicable.dropna()))})")
    if "margin_unbounded_share" in rows.columns:
        unbounded = int((pd.to_numeric(rows.margin_unbounded_share, errors="coerce") > 0.5).sum())
        if unbounded:
            parts.append(f"{unbounded} have an unbounded median margin at the headline radius (the encoder's mean "
                         "ignores most of their images) and have no figure there")
    if "margin_unusable" in rows.columns and rows.margin_unusable.notna().any():
        for why, n in rows.margin_unusable.dropna().value_counts().items():
            parts.append(f"{n} record(s) unusable ({why})")
    text = "; ".join(parts) + "."
    if used is not None and n_used:
        u = used[used[figures].notna().any(axis=1)]
        first = u.iloc[0]
        def val(k: str) -> str:
            v = first.get(k)
            return tables.NA if v is None or (isinstance(v, float) and not np.isfinite(v)) else f"{v:g}" \
                if isinstance(v, float) else str(v)
        text += (f" Settings: {val('margin_samples')} sampled reconstructions per image, {val('margin_images')} "
                 f"held-out images, radii {val('margin_radii')}; the headline radius is {val('margin_headline')}.")
        zero = [f"{int((pd.to_numeric(u[f], errors='coerce') == 0).sum())} at r = {f[len(MARGIN_PREFIX):]}"
                for f in figures if (pd.to_numeric(u[f], errors="coerce") == 0).any()]
        if zero:
            text += (" Jobs whose median margin is 0 (not r-robust at most of their images; they tie in rank): "
                     + ", ".join(zero) + ".")
        if "margin_capped_share" in u.columns:
            capped = pd.to_numeric(u.margin_capped_share, errors="coerce").dropna()
            robust = pd.to_numeric(u.margin_robust_share, errors="coerce").dropna()
            if len(capped) and len(robust):
                text += (f" At the headline radius, the median job has {100 * capped.median():.0f}% of its images at the "
                         "sample cap (every sample within r: there the margin reads sigma_min / ||J|| times a constant of "
                         f"the sample count, and not r) and {100 * robust.median():.0f}% r-robust at the clean input (range "
                         f"{100 * robust.min():.0f}-{100 * robust.max():.0f}%).")
    return text


def _cell(row: pd.Series | None) -> str:
    if row is None or not np.isfinite(float(row["rho"])):
        return tables.NA
    lo, hi = float(row["low"]), float(row["high"])
    ci = f" [{lo:+.2f}, {hi:+.2f}]" if np.isfinite(lo) and np.isfinite(hi) else ""
    return f"{float(row['rho']):+.2f}{ci} (n {int(row['n'])})"


def _one(t: pd.DataFrame, scope: str, partial: bool, wider: bool = False) -> pd.Series | None:
    """The row of ``scope``: plain, or partial (the first control set; ``wider``: the second)."""
    sel = t[(t.scope == scope) & ((t.controls.fillna("") != "") == partial)]
    return None if len(sel) <= int(wider) else sel.iloc[int(wider)]


def _short(verdict: str) -> str:
    return {LESS_ROBUST: "less robust", MORE_ROBUST: "more robust", NO_EVIDENCE: "no evidence either way"}.get(verdict, verdict)


def headline_figure(results: pd.DataFrame) -> str | None:
    """The margin column of the headline radius of the jobs the correlations use (the most common), or None."""
    used = per_model(results)
    if used is None or "margin_headline" not in used.columns:
        return None
    heads = used.loc[used[margin_figures(used)].notna().any(axis=1), "margin_headline"].dropna().astype(str)
    return MARGIN_PREFIX + heads.mode().iloc[0] if len(heads) else None


def _verdict_counts(corr: pd.DataFrame, margin_figure: str | None = None
                    ) -> list[tuple[str, str, int, list[tuple[str, pd.Series, int]]]]:
    """Per attack over all models, then over the models judged on equal terms where that scope exists:
    (attack, scope, pairs per control set, [(controls, verdict counts, most models)]), control sets in
    the table's order. For the margin, only ``margin_figure`` counts."""
    out = []
    for attack in dict.fromkeys(corr.attack):
        for scope in ("all models", EQUAL):
            t = corr[(corr.attack == attack) & (corr.scope == scope)]
            if attack == NO_ATTACK and margin_figure is not None:
                t = t[t.figure == margin_figure]
            if t.empty:
                continue
            sets = [(controls, u.verdict.value_counts(),
                     int(pd.to_numeric(u.n, errors="coerce").max()) if len(u) else 0)
                    for controls, u in t.groupby(t.controls.fillna(""), sort=False)]
            out.append((attack, scope, len(t) // max(len(sets), 1), sets))
    return out


def _said(counts: pd.Series) -> str:
    said = ", ".join(f"{int(counts.get(v, 0))} {_short(v)}" for v in (LESS_ROBUST, MORE_ROBUST, NO_EVIDENCE))
    return said + (f", {int(counts[NOT_ENOUGH])} {NOT_ENOUGH}" if counts.get(NOT_ENOUGH, 0) else "")


def headline(corr: pd.DataFrame, margin_figure: str | None = None) -> list[str]:
    """The findings' sentences: per attack and set of controls, how the (metric, figure) pairs over
    all models split between the verdicts (from the correlation table alone). For the margin, only the
    headline radius ``margin_figure`` counts (the other radii are in the table)."""
    out = []
    for attack, scope, pairs, sets in _verdict_counts(corr, margin_figure):
        parts = [f"{'controlling for ' + controls if controls else 'plain'} (up to {n} models): {_said(counts)}"
                 for controls, counts, n in sets]
        if attack == NO_ATTACK:
            at = f" at its headline radius ({label(margin_figure)}; the other radii in its table)" if margin_figure else ""
            what = (f"The first-order margin (no attack){at}", "margin")
        else:
            what = (f"Attack {attack}", "attack-success")
        over = "all models" if scope == "all models" else f"the {scope} only (a sensitivity check)"
        out.append(f"{what[0]}, over {over}, of the {pairs} (disentanglement metric, "
                   f"{what[1]} figure) pairs, more disentangled is: " + "; ".join(parts) + ".")
    return out


def verdict_table(corr: pd.DataFrame, margin_figure: str | None = None) -> Table | None:
    """The answer in one table: per attack (rows) and set of controls (columns), how many of the
    (metric, figure) pairs over all models say less robust / more robust / no evidence."""
    counts = _verdict_counts(corr, margin_figure)
    if not counts:
        return None
    sets = list(dict.fromkeys(c for _, _, _, s in counts for c, _, _ in s))
    rows = []
    for attack, scope, pairs, s in counts:
        by = {c: (k, n) for c, k, n in s}
        name = "first-order margin, no attack" + (f" ({label(margin_figure)})" if margin_figure else "") \
            if attack == NO_ATTACK else attack
        name += f", {scope} only" if scope != "all models" else ""
        rows.append([name, str(pairs), *[(f"{int(by[c][0].get(LESS_ROBUST, 0))} / {int(by[c][0].get(MORE_ROBUST, 0))} / "
                                          f"{int(by[c][0].get(NO_EVIDENCE, 0))} (n {by[c][1]})") if c in by else tables.NA
                                         for c in sets]])
    return Table(["attack", "pairs", *[("controlling for " + c if c else "plain") + ": less / more robust / no evidence"
                                       for c in sets]], rows)


def answer_table(corr: pd.DataFrame, attack: str) -> Table:
    """One attack's answer: per (metric, figure) the correlation over all models, the partial one, the one
    across objectives, and the verdict of each of the first two."""
    rows = []
    part = corr[corr.attack == attack]
    for (metric, figure), t in part.groupby(["metric", "figure"], sort=False):
        plain, partial = _one(t, "all models", False), _one(t, "all models", True)
        wider = _one(t, "all models", True, wider=True)
        across = next((r for _, r in t.iterrows() if str(r.scope).startswith("across")), None)
        rows.append([METRICS.get(metric, metric), label(figure), _cell(plain), _cell(partial), _cell(wider),
                     _cell(across), *[_short(str(r["verdict"])) if r is not None else tables.NA
                                      for r in (plain, partial, wider)]])
    return Table(["metric", "figure", "all models: rho [95%]", "controlling for the confounds",
                  "... and clean-recon accuracy", "across objectives", "more disentangled is ...", "... controlling",
                  "... and clean-recon accuracy"], rows)


def within_table(corr: pd.DataFrame, attack: str, figure: str = "as_ignore") -> Table | None:
    """Within each objective (its strengths and seeds): rho [95%] of each metric with ``figure``."""
    part = corr[(corr.attack == attack) & (corr.figure == figure) & corr.scope.str.startswith("within")]
    if part.empty:
        return None
    groups = list(dict.fromkeys(part.scope))
    rows = [[METRICS.get(m, m), *[_cell(_one(part[part.metric == m], g, False)) for g in groups]]
            for m in dict.fromkeys(part.metric)]
    return Table(["metric", *[g.removeprefix("within ") for g in groups]], rows)


MARGIN_TEXT = ("The margin (`vaerobust study margin`; Camuto et al. 2021) is a first-order estimate, per held-out "
               "image, of a lower bound on the L2 size of an input perturbation below which a sampled reconstruction stays within r of "
               "the clean one with probability above 1/2: min_i sigma_i * Phi^-1(p) / ||J_mu||_F, from the encoder "
               "mean's Jacobian, the posterior's smallest scale and p estimated from samples, taking sigma as unmoved "
               "by the perturbation (attacks do move it). No attack is run; it is not a certificate. A figure is a "
               "job's median over its images; higher = more robust, so \"more robust\" needs an interval above 0. "
               "The posterior's scale is one of its ingredients: the partial correlation asks whether a metric "
               "predicts the margin beyond that scale (and the reconstruction error); the judge plays no part.")


def section(corr: pd.DataFrame, out: Path, results: pd.DataFrame) -> list[Any]:
    """The report's blocks (empty without correlations); draws ``figures/scatter-<attack>.png``."""
    if corr.empty:
        return []
    from vaerobust.report.scatter import scatter_grid_png

    sets = list(dict.fromkeys(c for c in corr.controls if isinstance(c, str) and c))
    controls = sets[0] if sets else ""
    wider = f"; the second also for {sets[1].removeprefix(controls + ', ')}" if len(sets) > 1 else ""
    blocks: list[Any] = [
        Heading(2, "Are more disentangled models less robust?"),
        Paragraph("Spearman's rank correlation over the model jobs between each disentanglement metric (higher = more "
                  "disentangled) and each attack-success figure (higher = less robust; where measured, the first-order "
                  "margin too: higher = more robust), with a 95% bootstrap interval "
                  "that resamples settings (the training seeds of a setting are drawn together); partial correlations "
                  f"control for {controls or 'nothing'} (ranks regressed out){wider}; across objectives: "
                  "over the objectives' means. A verdict needs the interval to exclude 0 (otherwise "
                  f"\"no evidence either way\") and at least {MIN_MODELS} models from at least {MIN_MODELS} settings "
                  "(otherwise \"not enough "
                  "models\": a bootstrap over 3 settings is not a 95% interval). Every row is in `tables/correlations.csv`."),
    ]
    counts = verdict_table(corr, headline_figure(results))
    if counts is not None:
        blocks += [Paragraph("The answer in one table: of each attack's (disentanglement metric, figure) pairs over all "
                             "models, how many say more disentangled is less robust / more robust / no evidence either "
                             "way (n: the most models in a pair)" + (
                                 "; a row \"... judged on equal terms only\" counts again without the settings the judge "
                                 f"reads more than {100 * MAX_CLEAN_ACCURACY_GAP:.0f} points below the best one "
                                 "(clean-reconstruction accuracy, mean over "
                                 "seeds): a sensitivity check, added after records showed settings read at chance; the "
                                 "all-models rows stay the answer" if (corr.scope == EQUAL).any() else "") + ":"), counts]
    for attack in dict.fromkeys(corr.attack):
        t = corr[(corr.attack == attack) & (corr.scope == "all models")]
        defined = np.isfinite(pd.to_numeric(t.rho, errors="coerce").to_numpy(dtype=float))
        said = [str(s) for s in t.sentence[defined]]
        if (~defined).any():
            n = int(pd.to_numeric(t.n, errors="coerce").max()) if len(t) else 0
            said.append(f"{int((~defined).sum())} of {len(t)} correlations over all models are undefined (fewer than 3 "
                        f"models with both figures, or a constant figure; here at most {n}): not enough models.")
        title = f"Attack {attack}" if attack != NO_ATTACK else "No attack: the first-order margin"
        blocks += [Heading(3, title), answer_table(corr, attack), Bullets(said)]
        equal = corr[(corr.attack == attack) & (corr.scope == EQUAL)]
        if not equal.empty:
            gone = left_out(results[results.attack == attack].reset_index(drop=True))
            blocks += [Paragraph(f"Sensitivity check: the same correlations over the models judged on equal terms only, "
                                 f"without {gone} (not the answer: see above):"), Bullets([str(x) for x in equal.sentence])]
        if attack == NO_ATTACK:
            blocks.append(Paragraph(MARGIN_TEXT + " " + margin_text(results)))
        fig = (headline_figure(results) or "") if attack == NO_ATTACK else "as_ignore"
        within = within_table(corr, attack, fig)
        if within is not None and any(c != tables.NA for row in within.rows for c in row[1:]):
            blocks += [Paragraph(f"Within each objective (its strengths and seeds), with {label(fig)}:"), within]
        metrics = [m for m in METRICS if m in set(corr.metric)]
        if attack == NO_ATTACK:
            part, name, what = per_model(results), "scatter-margin", "the margin"
            figures = margin_figures(part) if part is not None else []
        else:
            part, figures, name, what = results[results.attack == attack], list(FIGURES), f"scatter-{attack}", \
                "attack success"
        if part is None:
            continue
        png = scatter_grid_png(part, metrics, figures, out / "figures" / f"{name}.png",
                               color="objective" if "objective" in part.columns else None,
                               title=f"{attack}: disentanglement (columns) against {what} (rows)")
        blocks.append(Images([(f"{attack}: each model job", str(png.relative_to(out)))]))
    return blocks


def moved_table(results: pd.DataFrame, unreliable: set[str]) -> Table | None:
    """Which factors the attacks moved (as the factor judge reads them): per setting and attack, the
    mean over seeds of the share of attacked examples whose judged value of each factor changed;
    factors the judge reads below the sweeps' ``min_judge_accuracy`` are marked."""
    cols = [c for c in results.columns if c.startswith("moved.")]
    if not cols:
        return None
    g = results.groupby(["model", "attack"], sort=False)[cols].mean(numeric_only=True).reset_index()
    names = [c.removeprefix("moved.") for c in cols]
    header = ["model", "attack", *[n + (" (unreliable)" if n in unreliable else "") for n in names]]
    rows = [[str(r["model"]), str(r["attack"]), *[tables.NA if not np.isfinite(r[c]) else f"{100 * r[c]:.0f}%" for c in cols]]
            for _, r in g.iterrows()]
    return Table(header, rows)


__all__ = ["CONTROLS", "EQUAL", "FIGURES", "MARGIN_PREFIX", "MORE_CONTROLS", "METRICS", "NO_ATTACK", "answer_table",
           "available", "correlations", "headline", "headline_figure", "judged_on_equal_terms", "label", "left_out",
           "margin_figures", "margin_text", "moved_table", "per_model", "section", "verdict_table", "within_table"]

"""Sentences of findings, each generated from the numbers (never written in advance).

Uncertainty: a pair's rate carries a Wilson 95 % interval; a model's mean over pairs the
interval of :meth:`vaerobust.metrics.robustness.SuccessTable.overall` (a source-clustered
bootstrap, or for older runs the independent-pairs one), read from summary.json, never recomputed here. The
difference of two models' means gets se = sqrt(se_1^2 + se_2^2), each standard error read
back from its interval as (high - low) / (2 * 1.96) (approximate where an interval is
clipped at 0 or 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from vaerobust.report import tables
from vaerobust.studies import Study, get_study

Z95 = 1.959964

#: A run cannot conclude when, for some model, fewer than this share of the ordered pairs it formed
#: kept a source (its mean rests on a few pairs) ...
MIN_KEPT_PAIR_FRACTION = 0.5
#: ... or when its judge's accuracy on clean reconstructions is this far (absolute) below the best
#: model's (the models are not judged on equal terms: the clean filter keeps other sources).
MAX_CLEAN_ACCURACY_GAP = 0.20
INCONCLUSIVE = "Inconclusive (see the warning at the top): "


def inconclusive_reasons(summaries: Mapping[str, Any]) -> list[str]:
    """Why these attack results cannot support a comparison of the models (empty: no such reason).

    Computed from the numbers: per model, the share of formed pairs with a kept source
    (< :data:`MIN_KEPT_PAIR_FRACTION`), and the gap between its clean-reconstruction accuracy and
    the best model's (> :data:`MAX_CLEAN_ACCURACY_GAP`).
    """
    out = []
    acc = {name: tables.count(s, "clean_recon_accuracy") for name, s in summaries.items()}
    known = {k: v for k, v in acc.items() if isinstance(v, (int, float))}
    best = max(known, key=lambda k: known[k]) if known else None
    for name, s in summaries.items():
        res = tables.results_of(s)
        k = len(res["classes"])
        formed = sum(1 for i in range(k) for j in range(k) if i != j and (res["n_pairs_total"][i][j] or 0) > 0)
        kept = int(res["ignore"]["overall"].get("pairs") or 0)
        if formed and kept / formed < MIN_KEPT_PAIR_FRACTION:
            out.append(f"{name}: only {kept} of its {formed} ordered pairs kept a source (the judge misread the clean "
                       f"reconstructions of the others), below {MIN_KEPT_PAIR_FRACTION:.0%}")
        if best is not None and name in known and name != best and known[best] - known[name] > MAX_CLEAN_ACCURACY_GAP:
            out.append(f"{name}: the judge reads {known[name]:.1%} of its clean test reconstructions correctly, against "
                       f"{known[best]:.1%} for {best}: the models are not judged on equal terms")
    return out


def _se(row: Mapping[str, Any]) -> float | None:
    """Standard error of a mean over pairs, read back from its 95 % interval."""
    if row["ci_low"] is None or row["ci_high"] is None or row["mean"] is None:
        return None
    return (row["ci_high"] - row["ci_low"]) / (2 * Z95)


def _order_text(names: Sequence[str], means: Sequence[float] | None = None) -> str:
    """"a > b > c", with "=" between equal means."""
    if not names:
        return ""
    out = names[0]
    for i in range(1, len(names)):
        tie = means is not None and math.isclose(means[i - 1], means[i], rel_tol=0.0, abs_tol=1e-12)
        out += (" = " if tie else " > ") + names[i]
    return out


def result_statements(summaries: Mapping[str, Any], reference_names: Mapping[str, str | None] | None = None,
                      study: Study | None = None) -> list[str]:
    """Sentences about the results, each computed from the numbers (Markdown, one per item).

    ``summaries``: display name -> attack summary. Per measure (AS ignore-target, AS target):
    which model has the highest and the lowest mean (:func:`ranking`); where ``study`` has
    reference numbers (``reference_label``, e.g. "thesis"), whether our ordering of its models
    agrees with its claimed ordering (:func:`reference_ordering`) and whether its value lies
    inside our interval (:func:`reference_inside`); whether each pair of models' 95 % intervals
    overlap, with the difference and its approximate interval (:func:`differences`). Then per
    model, which pairs were measured and which source class is the easiest and the hardest to
    move (:func:`coverage_and_classes`). Without a study, no sentence mentions a reference.
    When :func:`inconclusive_reasons` finds a reason, every sentence that compares models starts
    with "Inconclusive".
    """
    study = study if study is not None else get_study(None)
    refs = dict(reference_names or {})
    rows = tables.means_rows(summaries, refs, study)
    out: list[str] = []
    doubt = INCONCLUSIVE if inconclusive_reasons(summaries) and len(summaries) > 1 else ""
    for which in tables.WHICH:
        valid = [r for r in rows if r[which]["mean"] is not None]
        if not valid:
            out.append(f"No model has a measurable mean {tables.WHICH_LABEL[which]} (no kept source in any pair).")
            continue
        ranked = sorted(valid, key=lambda r: -r[which]["mean"])
        comparisons = ranking(ranked, which) + reference_ordering(ranked, which, study) + differences(ranked, which)
        out += [doubt + s for s in comparisons] + reference_inside(valid, which, study)
    for name, summary in summaries.items():
        out += coverage_and_classes(name, summary, study.reference_marginal(refs.get(name, name) or "", "ignore"),
                                    study.reference_label)
    return out


def ranking(ranked: Sequence[Mapping[str, Any]], which: str) -> list[str]:
    """The highest and lowest mean of ``which`` over models sorted by it (means_rows rows)."""
    meas = tables.WHICH_LABEL[which]
    if len(ranked) == 1:
        r = ranked[0][which]
        return [f"Only one model was attacked: **{ranked[0]['model']}** has a mean {meas} of "
                f"{tables.fmt_ci(r['mean'], r['ci_low'], r['ci_high'])}."]
    if math.isclose(ranked[0][which]["mean"], ranked[-1][which]["mean"], rel_tol=0.0, abs_tol=1e-12):
        return [f"All {len(ranked)} models have the same mean {meas}, "
                f"{tables.fmt_pct(ranked[0][which]['mean'], 1)}: no model is more attackable than another."]
    hi, lo = ranked[0], ranked[-1]
    return [f"**{hi['model']}** has the highest mean {meas} "
            f"({tables.fmt_ci(hi[which]['mean'], hi[which]['ci_low'], hi[which]['ci_high'])}) and "
            f"**{lo['model']}** the lowest "
            f"({tables.fmt_ci(lo[which]['mean'], lo[which]['ci_low'], lo[which]['ci_high'])}); "
            f"ordering: {_order_text([r['model'] for r in ranked], [r[which]['mean'] for r in ranked])}."]


def reference_ordering(ranked: Sequence[Mapping[str, Any]], which: str, study: Study) -> list[str]:
    """Whether our ordering of the reference's models agrees with the ordering it claims."""
    meas, ref_word, order = tables.WHICH_LABEL[which], study.reference_label, study.reference_order
    with_ref = [r for r in ranked if r["reference_model"] in order]
    names = [r["reference_model"] for r in with_ref]
    if len(set(names)) >= 2 and len(set(names)) == len(names):
        ours = _order_text(names, [r[which]["mean"] for r in with_ref])
        claimed = [m for m in order if m in names]
        verdict = "agrees with" if ours == _order_text(claimed) else "does not agree with"
        return [f"{meas}: our ordering of the {ref_word}'s models, {ours}, {verdict} the {ref_word}'s "
                f"ordering {_order_text(claimed)}."]
    if len(set(names)) >= 2:
        return [f"{meas}: the {ref_word}'s ordering {_order_text(order)} is not checked, as a model name appears "
                "more than once (several studies or attack sweeps); compare the rows of the means table."]
    if with_ref:
        return [f"{meas}: fewer than two distinct models of the {ref_word} were attacked, so its ordering "
                f"{_order_text(order)} cannot be checked."]
    return []


def differences(ranked: Sequence[Mapping[str, Any]], which: str) -> list[str]:
    """Every pair of models: do their 95 % intervals overlap; the difference with its approximate interval."""
    meas, out = tables.WHICH_LABEL[which], []
    for i in range(len(ranked)):
        for j in range(i + 1, len(ranked)):
            a, b = ranked[i][which], ranked[j][which]
            if None in (a["ci_low"], a["ci_high"], b["ci_low"], b["ci_high"]):
                continue
            overlap = a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"]
            d = 100 * (a["mean"] - b["mean"])
            se = 100 * math.sqrt((_se(a) or 0.0) ** 2 + (_se(b) or 0.0) ** 2)
            out.append(f"{meas}, {ranked[i]['model']} vs {ranked[j]['model']}: the 95% intervals "
                       f"{'overlap' if overlap else 'do not overlap'}; difference {d:+.1f} pp, approx. 95% CI "
                       f"[{d - Z95 * se:+.1f}, {d + Z95 * se:+.1f}] pp"
                       f"{' (excludes 0)' if abs(d) > Z95 * se else ' (includes 0)'}.")
    return out


def reference_inside(rows: Sequence[Mapping[str, Any]], which: str, study: Study) -> list[str]:
    """Per model with a reference value: does it lie inside our interval."""
    meas, ref_word, out = tables.WHICH_LABEL[which], study.reference_label, []
    for r in rows:
        w = r[which]
        if w["reference"] is not None and w["reference_in_ci"] is not None:
            where = "inside" if w["reference_in_ci"] else "outside"
            out.append(f"{meas}, {r['model']}: the {ref_word}'s {tables.fmt_ref_pct(w['reference'])} lies {where} our "
                       f"95% interval {tables.fmt_ci(w['mean'], w['ci_low'], w['ci_high'])} "
                       f"(ours − {ref_word} = {tables.fmt_pp(w['diff_pp'])} pp).")
    return out


def coverage_and_classes(name: str, summary: Any, ref: Sequence[float] | None, ref_word: str) -> list[str]:
    """Which pairs a model's means cover, and its easiest and hardest source class (beside the reference's)."""
    res = tables.results_of(summary)
    k = len(res["classes"])
    out = []
    n_pairs = int(res["ignore"]["overall"].get("pairs") or 0)
    formed = sum(1 for i in range(k) for j in range(k) if i != j and (res["n_pairs_total"][i][j] or 0) > 0)
    if n_pairs < formed:
        out.append(f"{name}: only {n_pairs} of the {formed} ordered pairs had a kept source (the judge "
                   "misclassified the clean reconstructions of the others); its means are over those pairs.")
    if formed < k * (k - 1):
        out.append(f"{name}: {formed} of the {k * (k - 1)} ordered pairs of its classes were asked for; its "
                   "means are over those.")
    marg = [(c, v) for c, v in zip(res["classes"], res["ignore"]["source_marginal"]) if not tables.is_missing(v)]
    if len(marg) < 2:
        return out
    easy, hard = max(marg, key=lambda cv: cv[1]), min(marg, key=lambda cv: cv[1])
    text = (f"{name}: source {easy[0]} is the easiest to move ({tables.fmt_pct(easy[1])} AS ignore-target), "
            f"source {hard[0]} the hardest ({tables.fmt_pct(hard[1])})")
    if ref is not None:
        ec = max(range(len(ref)), key=lambda c: ref[c])
        hc = min(range(len(ref)), key=lambda c: ref[c])
        same = "the same classes as" if (ec, hc) == (easy[0], hard[0]) else "unlike"
        text += (f"; {same} the {ref_word}, whose easiest is {ec} ({tables.fmt_ref_pct(ref[ec])}) and hardest "
                 f"{hc} ({tables.fmt_ref_pct(ref[hc])})")
    return out + [text + "."]


__all__ = ["INCONCLUSIVE", "MAX_CLEAN_ACCURACY_GAP", "MIN_KEPT_PAIR_FRACTION", "Z95", "coverage_and_classes",
           "differences", "inconclusive_reasons", "ranking", "reference_inside", "reference_ordering",
           "result_statements"]

"""Report sections beside the attack tables: latent-code measures and robustness curves.

Both are built from records :mod:`vaerobust.report.collect` read:
- ``<run>/metrics/disentanglement.json`` (written by :func:`vaerobust.pipelines.evaluate.evaluate_run`):
  one row per model of the measures it holds;
- ``<run>/attacks/<id>/curve.json`` (written by :func:`vaerobust.pipelines.strength.strength_sweep`):
  the curves of every model that has a sweep with the same ``<id>``, overlaid in one figure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from vaerobust.report.document import Block, Bullets, Heading, Images, Paragraph, Table

#: What each measure is and where it comes from (printed under the table).
METRIC_NOTES = {
    "active_dims": "active Gaussian dimensions: mean KL(q(z_j|x) || N(0, 1)) over the test images above the "
                   "threshold (nats); a collapsed dimension carries no information.",
    "categorical_agreement": "agreement of each categorical code's argmax with the class label (the digit on MNIST, "
                             "the shape on dSprites): normalised mutual "
                             "information (NMI, arithmetic normalisation) and the accuracy of the best one-to-one map "
                             "from code values to classes (Hungarian matching). JointVAE's claim (Dupont 2018, "
                             "arXiv 1804.00104) is that this code captures the digit.",
    "beta_vae": "beta-VAE score (Higgins et al. 2017): accuracy of a linear classifier predicting the fixed factor "
                "from mean absolute code differences of pairs sharing it.",
    "factor_vae": "FactorVAE score (Kim & Mnih 2018, arXiv 1802.05983): majority-vote accuracy of the least-variant "
                  "normalised dimension predicting the fixed factor.",
    "mig": "MIG (Chen et al. 2018, arXiv 1802.04942): mean over factors of the gap between the two largest mutual "
           "informations with a code dimension, over the factor's entropy.",
    "dci": "DCI (Eastwood & Williams 2018): disentanglement, completeness and informativeness (test accuracy) "
           "from the importance matrix of gradient-boosted trees: by default the predictor of the disentanglement_lib "
           "reference studies (Locatello et al. 2019, arXiv 1811.12359: scikit-learn's GradientBoostingClassifier "
           "with its defaults); `--dci-predictor fast` (histogram boosting) where a run's "
           "metrics/disentanglement.json says `dci_predictor: fast`.",
    "sap": "SAP (Kumar et al. 2018, arXiv 1711.00848): mean gap between the two most predictive dimensions per factor.",
}

#: (column title, metric, path into its value) for the factor metrics' headline numbers.
FACTOR_COLUMNS = (
    ("beta-VAE score", "beta_vae", ("eval_accuracy",)),
    ("FactorVAE score", "factor_vae", ("eval_accuracy",)),
    ("MIG", "mig", ("mig",)),
    ("DCI D", "dci", ("disentanglement",)),
    ("DCI C", "dci", ("completeness",)),
    ("DCI I", "dci", ("informativeness_test",)),
    ("SAP", "sap", ("sap",)),
)


def _num(x: Any) -> str:
    return "n/a" if not isinstance(x, (int, float)) else f"{x:.3f}"


def codes_section(codes: Mapping[str, Mapping[str, Any]], dims: Mapping[str, int | None]) -> list[Block]:
    """Blocks of the "Latent codes" section: one row per model (label -> disentanglement.json)."""
    cols: list[tuple[str, Callable[[Mapping[str, Any]], str]]] = []
    have = {m for c in codes.values() for m in c["metrics"]}
    if "active_dims" in have:
        def active(c: Mapping[str, Any]) -> str:
            a = c["metrics"].get("active_dims")
            return "n/a" if a is None else str(a["active"])
        cols.append(("active Gaussian dims", active))
    if "categorical_agreement" in have:
        def nmi(c: Mapping[str, Any]) -> str:
            a = c["metrics"].get("categorical_agreement")
            return "n/a" if not a else " / ".join(_num(x["nmi"]) for x in a)

        def acc(c: Mapping[str, Any]) -> str:
            a = c["metrics"].get("categorical_agreement")
            return "n/a" if not a else " / ".join(f"{100 * x['best_map_accuracy']:.1f}%" for x in a)
        cols += [("code-class NMI", nmi), ("code-class best-map accuracy", acc)]
    for title, metric, keys in FACTOR_COLUMNS:
        if metric in have:
            def factor(c: Mapping[str, Any], metric: str = metric, keys: Sequence[str] = keys) -> str:
                v: Any = c["metrics"].get(metric)
                for k in keys:
                    v = v.get(k) if isinstance(v, dict) else None
                return _num(v)
            cols.append((title, factor))
    if not cols:
        return []
    header = ["model", "Gaussian dims", *[t for t, _ in cols]]
    rows = [[label, str(dims.get(label)) if dims.get(label) is not None else "n/a", *[fn(c) for _, fn in cols]]
            for label, c in codes.items()]
    thr = {c["metrics"]["active_dims"].get("threshold_nats") for c in codes.values() if "active_dims" in c["metrics"]}
    notes = [METRIC_NOTES[m] for m in METRIC_NOTES if m in have]
    if thr:
        notes.append(f"active-dimension threshold: {', '.join(f'{t:g}' for t in sorted(thr))} nats; measured on "
                     f"{', '.join(sorted({str(c.get('split')) for c in codes.values()}))} split images.")
    for label, c in codes.items():
        fm = c.get("factor_metrics")
        if isinstance(fm, dict):
            sizes = ", ".join(f"{k} {v}" for k, v in (fm.get("sizes") or {}).items()) or "each metric's defaults"
            notes.append(f"{label}: factor metrics on the full factor grid, seed {fm.get('seed')}, sizes: {sizes}; "
                         f"{fm.get('grid_images_encoded')} grid images encoded.")
        if c.get("training_complete") is False:
            notes.append(f"{label}: measured on an unfinished training run (its last checkpoint).")
    na = sorted({f"{m}: {why}" for c in codes.values() for m, why in (c.get("not_applicable") or {}).items()})
    if na:
        notes.append("not measured here: " + "; ".join(na) + ".")
    return [Heading(2, "Latent codes: disentanglement measures of the attacked checkpoints"),
            Paragraph("Written by `vaerobust evaluate RUN` (`metrics/disentanglement.json` in each run directory)."),
            Table(header, rows, "lr" + "r" * len(cols)), Bullets(notes)]


def curves_section(curves: Mapping[str, Mapping[str, dict]], fig_dir: Path, link: Callable[[Path], str],
                   slug: Callable[[str], str]) -> list[Block]:
    """Blocks and overlay figures for every swept attack (one subsection per attack id)."""
    from vaerobust.report.figures import dd_curves_png, success_curves_png

    if not curves:
        return []
    out: list[Block] = [
        Heading(2, "Robustness curves"),
        Paragraph("Each attack run over a grid of its strength (`vaerobust attack ... --sweep KEY=GRID`). AUDDC: area "
                  "under the normalised distortion-distortion curve (Gondim-Ribeiro et al. 2018, arXiv 1806.04646), x = "
                  "input distortion / ||x_t - x_s||, y = (output distance to the target - its floor) / (no-attack "
                  "distance - floor), from the no-attack point (0, 1) to x = 1; lower = the output reaches the target "
                  "for less input change = less robust. AS area: area under AS versus the swept value (over log10 for "
                  "lam), and its mean height.")]
    for attack_id, by_model in curves.items():
        first = next(iter(by_model.values()))
        key = first["key"]
        out.append(Heading(3, f"{attack_id}: {first['attack']['name']} attack over {key}"))
        header = ["model", "grid", "attacked per point", "AUDDC (output)", "AUDDC (latent)",
                  "AS ignore-target area (mean)", "AS target area (mean)"]
        rows = []
        for label, c in by_model.items():
            vals = c["values"]
            n = sorted({p["n_attacked"] for p in c["points"]})
            rows.append([label, f"{len(vals)} values {vals[0]:g}..{vals[-1]:g}", "/".join(map(str, n)),
                         _num(c.get("auddc")), _num(c.get("auddc_latent")),
                         f"{_num(c.get('as_ignore_area'))} ({_num(c.get('as_ignore_mean'))})",
                         f"{_num(c.get('as_target_area'))} ({_num(c.get('as_target_mean'))})"])
        out.append(Table(header, rows, "llrrrrr"))
        dd = dd_curves_png(dict(by_model), fig_dir / f"curve_{slug(attack_id)}_dd.png",
                           f"{first['attack']['name']} attack over {key}: distortion-distortion")
        sc = success_curves_png(dict(by_model), fig_dir / f"curve_{slug(attack_id)}_as.png",
                                f"{first['attack']['name']} attack: success vs {key}")
        out.append(Images([(f"{attack_id} distortion-distortion curves", link(dd)), (f"{attack_id} AS curves", link(sc))]))
    return out


__all__ = ["FACTOR_COLUMNS", "METRIC_NOTES", "codes_section", "curves_section"]

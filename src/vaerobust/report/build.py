"""The study report: run folders -> Markdown, HTML, LaTeX, CSV, JSON and PNG files.

:func:`build_report` reads only run folders (:mod:`vaerobust.report.collect`), draws the
figures (:mod:`vaerobust.report.figures`), assembles one :class:`~vaerobust.report.document.Document`
and renders it with the jinja2 templates into ``report.md`` and ``report.html``. Every
sentence that states a result is generated from the numbers (:mod:`vaerobust.report.statements`);
reference numbers and protocol checks are the study's (:mod:`vaerobust.studies`).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vaerobust import __version__, files
from vaerobust.config import OBJECTIVE_SETTINGS, flatten
from vaerobust.errors import ConfigError
from vaerobust.report import figures as F
from vaerobust.report import tables
from vaerobust.report.collect import AttackRun, VAERun, collect, facts, rel, slug, study_of, summaries_of
from vaerobust.report.document import Bullets, Document, Heading, Images, Paragraph, Quote, Table, render
from vaerobust.report.sections import codes_section, curves_section
from vaerobust.report.statements import inconclusive_reasons, result_statements
from vaerobust.studies import STUDIES, Study, get_study


def _v(x: Any) -> str:
    if x is None:
        return "none"
    if isinstance(x, float):
        return f"{x:g}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(_v(v) for v in x) + "]"
    return str(x)


def _ratio(num: Any, den: Any) -> str:
    return f"{num / den:.3f}" if isinstance(num, int) and isinstance(den, int) and den > 0 else tables.NA


def _fmt_seconds(s: Any) -> str:
    if not isinstance(s, (int, float)) or math.isnan(s):
        return tables.NA
    return f"{s:.1f} s" if s < 60 else f"{s / 60:.1f} min" if s < 3600 else f"{s / 3600:.2f} h"


def _short_hash(h: Any) -> str:
    return f"`{h[:12]}…`" if isinstance(h, str) and h else tables.NA


# --------------------------------------------------------------------------- what was run


def training_table(runs: Sequence[VAERun], root: Path) -> Table:
    """One column per model: its settings (read from config.yaml) and its last logged numbers."""
    flat = [flatten(r.config) for r in runs]

    def obj(i: int, key: str) -> str:
        name = flat[i].get("objective.name")
        if name in OBJECTIVE_SETTINGS and key not in {f.name for f in dataclasses.fields(OBJECTIVE_SETTINGS.get(name))}:
            return tables.DASH  # not a setting of this objective
        return _v(flat[i].get(f"objective.{key}"))

    def last(i: int, key: str) -> str:
        m = runs[i].last_metrics or {}
        return f"{m[key]:.2f}" if isinstance(m.get(key), (int, float)) else tables.NA

    spec = [
        ("run directory", lambda i: f"`{rel(runs[i].directory, root)}`"),
        ("training complete", lambda i: "yes" if runs[i].complete else "**no**"),
        ("data", lambda i: f"{_v(flat[i].get('data.name'))} ({_v(flat[i].get('data.image_size'))} px)"),
        ("latents (Gaussian dims, categorical)",
         lambda i: f"{_v(flat[i].get('model.gaussian_dims'))}, {_v(flat[i].get('model.categorical'))}"),
        ("objective", lambda i: _v(flat[i].get("objective.name"))),
        ("beta", lambda i: obj(i, "beta")),
        ("gamma", lambda i: obj(i, "gamma")),
        ("capacity max (nats)", lambda i: obj(i, "capacity_max")),
        ("capacity steps (none = the whole training)", lambda i: obj(i, "capacity_steps")),
        ("categorical capacity max (none = same)", lambda i: obj(i, "cat_capacity_max")),
        ("categorical capacity steps (none = same)", lambda i: obj(i, "cat_capacity_steps")),
        ("training steps", lambda i: _v(flat[i].get("train.steps"))),
        ("batch size", lambda i: _v(flat[i].get("train.batch_size"))),
        ("learning rate (Adam)", lambda i: _v(flat[i].get("train.lr"))),
        ("weight decay", lambda i: _v(flat[i].get("train.weight_decay"))),
        ("Concrete temperature", lambda i: _v(flat[i].get("train.temperature"))),
        ("seed", lambda i: _v(flat[i].get("train.seed"))),
        ("last logged step", lambda i: _v((runs[i].last_metrics or {}).get("step", tables.NA))),
        ("last logged loss", lambda i: last(i, "loss")),
        ("last logged reconstruction term", lambda i: last(i, "recon")),
        ("training throughput (images/s, last log)", lambda i: last(i, "images_per_s")),
        ("training data sha256", lambda i: _short_hash(flat[i].get("meta.data_sha256"))),
        ("package version", lambda i: _v(flat[i].get("meta.version"))),
    ]
    return Table(["setting", *[r.label for r in runs]], [[label, *[fn(i) for i in range(len(runs))]]
                                                          for label, fn in spec], "l" * (len(runs) + 1))


def attack_table(attacks: Sequence[AttackRun], root: Path) -> Table:
    """One column per attack sweep: its settings, counts, judge and provenance (read from summary.json)."""

    def at(a: AttackRun, key: str) -> str:
        return _v(a.summary.attack.get(key, tables.NA))

    def sw(a: AttackRun, key: str) -> str:
        return _v(a.summary.sweep.get(key, tables.NA))

    def per_pair(a: AttackRun) -> str:
        if "per_pair" not in a.summary.sweep:
            return tables.NA
        return "all test images" if a.summary.sweep["per_pair"] is None else str(a.summary.sweep["per_pair"])

    def judge(a: AttackRun) -> str:
        if a.judge is None:
            return "not found"
        return f"`{rel(a.judge.directory, root)}` (test accuracy {tables.fmt_pct(a.judge.test_accuracy)})"

    spec = [
        ("attack directory", lambda a: f"`{rel(a.directory, root)}`"),
        ("attack complete", lambda a: "yes" if a.complete else "**no**"),
        ("attack", lambda a: at(a, "name")),
        ("eps (L-inf)", lambda a: at(a, "eps")),
        ("L2 budget (none = no L2 ball)", lambda a: at(a, "l2_eps")),
        ("lambda", lambda a: at(a, "lam")),
        ("optimiser", lambda a: at(a, "optimizer")),
        ("optimiser steps", lambda a: at(a, "steps")),
        ("learning rate (Adam) or step size (sign)", lambda a: at(a, "lr")),
        ("initial noise std", lambda a: at(a, "noise_std")),
        ("start point", lambda a: {"twice_source": "clip(2 x_s + noise) (author's script)",
                                   "source": "clip(x_s + noise)"}.get(a.summary.attack.get("start", "source"), tables.NA)),
        ("gradient zeroed each step", lambda a: "yes" if a.summary.attack.get("zero_grad", True) else
         "**no** (running sum, author's script)"),
        ("restarts (best kept)", lambda a: at(a, "restarts")),
        ("posterior samples in the loss", lambda a: at(a, "samples")),
        ("early stopping (patience, min delta)", lambda a: "off" if not a.summary.attack.get("early_stop") else
         f"on ({at(a, 'patience')}, {at(a, 'min_delta')})"),
        ("continuous batching (examples at once)", lambda a: "off" if a.summary.attack.get("width") is None else
         f"on ({at(a, 'width')})"),
        ("encoder evaluations / fixed-loop image-steps", lambda a: _ratio(a.summary.encoder_evaluations,
                                                                          a.summary.image_steps)),
        ("pairs", lambda a: sw(a, "pairs")),
        ("classes", lambda a: sw(a, "classes")),
        ("images per pair", per_pair),
        ("sweep seed", lambda a: sw(a, "seed")),
        ("judge's dropout while judging", lambda a: "**active** (author's script)" if a.summary.sweep.get("judge_dropout")
         else "off (eval mode)"),
        ("categorical code when judging", lambda a: "**sampled** (author's code)" if a.summary.sweep.get("sample_categorical")
         else "argmax"),
        ("pairs of images formed", lambda a: _v(a.summary.n_pairs_formed if a.summary.n_pairs_formed is not None
                                                else tables.NA)),
        ("sources attacked (clean recon. correct)", lambda a: _v(a.summary.n_attacked if a.summary.n_attacked
                                                                 is not None else tables.NA)),
        ("judge's accuracy on clean reconstructions", lambda a: tables.fmt_pct(a.summary.clean_recon_accuracy)),
        ("judge", judge),
        ("test data", lambda a: _v(a.summary.data.get("name", tables.NA))),
        ("test data sha256", lambda a: _short_hash(a.summary.data_sha256)),
        ("package version", lambda a: _v(a.summary.version or tables.NA)),
        ("device", lambda a: _v(a.summary.device or tables.NA)),
        ("wall time of the sweep", lambda a: _fmt_seconds(a.summary.seconds)),
    ]
    return Table(["setting", *[a.label for a in attacks]], [[label, *[fn(a) for a in attacks]] for label, fn in spec],
                 "l" * (len(attacks) + 1))


# --------------------------------------------------------------------------- figures


def draw_figures(runs: Sequence[VAERun], attacks: Sequence[AttackRun], fig_dir: Path, study: Study,
                 ) -> tuple[dict[str, dict[str, Path]], dict[str, Path], dict[str, list[Path]]]:
    """Heatmaps and examples per attack, marginal overlays, and each run's own figures copied."""
    attack_figs: dict[str, dict[str, Path]] = {}
    for a in attacks:
        res = tables.results_of(a.summary)
        figs = {which: F.heatmap_png(res[which]["rate"], fig_dir / f"{slug(a.label)}_heatmap_{which}.png",
                                     f"{a.label}: {tables.WHICH_LABEL[which]} (%)", tables.class_labels(a.summary))
                for which in tables.WHICH}
        npz = a.directory / "samples.npz"
        if npz.is_file():
            figs["examples"] = F.adversarial_examples_png(npz, fig_dir / f"{slug(a.label)}_examples.png",
                                                          f"{a.label}: {a.summary.attack.get('name', '')} attack "
                                                          "examples".replace("  ", " "))
        attack_figs[a.label] = figs
    marginal_figs = {}
    if attacks:
        summaries = {a.label: a.summary for a in attacks}
        for which in tables.WHICH:
            marginal_figs[which] = F.marginals_png(summaries, fig_dir / f"marginals_{which}.png", which,
                                                   reference_names={a.label: a.model for a in attacks}, study=study)
    model_figs: dict[str, list[Path]] = {}
    for r in runs:
        copied = []
        for f in r.figures:
            copied.append(files.write_bytes(fig_dir / f"{slug(r.label)}__{f.name}", f.read_bytes()))
        model_figs[r.label] = copied
    return attack_figs, marginal_figs, model_figs


# --------------------------------------------------------------------------- the document


def document(root: Path, out: Path, runs: list[VAERun], study: Study, reduced: list[str], other: list[str],
             statements: list[str], figs: tuple[dict, dict, dict]) -> Document:
    """report.md / report.html as blocks, top to bottom."""
    attack_figs, marginal_figs, model_figs = figs
    attacks = [a for r in runs for a in r.attacks]
    summaries = summaries_of(runs)
    ref_names = {a.label: a.model for a in attacks}
    ref = study.reference_label

    def link(p: Path) -> str:
        return p.relative_to(out).as_posix()

    doc = Document(study.title)
    doc.add(Heading(1, study.title), Paragraph(
        (study.citation + " " if study.citation else "") + f"Generated by vaerobust {__version__} on "
        f"{_dt.date.today().isoformat()} from `{root}`: {len(runs)} VAE run(s), {len(attacks)} attack sweep(s)."))
    doubts = inconclusive_reasons(summaries) if len(attacks) > 1 else []
    if doubts:
        doc.add(Quote("**This run cannot conclude which model is more robust.** Its comparisons below are marked "
                      "inconclusive, because:", doubts))
    if reduced:
        doc.add(Quote(f"**This is a reduced reproduction.** Its budgets or data differ from the {ref}'s, so its "
                      f"numbers are not expected to match the {ref}'s and its intervals are wider:", reduced))
    elif study.full_budget_text:
        doc.add(Paragraph(study.full_budget_text))
    if statements:
        doc.add(Heading(2, "Findings (generated from the numbers below)"), Bullets(statements))

    doc.add(Heading(2, "What was run"), Heading(3, "Models (read from each run's config.yaml)"),
            training_table(runs, root), Heading(3, "Judge classifier"))
    judges = {a.judge.directory: a.judge for a in attacks if a.judge is not None}
    if judges:
        items = []
        for j in judges.values():
            clf = (j.config or {}).get("classifier") or {}
            items.append(f"`{rel(j.directory, root)}`: test accuracy **{tables.fmt_pct(j.test_accuracy)}** on "
                         f"{_v(j.n_test)} test images after {_v(j.steps)} steps ({_v(clf.get('epochs'))} epochs, "
                         f"lr {_v(clf.get('lr'))}, momentum {_v(clf.get('momentum'))}, batch {_v(clf.get('batch_size'))}).")
        doc.add(Bullets(items))
    else:
        doc.add(Paragraph("No judge run was found (no eval.json at the paths the attacks recorded)."))
    doc.add(Heading(3, "Attacks (read from each summary.json)"))
    doc.add(attack_table(attacks, root) if attacks else
            Paragraph(f"No attack results under `{root}` yet (no `attacks/*/summary.json`)."))
    untested = [r.label for r in runs if not r.attacks]
    if untested and attacks:
        doc.add(Paragraph(f"Models without attack results (not in the tables below): {', '.join(untested)}."))
    if study.protocol_check is not None:
        budget = [f"budget: {line}" for line in reduced] or [f"no budget below the {ref}'s."]
        setting = [f"setting: {line}" for line in other] or [
            f"no other setting differs from the `{study.name}` preset (checked for the models it names)."]
        doc.add(Heading(3, f"Differences from the {ref}'s protocol"), Bullets(budget + setting))

    if attacks:
        doc.add(Heading(2, "Attack success: means over the ordered pairs"), Paragraph(
            f"Ours with a 95% interval ({_interval_kind(summaries)})"
            + (f"; the {ref}'s means ({study.reference_source}) and the difference in percentage points."
               if study.references else ".")),
            tables.means_table(summaries, ref_names, study),
            Images([("source marginals, AS ignore-target", link(marginal_figs["ignore"]))]),
            Images([("source marginals, AS target", link(marginal_figs["target"]))]))
        for a in attacks:
            f = attack_figs[a.label]
            doc.add(Heading(2, a.label),
                    Heading(3, "Source marginals (mean over the targets)" + (f", beside the {ref}" if
                                                                             study.reference_for(a.model) else "")),
                    tables.marginal_table(a.summary, a.model, study=study),
                    Heading(3, "Every pair: AS ignore-target (AS target), row = source, column = target"),
                    tables.pair_table(a.summary),
                    Images([(f"{a.label} AS ignore-target heatmap", link(f["ignore"])),
                            (f"{a.label} AS target heatmap", link(f["target"]))]))
            if "examples" in f:
                doc.add(Heading(3, "Adversarial examples"), Images([(f"{a.label} adversarial examples",
                                                                     link(f["examples"]))]))
            else:
                doc.add(Paragraph("No samples.npz: no source was attacked."))

    codes = {r.label: r.codes for r in runs if r.codes is not None}
    if codes:
        doc.add(*codes_section(codes, {r.label: (r.config.get("model") or {}).get("gaussian_dims") for r in runs}))
    curves: dict[str, dict[str, dict]] = {}
    for r in runs:
        for attack_id, c in r.curves.items():
            curves.setdefault(attack_id, {})[r.label] = c
    doc.add(*curves_section(curves, out / "figures", link, slug))

    doc.add(Heading(2, "Model figures"))
    for r in runs:
        doc.add(Heading(3, r.label))
        if model_figs[r.label]:
            doc.add(*[Images([(f"{r.label} {p.stem.split('__', 1)[-1]}", link(p))]) for p in model_figs[r.label]])
        else:
            doc.add(Paragraph("No figures (the run is not complete)."))
    doc.add(Heading(2, "Files"), Paragraph(
        "`tables.tex` (LaTeX tables), `pairs.csv` (every pair: counts, rates, Wilson 95% intervals), "
        "`summary.json` (numbers, settings, provenance), `figures/`."))
    return doc


def latex_tables(root: Path, runs: list[VAERun], study: Study) -> str:
    attacks = [a for r in runs for a in r.attacks]
    tex = ["% Tables of the vaerobust report; \\resizebox needs \\usepackage{graphicx}.",
           f"% Generated by vaerobust {__version__} from {root}.", ""]
    if attacks:
        tex.append(tables.latex_table(tables.means_table_latex(summaries_of(runs), {a.label: a.model for a in attacks},
                                                               study),
                                      "Mean attack success over the ordered pairs, with 95% intervals"
                                      + (f", beside the {study.reference_label}" if study.references else ""),
                                      "tab:means", resize=True))
        for a in attacks:
            tex.append(tables.latex_table(tables.marginal_table_latex(a.summary, a.model, study=study),
                                          f"{a.label}: source marginals", f"tab:marginals-{slug(a.label)}",
                                          resize=True))
            tex.append(tables.latex_table(tables.pair_table_latex(a.summary),
                                          f"{a.label}: AS ignore-target (AS target) per pair; rows: source, columns: target",
                                          f"tab:pairs-{slug(a.label)}", resize=True))
    return "\n".join(tex)


def summary_json(root: Path, runs: list[VAERun], study: Study, reduced: list[str], other: list[str],
                 statements: list[str]) -> dict[str, Any]:
    """The report's numbers, settings and provenance, for machines."""
    attacks = [a for r in runs for a in r.attacks]
    rows = {r["model"]: r for r in tables.means_rows(summaries_of(runs), {a.label: a.model for a in attacks}, study)}
    models: dict[str, Any] = {}
    for r in runs:
        meta = r.config.get("meta") if isinstance(r.config.get("meta"), dict) else {}
        for a in r.attacks:
            res, s = tables.results_of(a.summary), a.summary
            models[a.label] = {
                "model": a.model, "attack_id": a.attack_id, "run_dir": rel(r.directory, root),
                "attack_dir": rel(a.directory, root), "complete": {"training": r.complete, "attack": a.complete},
                "overall": {w: res[w]["overall"] for w in tables.WHICH},
                "source_marginal": {w: res[w]["source_marginal"] for w in tables.WHICH},
                "target_marginal": {w: res[w]["target_marginal"] for w in tables.WHICH},
                "counts": {"n_pairs_formed": s.n_pairs_formed, "n_attacked": s.n_attacked,
                           "pairs_with_kept_sources": res["ignore"]["overall"].get("pairs"),
                           "clean_recon_accuracy": s.clean_recon_accuracy},
                "reference": None if rows[a.label]["reference_model"] is None else {
                    w: {k: rows[a.label][w][k] for k in ("reference", "reference_later", "diff_pp", "reference_in_ci")}
                    for w in tables.WHICH} | {"label": study.reference_label, "unit": study.reference_unit,
                                              "source": study.reference_source},
                "settings": {"objective": r.config.get("objective"), "train": r.config.get("train"),
                             "model": r.config.get("model"), "attack": s.attack, "sweep": s.sweep},
                "provenance": {"version": s.version, "device": s.device, "seconds": s.seconds,
                               "test_data_sha256": s.data_sha256, "train_data_sha256": meta.get("data_sha256"),
                               "train_version": meta.get("version"),
                               "judge_dir": None if a.judge is None else rel(a.judge.directory, root),
                               "judge_test_accuracy": None if a.judge is None else a.judge.test_accuracy},
            }
    curve_keys = ("key", "values", "auddc", "auddc_latent", "as_ignore_area", "as_ignore_mean", "as_target_area",
                  "as_target_mean", "points")
    curves: dict[str, dict[str, Any]] = {}
    for r in runs:
        for attack_id, c in r.curves.items():
            curves.setdefault(attack_id, {})[r.label] = {k: c.get(k) for k in curve_keys}
    return {
        "generated_by": f"vaerobust {__version__}", "root": str(root), "study": study.name,
        "units": "fractions in [0, 1] for our numbers; reference values in percent",
        "reduced_reproduction": bool(reduced), "budget_differences": reduced, "other_differences": other,
        "inconclusive": inconclusive_reasons(summaries_of(runs)) if len(summaries_of(runs)) > 1 else [],
        "statements": statements, "models": models, "untested_models": [r.label for r in runs if not r.attacks],
        "latent_codes": {r.label: r.codes for r in runs if r.codes is not None}, "curves": curves,
    }


def _interval_kind(summaries: dict[str, Any]) -> str:
    """How the overall intervals of these summaries were made (read from each; older ones lack it)."""
    kinds = set()
    for s in summaries.values():
        ov = s.overall("ignore")
        kinds.add("clustered" if str(ov.get("interval", "")).startswith("source-clustered") else "independent")
    text = {"clustered": "a source-clustered bootstrap: each source image resampled with all of its pairs",
            "independent": "normal approximation over pairs taken as independent, binomial within"}
    return "; ".join(f"{text[k]}" + (" (older runs)" if k == "independent" and len(kinds) > 1 else "")
                     for k in sorted(kinds))


def build_report(root: str | Path, out: str | Path, html: bool = True, study: str | Study | None = None) -> Path:
    """Write the report of the run folders under ``root`` into ``out``; return report.md's path.

    Files written (all atomically): ``report.md`` and (unless ``html=False``) ``report.html``;
    ``tables.tex`` (``\\resizebox`` needs ``graphicx``); ``pairs.csv`` (per-pair counts, rates and
    Wilson intervals, long format); ``summary.json`` (numbers, settings, provenance,
    statements); ``figures/*.png`` (linked relatively). ``study`` (a name or a Study; default:
    the runs' own, :func:`~vaerobust.report.collect.study_of`) supplies reference numbers and
    the protocol check. Raises a one-line RunDirError if ``root`` holds no VAE run or a
    ``summary.json`` is corrupt.
    """
    root, out = Path(root), Path(out)
    runs = collect(root)
    if isinstance(study, str) and study not in STUDIES:
        raise ConfigError(f"unknown study {study!r}; expected one of: {', '.join(STUDIES.names())}")
    study = study_of(root, runs) if study is None else (get_study(study) if isinstance(study, str) else study)
    attacks = [a for r in runs for a in r.attacks]
    with files.folder_lock(out):
        fig_dir = files.ensure_folder(out / "figures")
        reduced, other = study.differences(facts(runs, root))
        statements = result_statements(summaries_of(runs), {a.label: a.model for a in attacks}, study) \
            if attacks else []
        figs = draw_figures(runs, attacks, fig_dir, study)
        doc = document(root, out, runs, study, reduced, other, statements, figs)
        files.write_text(out / "report.md", render(doc, "md"))
        files.write_text(out / "tables.tex", latex_tables(root, runs, study))
        files.write_text(out / "pairs.csv", tables.pairs_frame(summaries_of(runs)).to_csv(index=False))
        files.write_json(out / "summary.json", summary_json(root, runs, study, reduced, other, statements))
        if html:
            files.write_text(out / "report.html", render(doc, "html"))
    return out / "report.md"


__all__ = ["attack_table", "build_report", "document", "draw_figures", "latex_tables", "summary_json",
           "training_table"]

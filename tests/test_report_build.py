"""The report: thesis reference data, tables, figures and build_report on real run dirs."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import objective_for
from vaerobust import files, rundir
from vaerobust.metrics.robustness import success_table
from vaerobust.report import figures, tables
from vaerobust.report.build import build_report
from vaerobust.report.statements import result_statements
from vaerobust.studies import get_study
from vaerobust.studies.sootla2018 import references

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SOOTLA = get_study("sootla2018")  # the study whose reference numbers these tests compare with


# --------------------------------------------------------------------------- hand-made summaries


def handmade_summary() -> dict:
    """Pair (0, 1): 4 kept sources judged [1, 5, 0, 0] -> ignore 2/4, target 1/4.
    Pair (1, 0): its only source is not kept -> empty cell. Every other pair: one kept
    source judged as its own class -> 0 % (0 %)."""
    src, tgt, kept, adv = [0, 0, 0, 0, 1], [1, 1, 1, 1, 0], [True] * 4 + [False], [1, 5, 0, 0, -1]
    for s in range(10):
        for t in range(10):
            if s != t and (s, t) not in ((0, 1), (1, 0)):
                src.append(s), tgt.append(t), kept.append(True), adv.append(s)
    res = success_table(np.array(src), np.array(tgt), np.array(kept), np.array(adv), list(range(10))).to_json()
    return {"results": res, "n_attacked": int(sum(kept)), "n_pairs_formed": len(src), "clean_recon_accuracy": 0.975}


def constant_summary(p_num: int, n: int = 4) -> dict:
    """Every ordered pair has n kept sources of which p_num are moved onto the target."""
    src, tgt, adv = [], [], []
    for s in range(10):
        for t in range(10):
            if s != t:
                for i in range(n):
                    src.append(s), tgt.append(t), adv.append(t if i < p_num else s)
    res = success_table(np.array(src), np.array(tgt), np.ones(len(src), bool), np.array(adv), list(range(10))).to_json()
    return {"results": res, "n_attacked": len(src), "n_pairs_formed": len(src), "clean_recon_accuracy": 1.0}


def random_results(seed: int, p_move: float) -> dict:
    rng = np.random.default_rng(seed)
    s = np.repeat(np.arange(10), 90)
    t = (s + rng.integers(1, 10, s.size)) % 10
    kept = rng.random(s.size) < 0.9
    adv = np.where(rng.random(s.size) < p_move, t, s)
    return success_table(s, t, kept, adv, list(range(10))).to_json()


def md_row(md: str, first: str) -> list[str]:
    """The cells of the Markdown table row whose first cell is ``first``."""
    for line in md.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first:
            return cells
    raise AssertionError(f"no row {first!r} in\n{md}")


# --------------------------------------------------------------------------- references


def test_reference_means_are_the_means_of_the_transcribed_marginals():
    for name in references.THESIS_ORDER:
        for which in ("ignore", "target"):
            marg = references.reference_marginal(name, which)
            assert len(marg) == 10
            assert abs(np.mean(marg) - references.reference_overall(name, which)) < 0.006, (name, which)
    assert references.reference_marginal("disentangled", "ignore")[1] == 82.58
    assert references.reference_marginal("entangled_wd", "target")[0] == 0.86
    assert references.reference_overall("entangled", "target", later_draft=True) == 9.49
    assert math.isclose(references.reference_overall("disentangled", "ignore", unit="fraction"), 0.3659)
    assert references.reference_for("beta_vae") is None


# --------------------------------------------------------------------------- tables


def test_pair_table_markdown_has_the_thesis_cells():
    md = tables.pair_table_markdown(handmade_summary())
    row0, row1, row5 = md_row(md, "0"), md_row(md, "1"), md_row(md, "5")
    assert row0[1] == "–" and row0[2] == "50.00% (25.00%)" and row0[3] == "0.00% (0.00%)"
    assert row1[1] == "n/a" and row1[2] == "–"
    assert row5[6] == "–"
    diag = [md_row(md, str(s))[s + 1] for s in range(10)]
    assert diag == ["–"] * 10
    assert len([ln for ln in md.splitlines() if ln.startswith("|")]) == 12  # header, rule, 10 sources


def test_pair_table_latex_has_ten_data_rows():
    tex = tables.pair_table_latex(handmade_summary())
    data = [ln for ln in tex.splitlines() if re.match(r"^\d+ & ", ln)]
    assert len(data) == 10 and all(ln.endswith(r"\\") for ln in data)
    assert data[0].split(" & ")[:3] == ["0", "--", r"50.00\% (25.00\%)"]
    assert tex.startswith(r"\begin{tabular}") and tex.rstrip().endswith(r"\end{tabular}")


def test_means_table_shows_the_thesis_beside_ours():
    half = constant_summary(2)  # every pair 2/4: mean 50 %
    summaries = {"disentangled": half, "entangled": half, "entangled_wd": half, "my_model": half}
    md = tables.means_table_markdown(summaries, study=SOOTLA)
    d, e, w, m = (md_row(md, k) for k in summaries)
    ov = half["results"]["ignore"]["overall"]
    assert ov["mean"] == 0.5 and ov["ci_low"] < 0.5 < ov["ci_high"]
    ci = f"50.0% [{100 * ov['ci_low']:.1f}, {100 * ov['ci_high']:.1f}]"
    assert tables.fmt_ci(0.3659, 0.3412, 0.3904) == "36.6% [34.1, 39.0]"
    assert d[1:4] == [ci, "36.59% / 36.86%", "+13.41"]
    assert d[4:7] == [ci, "12.51% / 12.54%", "+37.49"]
    assert e[2] == "29.70% / 29.83%" and e[5] == "9.18% / 9.49%"
    assert w[2] == "27.03% / 26.88%" and w[5] == "7.98% / 7.85%"
    assert m[2] == m[3] == m[5] == m[6] == "n/a"  # no reference for an unknown name
    assert d[7:] == ["90", "360", "100.00%"]
    tex = tables.means_table_latex(summaries, study=SOOTLA)
    assert r"36.59\% / 36.86\%" in tex and r"entangled\_wd" in tex
    assert len([ln for ln in tex.splitlines() if ln.endswith(r"\\")]) == 5


def test_marginal_table_puts_the_thesis_under_ours_only_for_known_names():
    s = constant_summary(1)  # every pair 1/4 moved onto the target: both measures 25 %
    md = tables.marginal_table_markdown(s, "entangled", study=SOOTLA)
    assert md_row(md, "AS ignore-target (ours)")[1:] == ["25.00%"] * 11
    assert md_row(md, "AS ignore-target (thesis)")[1:3] == ["5.87%", "63.87%"]
    assert md_row(md, "AS target (thesis)")[-1] == "9.18%"
    labels = [ln.split("|")[1].strip() for ln in md.splitlines()[2:]]
    assert labels == ["AS ignore-target (ours)", "AS ignore-target (thesis)", "AS target (ours)", "AS target (thesis)"]
    assert "thesis" not in tables.marginal_table_markdown(s, "my_model", study=SOOTLA)
    assert len([ln for ln in tables.marginal_table_latex(s, "entangled", study=SOOTLA).splitlines() if ln.endswith(r"\\")]) == 5


def test_pairs_frame_long_format():
    df = tables.pairs_frame({"a": handmade_summary(), "b": constant_summary(3)})
    assert list(df.columns) == tables.PAIR_COLUMNS and len(df) == 180
    r = df[(df.model == "a") & (df.source == 0) & (df.target == 1)].iloc[0]
    assert (r.n_kept, r.hits_ignore, r.hits_target, r.rate_ignore, r.rate_target) == (4, 2, 1, 0.5, 0.25)
    assert r.ci_low_ignore < 0.5 < r.ci_high_ignore
    assert np.isnan(df[(df.model == "a") & (df.source == 1) & (df.target == 0)].rate_ignore.iloc[0])
    assert (df[df.model == "b"].rate_target == 0.75).all()


def test_statements_follow_the_numbers():
    hi, mid, lo = constant_summary(3, 40), constant_summary(2, 40), constant_summary(1, 40)
    agree = result_statements({"disentangled": hi, "entangled": mid, "entangled_wd": lo}, study=SOOTLA)
    assert any("**disentangled** has the highest mean AS ignore-target" in s and "**entangled_wd** the lowest" in s
               for s in agree)
    assert any("disentangled > entangled > entangled_wd, agrees with" in s for s in agree)
    assert any("disentangled vs entangled: the 95% intervals do not overlap" in s for s in agree)
    swapped = result_statements({"disentangled": lo, "entangled": mid, "entangled_wd": hi}, study=SOOTLA)
    assert any("entangled_wd > entangled > disentangled, does not agree with" in s for s in swapped)
    close = result_statements({"disentangled": constant_summary(2, 4), "entangled": constant_summary(2, 4)}, study=SOOTLA)
    assert any("All 2 models have the same mean AS target" in s for s in close)
    assert not any("agrees with" in s for s in close)
    assert any("the 95% intervals overlap" in s and "(includes 0)" in s for s in close)
    gap = result_statements({"a": handmade_summary()}, study=SOOTLA)
    assert any("a: only 89 of the 90 ordered pairs had a kept source" in s for s in gap)
    mine = result_statements({"my_model": hi}, study=SOOTLA)
    assert any("Only one model was attacked: **my_model**" in s for s in mine)
    assert not any("thesis" in s for s in mine)


# --------------------------------------------------------------------------- figures


def _is_png(p: Path, min_size: int = 2000) -> bool:
    return p.is_file() and p.read_bytes()[:8] == PNG_MAGIC and p.stat().st_size > min_size


def test_heatmap_and_marginal_figures(tmp_path):
    s = handmade_summary()
    assert _is_png(figures.heatmap_png(s["results"]["ignore"]["rate"], tmp_path / "h.png", "t"))
    assert _is_png(figures.marginals_png({"disentangled": s, "x": constant_summary(1)}, tmp_path / "m.png"))
    with pytest.raises(ValueError, match="square"):
        figures.heatmap_png([[0.1, 0.2]], tmp_path / "bad.png", "t")


# --------------------------------------------------------------------------- build_report on run dirs


@pytest.fixture(scope="session")
def study_root(tmp_path_factory) -> Path:
    """A real (tiny) study: one judge, one trained and attacked VAE on the synthetic data,
    plus copies under other names whose attack results are replaced by known tables
    (``entangled_wd``: random rates; ``my_model``: no thesis numbers, per_pair None)."""
    from vaerobust.config import (
        AttackConfig,
        ClassifierConfig,
        DataConfig,
        JudgeConfig,
        RunConfig,
        SweepConfig,
        TrainConfig,
    )
    from vaerobust.pipelines.attack import attack_sweep
    from vaerobust.pipelines.train import train_vae
    from vaerobust.pipelines.train_classifier import train_classifier

    root = tmp_path_factory.mktemp("study")
    run = root / "models" / "disentangled"
    cfg = RunConfig(data=DataConfig(name="synthetic"), objective=objective_for("jointvae", capacity_steps=50),
                    train=TrainConfig(steps=50, log_every=25, checkpoint_every=50))
    train_vae(cfg, run, device="cpu", progress=False)
    train_classifier(JudgeConfig(data=DataConfig(name="synthetic"), classifier=ClassifierConfig(epochs=1)),
                     root / "judge", device="cpu", progress=False)
    attack_sweep(run, root / "judge", run / "attacks" / "latent", AttackConfig(steps=20), SweepConfig(per_pair=3),
                 device="cpu", progress=False)
    for name, seed, p, per_pair in (("entangled_wd", 1, 0.3, 3), ("my_model", 2, 0.6, None)):
        dst = root / "models" / name
        shutil.copytree(run, dst)
        path = dst / "attacks" / "latent" / "summary.json"
        summary = json.loads(path.read_text())
        summary["results"] = random_results(seed, p)
        summary["sweep"]["per_pair"] = per_pair
        files.write_json(path, summary)
    return root


def test_build_report_writes_every_file_with_the_run_numbers(study_root, tmp_path):
    out = tmp_path / "report"
    path = build_report(study_root, out, study="sootla2018")
    assert path == out / "report.md"
    for f in ("report.md", "tables.tex", "pairs.csv", "summary.json"):
        assert (out / f).is_file() and (out / f).stat().st_size > 500, f
    md = path.read_text()
    doc = json.loads((out / "summary.json").read_text())
    assert set(doc["models"]) == {"disentangled", "entangled_wd", "my_model"}

    # every linked figure exists (links relative to out), is a PNG and is not blank-small
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert links and all(not Path(l).is_absolute() for l in links)
    for l in links:
        assert _is_png(out / l), l
    pngs = {p.name for p in (out / "figures").glob("*.png")}
    for m in doc["models"]:
        assert {f"{m}_heatmap_ignore.png", f"{m}_heatmap_target.png", f"{m}_examples.png",
                f"{m}__reconstructions.png", f"{m}__traversal_gaussian.png",
                f"{m}__traversal_categorical_0.png"} <= pngs
    assert {"marginals_ignore.png", "marginals_target.png"} <= pngs

    # the numbers of report.md and out/summary.json are those of each attack's summary.json
    means = md[md.index("## Attack success"):]
    pairs = pd.read_csv(out / "pairs.csv")
    assert len(pairs) == 3 * 90
    for name, entry in doc["models"].items():
        src = json.loads((study_root / "models" / name / "attacks" / "latent" / "summary.json").read_text())
        for which in ("ignore", "target"):
            ov = src["results"][which]["overall"]
            assert entry["overall"][which] == ov
            assert entry["source_marginal"][which] == src["results"][which]["source_marginal"]
            assert tables.fmt_ci(ov["mean"], ov["ci_low"], ov["ci_high"]) in md_row(means, name)
            rate = np.array(src["results"][which]["rate"], dtype=float)
            got = pairs[pairs.model == name].set_index(["source", "target"])[f"rate_{which}"]
            for (s, t), v in got.items():
                assert (np.isnan(v) and np.isnan(rate[s, t])) or v == rate[s, t]
        assert entry["counts"]["n_attacked"] == src["n_attacked"]
        section = md[md.index(f"## {name}\n"):]
        assert tables.pair_table_markdown(src) in section
    assert md_row(means, "my_model")[2] == "n/a"
    assert md_row(means, "entangled_wd")[2] == "27.03% / 26.88%"

    # what was run, budgets, differences and LaTeX
    assert "**This is a reduced reproduction.**" in md and doc["reduced_reproduction"] is True
    assert "disentangled: attack.steps = 20 (thesis: 1000)" in md
    assert "disentangled: train.steps = 50 (thesis: 100000)" in md
    assert "disentangled: sweep.per_pair = 3 (thesis: all test images)" in md
    assert "my_model: sweep.per_pair" not in md
    assert md_row(md, "images per pair")[1:] == ["3", "3", "all test images"]
    assert md_row(md, "objective")[1:] == ["jointvae"] * 3
    judge_acc = json.loads((study_root / "judge" / "eval.json").read_text())["test_accuracy"]
    assert f"test accuracy **{tables.fmt_pct(judge_acc)}**" in md
    tex = (out / "tables.tex").read_text()
    assert tex.count(r"\begin{tabular}") == 1 + 2 * 3
    assert r"my\_model" in tex

    # the HTML page carries the same tables and images
    page = (out / "report.html").read_text()
    n_tables = sum(1 for a, b in zip(md.splitlines(), md.splitlines()[1:]) if b.startswith("|:") or b.startswith("|-"))
    assert page.count("<table>") == n_tables and page.count("<img ") == len(links)
    assert "<td>27.03% / 26.88%</td>" in page


def test_build_report_errors_are_one_line(study_root, tmp_path):
    with pytest.raises(rundir.RunDirError, match="no VAE run") as e:
        build_report(tmp_path, tmp_path / "out")
    assert "\n" not in str(e.value)
    with pytest.raises(rundir.RunDirError, match="does not exist"):
        build_report(tmp_path / "nowhere", tmp_path / "out")

    root = tmp_path / "corrupt"
    shutil.copytree(study_root / "models" / "my_model", root / "models" / "my_model")
    summary = root / "models" / "my_model" / "attacks" / "latent" / "summary.json"
    summary.write_text('{"results": {"classes": [0, 1')
    with pytest.raises(rundir.RunDirError, match="not valid JSON") as e:
        build_report(root, tmp_path / "out")
    assert "\n" not in str(e.value) and "summary.json" in str(e.value)
    summary.write_text(json.dumps({"results": {"classes": list(range(10)), "n_kept": []}}))
    with pytest.raises(rundir.RunDirError, match="lacks 'results.n_pairs_total'"):
        build_report(root, tmp_path / "out")


def test_report_of_a_model_without_attacks(study_root, tmp_path):
    root = tmp_path / "untested"
    shutil.copytree(study_root / "models" / "my_model", root / "models" / "my_model",
                    ignore=shutil.ignore_patterns("attacks"))
    md = build_report(root, tmp_path / "out", html=False).read_text()
    doc = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert doc["models"] == {} and doc["untested_models"] == ["my_model"]
    assert "No attack results under" in md and "![my_model reconstructions](figures/my_model__reconstructions.png)" in md
    assert not (tmp_path / "out" / "report.html").exists()


def _curve(auddc: float) -> dict:
    pts = [{"value": v, "n_attacked": 12, "dd_x": x, "dd_y": y, "dd_y_latent": y / 2, "l2": x, "linf": 0.1,
            "out_dist": 1.0, "latent_dist": 1.0,
            "ignore": {"mean": m, "ci_low": m / 2, "ci_high": min(1.0, m * 1.5)},
            "target": {"mean": m / 2, "ci_low": m / 4, "ci_high": m}}
           for v, x, y, m in ((0.1, 0.9, 0.2, 0.8), (1.0, 0.5, 0.6, 0.4), (10.0, 0.1, 0.95, 0.0))]
    return {"key": "lam", "values": [0.1, 1.0, 10.0], "attack": {"name": "output"}, "points": pts, "log_x": True,
            "auddc": auddc, "auddc_latent": auddc / 2, "as_ignore_area": 0.8, "as_ignore_mean": 0.4,
            "as_target_area": 0.4, "as_target_mean": 0.2}


def test_report_shows_latent_codes_and_curves(study_root, tmp_path):
    root = tmp_path / "study"
    shutil.copytree(study_root, root)
    codes = {"metrics": {"active_dims": {"active": 7, "mean_kl_per_dim": [0.5] * 7 + [0.0] * 3, "threshold_nats": 0.01},
                         "categorical_agreement": [{"nmi": 0.6123, "best_map_accuracy": 0.7}]},
             "not_applicable": {"mig": "needs a dataset with a ground-truth factor grid; 'mnist' has none"},
             "split": "test"}
    files.write_json(root / "models" / "disentangled" / "metrics" / "disentanglement.json", codes)
    files.write_json(root / "models" / "disentangled" / "attacks" / "output-lam-sweep" / "curve.json", _curve(0.4321))
    files.write_json(root / "models" / "my_model" / "attacks" / "output-lam-sweep" / "curve.json", _curve(0.2))
    out = tmp_path / "report"
    md = build_report(root, out).read_text()
    section = md[md.index("## Latent codes"):md.index("## Robustness curves")]
    row = md_row(section, "disentangled")
    assert row[1:5] == ["10", "7", "0.612", "70.0%"]
    assert "| my_model |" not in section  # no measures written for it: no row
    assert "not measured here: mig: needs a dataset with a ground-truth factor grid" in section
    curves = md[md.index("## Robustness curves"):]
    assert md_row(curves, "disentangled")[1:5] == ["3 values 0.1..10", "12", "0.432", "0.216"]
    assert md_row(curves, "my_model")[3] == "0.200"
    for name in ("curve_output-lam-sweep_dd.png", "curve_output-lam-sweep_as.png"):
        assert _is_png(out / "figures" / name) and f"figures/{name}" in curves
    doc = json.loads((out / "summary.json").read_text())
    assert doc["latent_codes"]["disentangled"]["metrics"]["active_dims"]["active"] == 7
    assert doc["curves"]["output-lam-sweep"]["my_model"]["auddc"] == 0.2
    assert set(doc["models"]) == {"disentangled", "entangled_wd", "my_model"}  # the sweeps are not attack tables


def test_comparisons_are_marked_inconclusive_when_the_budget_cannot_conclude() -> None:
    from vaerobust.report.statements import INCONCLUSIVE, inconclusive_reasons

    good, few = constant_summary(2, 40), handmade_summary()  # handmade: 89 of 90 pairs kept, accuracy 0.975
    assert inconclusive_reasons({"a": good, "b": few}) == []
    thin = json.loads(json.dumps(good))
    for i in range(10):  # keep a source in only 9 of its 90 pairs
        for j in range(10):
            if i != j and not (i == 0 and j != 0):
                thin["results"]["ignore"]["rate"][i][j] = None
    thin["results"]["ignore"]["overall"]["pairs"] = 9
    thin["clean_recon_accuracy"] = 0.5
    reasons = inconclusive_reasons({"a": good, "thin": thin})
    assert any("thin: only 9 of its 90 ordered pairs kept a source" in r for r in reasons)
    assert any("thin: the judge reads 50.0%" in r and "100.0% for a" in r for r in reasons)
    lines = result_statements({"a": good, "thin": thin})
    compare = [s for s in lines if " vs " in s or "highest" in s or "same mean" in s]
    assert compare and all(s.startswith(INCONCLUSIVE) for s in compare)
    assert not any(s.startswith(INCONCLUSIVE) for s in result_statements({"a": good, "b": good}))

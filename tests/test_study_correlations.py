"""Disentanglement against robustness in `study collect` (issue 10, part 5): the preset's wiring,
and the correlation tables and report built from job records with a planted relation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vaerobust import files
from vaerobust.metrics.correlation import LESS_ROBUST, MORE_ROBUST, NO_EVIDENCE
from vaerobust.pipelines import study
from vaerobust.report import correlations as corr_report


def test_the_preset_has_57_models_of_seven_objectives_with_the_papers_network() -> None:
    cfg = study.resolve("dsprites-robustness")
    judges, models = study.expand(cfg)
    objectives = [j.spec["run"]["objective"]["name"] for j in models]
    assert len(models) == 57 and len(judges) == 1
    counts = {o: objectives.count(o) for o in set(objectives)}
    assert counts.pop("elbo") == 3 and set(counts) == {"beta_vae", "capacity", "factor_vae", "beta_tcvae", "dip_vae",
                                                       "jointvae"}
    assert all(n == 9 for n in counts.values())  # 3 strengths x 3 seeds
    assert {j.spec["run"]["data"]["name"] for j in models} == {"dsprites"}
    assert all(j.spec["attacks"] == ["latent", "output", "kl", "latent_shape"] for j in models)
    assert judges[0].spec["judge"]["classifier"]["arch"] == "factors64"
    assert models[0].spec["evaluate"]["dci_predictor"] == "fast"
    assert models[0].spec["sweep:latent"]["factor"] == "scale" and models[0].spec["sweep:latent"]["classes"] == list(range(6))
    assert models[0].spec["sweep:latent_shape"]["factor"] == "shape" and models[0].spec["sweep:latent_shape"]["classes"] == [0, 1, 2]


def _outcome(mean: float) -> dict:
    return {"mean": mean, "ci_low": max(mean - 0.1, 0.0), "ci_high": min(mean + 0.1, 1.0), "pairs": 6}


def _record(job: study.Job, mig: float, sap: float, as_ignore: float, mse: float, sigma: float,
            clean: float = 0.95) -> dict:
    k = [[0, 20, 20], [20, 0, 20], [20, 20, 0]]
    hits = [[0 if i == j else round(20 * as_ignore) for j in range(3)] for i in range(3)]
    rob = {"ignore": _outcome(as_ignore), "target": _outcome(as_ignore / 2), "n_pairs_formed": 120, "n_attacked": 120,
           "clean_recon_accuracy": clean, "classes": [0, 1, 2], "n_kept": k, "n_pairs_total": k, "hits_ignore": hits,
           "hits_target": hits, "warnings": [], "distances": {"l2": 1.0},
           "factors_moved": {"shape": as_ignore, "scale": 0.1, "orientation": 0.5}}
    return {"id": job.id, "kind": "model", "study": "dsprites-robustness", "model": job.spec["model"],
            "grid": job.spec["grid"], "settings": {"run": job.spec["run"], "judge": job.spec["judge_id"], "attacks": {}},
            "judge": {"id": job.spec["judge_id"], "test_accuracy": 0.9},
            "robustness": {"latent": rob, "kl": {**rob, "ignore": _outcome(0.5), "target": _outcome(0.2)}},
            "disentanglement": {"mig": {"mig": mig}, "sap": {"sap": sap},
                                "active_dims": {"active": 6, "mean_sigma_active": sigma}},
            "reconstruction": {"test_nll_per_image": 30.0, "test_mse_per_pixel": mse}, "timings": {"train": 1.0}}


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dsprites-robustness folder whose 57 records plant: AS ignore-target (latent) rises with MIG
    (through the setting: a cluster effect, plus noise); SAP and both confounds are noise."""
    out = tmp_path_factory.mktemp("dsp")
    cfg = study.resolve("dsprites-robustness")
    judges, models = study.expand(cfg)
    study.write_jobs(out, cfg, judges, models)
    files.write_json(out / judges[0].folder / "result.json", {
        "id": judges[0].id, "kind": "judge", "judge": judges[0].spec["judge"], "test_accuracy": 0.8, "n_test": 10000,
        "steps": 100, "factors": {"shape": {"accuracy": 0.99, "chance": 1 / 3}, "scale": {"accuracy": 0.95, "chance": 1 / 6},
                                  "orientation": {"accuracy": 0.3, "chance": 1 / 40}}})
    rng = np.random.default_rng(3)
    setting = {m: i for i, m in enumerate(cfg.models)}
    for job in models:
        level = setting[job.spec["model"]] / len(setting)
        mig = level + rng.normal(0, 0.03)
        rec = _record(job, mig=mig, sap=float(rng.random()), as_ignore=float(np.clip(0.1 + 0.8 * level + rng.normal(0, 0.03), 0, 1)),
                      mse=float(rng.random()), sigma=float(rng.random()), clean=float(rng.uniform(0.5, 1.0)))
        files.write_json(out / job.folder / "result.json", rec)
        if job is not models[0] and job is not models[1]:  # the margin falls with MIG (two jobs without one)
            m = float(max(1.0 - level + rng.normal(0, 0.03), 0.0))
            samples = 32 if job is models[2] else 64  # measured otherwise: left out
            files.write_json(out / job.folder / "margin.json", {
                "settings": {"headline_radius": 2.0, "samples": samples, "images": 500},
                "radii": {"1": {"median": 0.0, "median_spectral": 0.0, "robust_share": 0.2, "capped_share": 0.0,
                                "unbounded_share": 0.0},
                          "2": {"median": m, "median_spectral": 2 * m, "robust_share": 0.9, "capped_share": 0.25,
                                "unbounded_share": 0.0}}})
    files.write_text(out / models[3].folder / "margin.json", "{not json")  # unreadable: left out, said
    study.collect(out)
    return out


def test_collect_writes_the_correlations_and_recovers_the_planted_relation(collected: Path) -> None:
    corr = pd.read_csv(collected / "tables" / "correlations.csv")
    assert set(corr.attack) == {"latent", "kl", corr_report.NO_ATTACK} and set(corr.metric) == {"mig.mig", "sap.sap"}
    allm = corr[(corr.attack == "latent") & (corr.scope == "all models") & corr.controls.isna()].set_index(["metric", "figure"])
    planted = allm.loc[("mig.mig", "as_ignore")]
    assert planted.n == 57 and planted.rho > 0.9 and planted.low > 0.5 and planted.verdict == LESS_ROBUST
    assert allm.loc[("sap.sap", "as_ignore")].verdict == NO_EVIDENCE  # noise: the interval covers 0
    assert allm.loc[("sap.sap", "as_ignore")].low < 0 < allm.loc[("sap.sap", "as_ignore")].high
    partial = corr[(corr.attack == "latent") & (corr.scope == "all models") & corr.controls.notna()]
    assert list(dict.fromkeys(partial.controls)) == ["test_mse_per_pixel, mean_sigma_active",
                                                      "test_mse_per_pixel, mean_sigma_active, clean_recon_accuracy"]
    for _, t in partial.groupby("controls"):  # the planted relation survives either set of controls
        assert t.set_index(["metric", "figure"]).loc[("mig.mig", "as_ignore")].verdict == LESS_ROBUST
    scopes = set(corr.scope)
    assert {"within beta_vae", "within elbo", "across objectives"} <= scopes
    assert corr[(corr.scope == "within beta_vae") & (corr.metric == "mig.mig")].n.iloc[0] == 9
    assert corr[(corr.scope == "across objectives")].n.max() == 7
    # the kl sweep's success is the same everywhere: its correlations are undefined, never a direction
    assert set(corr[(corr.attack == "kl") & (corr.figure == "as_ignore")].verdict) == {"not enough models"}


def test_the_margin_is_correlated_over_the_jobs_that_have_one(collected: Path) -> None:
    corr = pd.read_csv(collected / "tables" / "correlations.csv")
    m = corr[(corr.attack == corr_report.NO_ATTACK) & (corr.scope == "all models")]
    assert set(m.figure) == {"margin_r1", "margin_r2"}
    plain = m[m.controls.isna()].set_index(["metric", "figure"])
    mig = plain.loc[("mig.mig", "margin_r2")]
    # one row per job: 57 less two without a margin, one measured with other settings, one unreadable
    assert mig.n == 53 and mig.high < -0.5
    assert mig.verdict == LESS_ROBUST  # higher margin = more robust: a margin that falls with MIG is less robust
    assert plain.loc[("mig.mig", "margin_r1")].verdict == "not enough models"  # a constant figure
    assert list(dict.fromkeys(m.controls.dropna())) == ["test_mse_per_pixel, mean_sigma_active"]  # no judge control
    results = pd.read_csv(collected / "tables" / "results.csv")
    have = results.dropna(subset=["margin"])
    assert len(have) == 2 * 54 and (have.margin_spectral == 2 * have.margin).all()  # two attacks per job
    assert (results.margin_unusable.dropna() == "unreadable").sum() == 2
    text = (collected / "report.md").read_text()
    assert "### No attack: the first-order margin" in text
    assert "53 of 57 model jobs have a margin; 1 more were measured with other settings and are left out; 1 record(s) " \
           "unusable (unreadable)." in text
    assert "64 sampled reconstructions per image, 500 held-out images, radii 1,2; the headline radius is 2." in text
    assert "Jobs whose median margin is 0 (not r-robust at most of their images; they tie in rank): 53 at r = 1." in text
    assert "At the headline radius, the median job has 25% of its images at the sample cap" in text
    assert "The first-order margin (no attack) at its headline radius (median margin, r = 2; the other radii in its " \
           "table), over all models, of the 2 (disentanglement metric, margin figure) pairs" in text
    assert "median margin, r = 2" in text
    assert (collected / "figures" / "scatter-margin.png").read_bytes()[:4] == b"\x89PNG"
    exported = study.export(collected, collected.parent / "exported")
    assert sum(p.name == "margin.json" for p in exported) == 54  # the unreadable one is not published


def test_a_sensitivity_check_repeats_the_correlations_over_the_settings_judged_on_equal_terms(collected: Path) -> None:
    res = pd.read_csv(collected / "tables" / "results.csv")
    lat = res[res.attack == "latent"]
    means = lat.groupby("model").clean_recon_accuracy.mean()
    kept = means[means >= means.max() - 0.20].index  # the report's 20-point gap, mean over seeds
    assert 0 < len(kept) < len(means)  # the fixture's accuracies leave some settings out
    corr = pd.read_csv(collected / "tables" / "correlations.csv")
    eq = corr[(corr.attack == "latent") & (corr.scope == corr_report.EQUAL)]
    assert len(eq) == 2 * 2 * 2  # metrics x figures x (plain, the confounds): clean-recon accuracy is what was cut
    assert set(eq.n) == {int(lat.model.isin(kept).sum())}
    assert eq.sentence.iloc[0].startswith(f"Models judged on equal terms ({int(lat.model.isin(kept).sum())} models)")
    text = (collected / "report.md").read_text()
    assert f"judged on equal terms only, without {len(means) - len(kept)} settings: " in text
    assert "| latent, models judged on equal terms only | 4 |" in text and "Sensitivity check:" in text
    assert "over the models judged on equal terms only (a sensitivity check)" in text  # in the findings too
    # a study whose settings are all read alike has no such scope
    same = lat.assign(clean_recon_accuracy=0.9)
    assert corr_report.judged_on_equal_terms(same) is None


def test_the_report_answers_per_attack_and_skips_pairwise_differences(collected: Path) -> None:
    text = (collected / "report.md").read_text()
    assert "## Are more disentangled models less robust?" in text and "### Attack latent" in text
    assert "more disentangled, less robust" in text and "no evidence either way" in text
    assert "19 models: no paired differences" in text
    assert "| ... and clean-recon accuracy |" in text and "the second also for clean_recon_accuracy" in text
    assert "The answer in one table" in text and "| latent | 4 |" in text  # 2 metrics x 2 figures
    assert (collected / "figures" / "scatter-latent.png").read_bytes()[:4] == b"\x89PNG"
    assert "## Which factors the attacks moved" in text and "orientation (unreliable)" in text
    assert "scale (unreliable)" not in text
    assert (collected / "tables" / "differences.csv").read_text().strip() == ""  # 19 models: none computed


def test_no_factor_metrics_no_correlations() -> None:
    df = pd.DataFrame({"model": ["a", "b"], "attack": ["latent"] * 2, "as_ignore": [0.1, 0.2], "active_dims": [3, 4]})
    assert corr_report.available(df) == [] and corr_report.correlations(df).empty


def test_jobs_run_grid_point_by_grid_point() -> None:
    """Every setting at seed 0 before any at seed 1: a study stopped early covers every model once."""
    cfg = study.resolve("dsprites-robustness")
    _, models = study.expand(cfg)
    order = study.by_point(cfg, models)
    seeds = [j.spec["grid"]["train.seed"] for j in order]
    assert seeds == sorted(seeds) and sorted(j.id for j in order) == sorted(j.id for j in models)
    assert [j.spec["model"] for j in order[:19]] == list(cfg.models)


def test_the_verdict_table_counts_each_attack_s_pairs_per_set_of_controls() -> None:
    def row(attack: str, figure: str, controls: str | None, verdict: str, n: int = 40, scope: str = "all models") -> dict:
        return {"attack": attack, "metric": "mig.mig", "figure": figure, "scope": scope, "controls": controls,
                "n": n, "verdict": verdict}

    c = "test_mse_per_pixel, mean_sigma_active"
    corr = pd.DataFrame([row("latent", "as_ignore", None, LESS_ROBUST), row("latent", "as_target", None, LESS_ROBUST),
                         row("latent", "as_ignore", c, NO_EVIDENCE), row("latent", "as_target", c, LESS_ROBUST, n=38),
                         row("latent", "as_ignore", None, NO_EVIDENCE, scope="within elbo"),  # not over all models
                         row("latent", "as_ignore", None, MORE_ROBUST, n=30, scope=corr_report.EQUAL),
                         row(corr_report.NO_ATTACK, "margin_r4", None, NO_EVIDENCE, n=30),
                         row(corr_report.NO_ATTACK, "margin_r1", None, LESS_ROBUST, n=30)])  # not the headline radius
    t = corr_report.verdict_table(corr, "margin_r4")
    assert t.header[1] == "pairs" and t.header[2].startswith("plain") and t.header[3].startswith(f"controlling for {c}")
    assert t.rows[0] == ["latent", "2", "2 / 0 / 0 (n 40)", "1 / 0 / 1 (n 40)"]
    assert t.rows[1] == ["latent, models judged on equal terms only", "1", "0 / 1 / 0 (n 30)", corr_report.tables.NA]
    assert t.rows[2][0].startswith("first-order margin") and t.rows[2][1:3] == ["1", "0 / 0 / 1 (n 30)"]
    assert t.rows[2][3] == corr_report.tables.NA  # the margin has no such control here
    assert corr_report.verdict_table(corr.iloc[0:0]) is None

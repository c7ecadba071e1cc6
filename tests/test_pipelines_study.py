"""``vaerobust study``: expanding a grid into jobs, the local backend, failures, resume, collect from records."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from conftest import locked_by_another_process
from vaerobust import files
from vaerobust.backends import LocalBackend, build_backend
from vaerobust.config import StudyConfig, from_dict
from vaerobust.errors import ConfigError, UnknownNameError
from vaerobust.pipelines import job, study

TINY = {
    "name": "tiny",
    "base": {"data": {"name": "synthetic"}, "model": {"gaussian_dims": 4, "categorical": [10], "hidden": 16},
             "objective": {"name": "elbo"},
             "train": {"steps": 20, "batch_size": 16, "lr": 1e-3, "log_every": 10, "checkpoint_every": 10}},
    "models": {"plain": {}, "joint": {"objective.name": "jointvae", "objective.capacity_steps": 20}},
    "judge": {"data": {"name": "synthetic"}, "classifier": {"epochs": 1, "max_steps": 30}},
    "attack": {"steps": 4}, "sweep": {"per_pair": 1, "pairs": "0-1,1-0,2-3"},
    "grid": {"train.seed": [0, 1]},
    "evaluate": {"metrics": "active_dims"},
}


def cfg(**changes: object) -> StudyConfig:
    return from_dict(StudyConfig, {**TINY, **changes})


def test_expand_gives_one_job_per_model_and_grid_point_with_stable_ids() -> None:
    judges, models = study.expand(cfg())
    assert [j.id for j in models] == ["plain__train.seed=0", "plain__train.seed=1", "joint__train.seed=0",
                                      "joint__train.seed=1"]
    assert len(judges) == 1 and all(m.spec["judge_id"] == judges[0].id for m in models)
    assert [m.spec["run"]["train"]["seed"] for m in models] == [0, 1, 0, 1]
    assert models[2].spec["run"]["objective"]["name"] == "jointvae"
    assert [j.id for j in study.expand(cfg())[1]] == [j.id for j in models]  # stable
    # a grid over the judge makes one judge per value; over the attack, it sets every sweep
    judges2, models2 = study.expand(cfg(grid={"judge.classifier.seed": [0, 1], "attack.eps": [0.05]}))
    assert len(judges2) == 2 and len(models2) == 4
    assert {m.spec["attack:latent"]["eps"] for m in models2} == {0.05}
    named = study.expand(cfg(attacks={"latent": {}, "output": {"attack.name": "output", "attack.lam": 10}}))[1][0]
    assert named.spec["attacks"] == ["latent", "output"] and named.spec["attack:output"]["lam"] == 10.0


@pytest.mark.parametrize("changes, match", [
    ({"grid": {"trian.seed": [0]}}, "grid key 'trian.seed'"),
    ({"grid": {"train.seed": [-1]}}, r"plain__train.seed=-1: train.seed = -1"),
    ({"grid": {"train.seed": []}}, "non-empty list"),
    ({"attacks": {"x": {"attack.eps": 2}}}, r"attacks.x: attack.eps = 2.0: expected a finite number in \[0, 1\]"),
    ({"attacks": {"x": {"steps": 2}}}, "attack.\\* / sweep.\\* overrides"),
    ({"steps": ["attack"]}, "starts with train"),
    ({"models": {}}, "has no models"),
])
def test_bad_studies_fail_before_anything_runs(changes: dict, match: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=match):
        study.run(cfg(**changes), tmp_path / "s", progress=False, echo=lambda s: None)
    assert not (tmp_path / "s").exists()


def test_the_local_backend_keeps_workers_x_threads_within_the_cores() -> None:
    b = LocalBackend(workers=2)
    assert b.workers * b.threads <= max(b.cores, 2) and b.threads >= 1
    with pytest.raises(UnknownNameError, match="local"):
        build_backend("nope")
    with pytest.raises(ConfigError, match="--workers -1: expected an integer >= 1, or 0 for this process"):
        LocalBackend(workers=-1)


def _die(job: str) -> dict:
    if job.endswith("b"):
        os._exit(3)  # the worker process dies
    return {"job": job, "state": "done"}


def test_a_dying_worker_fails_its_job_and_the_others_run() -> None:
    results: list[dict] = []
    LocalBackend(workers=1).run(["a", "b", "c"], _die, results.append)
    by = {r["job"]: r for r in results}
    assert by["a"]["state"] == by["c"]["state"] == "done"
    assert by["b"]["state"] == "failed" and "ended abnormally" in by["b"]["error"]


def _leave_an_exit_handler(job: str) -> dict:
    import atexit

    atexit.register(Path(job).write_text, "the job's exit handler ran")  # runs when the worker ends
    return {"job": job, "state": "done"}


def test_a_worker_that_ends_fast_still_runs_the_exit_handlers_of_its_jobs(tmp_path: Path) -> None:
    # a worker skips its interpreter's teardown (_exit_now) but only after every other exit handler
    marker = tmp_path / "marker"
    results: list[dict] = []
    backend = LocalBackend(workers=1)
    backend.run([str(marker)], _leave_an_exit_handler, results.append)
    assert results == [{"job": str(marker), "state": "done"}] and not marker.exists()  # the worker still lives
    backend.close()  # waits for the worker to end
    assert marker.read_text() == "the job's exit handler ran"


def test_a_job_locked_by_another_process_is_refused_but_not_recorded_as_failed(tmp_path: Path) -> None:
    folder = tmp_path / "jobs" / "x"
    files.write_json(folder / job.JOB, {"id": "x", "kind": "model"})
    with locked_by_another_process(folder) as pid:
        result = job.run_job(str(folder))
    assert result["state"] == "failed" and f"being written by pid {pid}" in result["error"]
    assert "not recorded as failed" in result["error"]
    assert not (folder / job.ERROR).exists()  # so a later run does not skip it as failed
    assert study.would_run(tmp_path, study.Job(id="x", kind="model", folder="jobs/x", spec={}, settings={}))


def _pid_or_fail(job: str) -> dict:
    import torch

    if job == "bad":
        raise ValueError("cannot run bad")
    return {"job": job, "state": "interrupted" if job == "stop" else "done", "pid": os.getpid(),
            "threads": torch.get_num_threads()}


def test_workers_0_runs_the_jobs_here_one_after_another_and_a_failure_only_fails_its_job() -> None:
    import torch

    before = torch.get_num_threads()
    backend = LocalBackend(workers=0)
    assert "in this process" in backend.describe() and backend.threads == backend.cores
    results: list[dict] = []
    backend.run(["a", "bad", "c"], _pid_or_fail, results.append)
    assert [r["job"] for r in results] == ["a", "bad", "c"]
    assert results[0]["pid"] == results[2]["pid"] == os.getpid()
    assert results[0]["threads"] == backend.threads and torch.get_num_threads() == before  # restored
    assert results[1] == {"job": "bad", "state": "failed", "error": "ValueError: cannot run bad"}
    results.clear()
    with pytest.raises(KeyboardInterrupt):  # a job that caught Ctrl-C stops the loop, as Ctrl-C stops the pool
        backend.run(["a", "stop", "c"], _pid_or_fail, results.append)
    assert [r["job"] for r in results] == ["a", "stop"] and torch.get_num_threads() == before


def test_a_study_in_this_process_finishes_like_one_in_workers(ran: tuple[Path, list[str], dict], tmp_path: Path) -> None:
    out, _, _ = ran
    here = tmp_path / "s"
    lines: list[str] = []
    counts = study.run(cfg(), here, workers=0, device="cpu", progress=False, echo=lines.append)
    assert counts == {"done": 5} and "in this process" in lines[0]
    for model in ("plain__train.seed=0", "joint__train.seed=1"):
        a = files.read_json(out / "jobs" / model / "result.json")
        b = files.read_json(here / "jobs" / model / "result.json")
        assert a["settings"] == b["settings"] and a["robustness"].keys() == b["robustness"].keys()  # the same job
        assert (a["provenance"]["threads"], b["provenance"]["threads"]) == (LocalBackend(workers=2).threads,
                                                                            LocalBackend(workers=0).threads)


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], dict]:
    """The tiny study, with one model whose training diverges (lr 1e30): it fails, the others finish."""
    out = tmp_path_factory.mktemp("study") / "s"
    os.environ["VAEROBUST_CACHE"] = str(out.parent / "_cache")
    spec = cfg(models={**TINY["models"], "bad": {"train.lr": 1e30}})
    lines: list[str] = []
    counts = study.run(spec, out, workers=2, device="cpu", progress=False, echo=lines.append)
    return out, lines, counts


def test_a_failing_job_never_stops_the_study(ran: tuple[Path, list[str], dict]) -> None:
    out, lines, counts = ran
    assert counts == {"done": 5, "failed": 2}
    bad = out / "jobs" / "bad__train.seed=0"
    err = files.read_json(bad / "error.json")
    assert err["type"] == "TrainingDiverged" and "not finite" in err["message"]
    assert "Traceback" in (bad / "traceback.txt").read_text()
    assert not (bad / "result.json").exists()
    assert any("bad__train.seed=1: failed" in ln and "TrainingDiverged" in ln for ln in lines)
    states = {s.id: s for s in study.status(out)}
    assert states["bad__train.seed=0"].state == "failed" and "not finite" in (states["bad__train.seed=0"].error or "")
    assert states["plain__train.seed=1"].state == "done"
    assert "2 failed" in study.status_table(list(states.values()))


def test_records_hold_what_collect_needs(ran: tuple[Path, list[str], dict]) -> None:
    out, _, _ = ran
    rec = files.read_json(out / "jobs" / "joint__train.seed=1" / "result.json")
    assert rec["model"] == "joint" and rec["grid"] == {"train.seed": 1}
    rob = rec["robustness"]["latent"]
    assert rob["n_pairs_formed"] == 3 and set(rob["ignore"]) >= {"mean", "ci_low", "ci_high", "pairs"}
    outcomes = pd.read_csv(out / "jobs" / "joint__train.seed=1" / "outcomes-latent.csv.gz")
    assert len(outcomes) == rob["n_attacked"] and set(outcomes.columns) == {"src_index", "source", "target", "ignore",
                                                                            "target_hit"}
    assert sum(map(sum, rob["n_kept"])) == rob["n_attacked"]
    assert rec["disentanglement"]["active_dims"]["active"] >= 0
    sigma = rec["disentanglement"]["active_dims"]["mean_sigma_per_dim"]  # the posterior's scale, a confound
    assert len(sigma) == 4 and all(s > 0 for s in sigma)
    assert rec["reconstruction"]["test_nll_per_image"] > 0 and rec["provenance"]["version"]
    assert rec["settings"]["run"]["train"]["seed"] == 1 and rec["timings"]["train"] > 0
    assert rec["timings_cover"] == "every run of the job"
    assert set(rec["timings"]) == {"train", "evaluate", "attack:latent"}


def test_collect_rebuilds_the_tables_from_the_records_alone(ran: tuple[Path, list[str], dict], tmp_path: Path) -> None:
    import shutil

    out, _, _ = ran
    study.collect(out)
    first = pd.read_csv(out / "tables" / "results.csv")
    assert len(first) == 4 and set(first.model) == {"plain", "joint"} and "train.seed" in first
    assert pd.read_parquet(out / "tables" / "results.parquet").equals(first)
    summ = pd.read_csv(out / "tables" / "summary.csv")
    assert list(summ.jobs) == [2, 2] and "train.seed" not in summ  # seeds are summarised over
    for col in ("as_ignore", "as_target"):  # the hierarchical bootstrap's interval brackets the mean over seeds
        assert (summ[f"{col}_boot_low"] <= summ[f"{col}_mean"] + 1e-12).all()
        assert (summ[f"{col}_mean"] <= summ[f"{col}_boot_high"] + 1e-12).all()
    # only the records (and study.yaml) committed: the same tables
    copy = tmp_path / "records"
    for p in [out / "study.yaml", *out.glob("jobs/*/result.json"), *out.glob("jobs/*/job.json"),
              *out.glob("jobs/*/outcomes-*.csv.gz")]:
        dst = copy / p.relative_to(out)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(p, dst)
    study.collect(copy)
    pd.testing.assert_frame_equal(pd.read_csv(copy / "tables" / "results.csv"), first)
    exported = study.export(out, tmp_path / "published")  # the same, through the command's function
    assert not [p for p in exported if p.suffix in (".safetensors", ".pt")]
    study.collect(tmp_path / "published")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "published" / "tables" / "results.csv"), first)
    pd.testing.assert_frame_equal(pd.read_csv(copy / "tables" / "summary.csv"), summ)
    size = sum(p.stat().st_size for p in copy.rglob("*") if p.is_file())
    assert size < 200_000  # small enough to commit
    diffs = pd.read_csv(out / "tables" / "differences.csv")
    row = diffs.iloc[0]
    assert len(diffs) == 1 and {row.model_a, row.model_b} == {"plain", "joint"} and row.seeds == 2
    assert row.as_ignore_diff_low <= row.as_ignore_diff + 1e-12 <= row.as_ignore_diff_high + 2e-12
    assert 0 <= row.as_ignore_a_above_b <= 2


def test_a_job_holds_its_folder_s_lock_and_status_says_what_it_does(ran: tuple[Path, list[str], dict],
                                                                       tmp_path: Path) -> None:
    out, _, _ = ran
    _, judges, models = study.load(out)
    plain = next(m for m in models if m.id == "plain__train.seed=0")
    assert (out / plain.folder / files.LOCK_NAME).is_file()  # run_job took the job folder's lock
    copy = tmp_path / "s"
    (copy / plain.folder / "model").mkdir(parents=True)
    (copy / plain.folder / "model" / "complete.json").write_text("{}")
    assert study.job_state(copy, plain).progress == "trained; measuring its codes"
    with files.folder_lock(copy / plain.folder):  # another process would hold it while the job runs
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(1) as pool:
            state = pool.apply(study.job_state, (copy, plain))
    assert state.state == "running"


def test_running_again_skips_finished_jobs_and_retry_failed_reruns_only_those(
        ran: tuple[Path, list[str], dict]) -> None:
    out, _, _ = ran
    spec = cfg(models={**TINY["models"], "bad": {"train.lr": 1e30}})
    done = out / "jobs" / "plain__train.seed=0" / "result.json"
    before = done.stat().st_mtime_ns
    lines: list[str] = []
    counts = study.run(spec, out, workers=1, device="cpu", progress=False, echo=lines.append)
    assert counts == {"done": 5, "failed": 2} and done.stat().st_mtime_ns == before
    assert any("bad__train.seed=0: failed (earlier" in ln and "--retry-failed" in ln for ln in lines)
    lines.clear()
    counts = study.run(spec, out, workers=1, device="cpu", progress=False, echo=lines.append, retry_failed=True)
    assert counts == {"done": 5, "failed": 2} and done.stat().st_mtime_ns == before
    assert sum("already finished" in ln for ln in lines) == 5
    assert sum(": failed in" in ln and "TrainingDiverged" in ln for ln in lines) == 2  # run again, not skipped


def test_a_study_continued_from_its_published_records_trains_its_judge_again(
        ran: tuple[Path, list[str], dict], tmp_path: Path) -> None:
    out, _, _ = ran
    spec = cfg(models={**TINY["models"], "bad": {"train.lr": 1e30}})
    judge = next(out.glob("judges/*"))
    first = files.read_json(judge / "result.json")
    assert first["weights_sha256"] == job.weights_sha256(judge / "judge")
    # every model job finished: the records alone are enough, nothing trains again
    full = tmp_path / "full"
    study.export(out, full)
    lines: list[str] = []
    assert study.run(spec, full, workers=2, device="cpu", progress=False, echo=lines.append) == {"done": 5, "failed": 2}
    assert not any("trains again" in ln for ln in lines) and not (full / judge.relative_to(out) / "judge").exists()
    states = {s.id: s for s in study.status(full)}
    assert states[judge.name].state == "done" and "records only" in states[judge.name].progress
    assert states["plain__train.seed=0"].progress == "finished"
    # one model job left to run: its judge's weights are needed, so the judge trains again
    part = tmp_path / "part"
    study.export(out, part)
    (part / "jobs" / "plain__train.seed=1" / "result.json").unlink()
    lines.clear()
    assert study.run(spec, part, workers=2, device="cpu", progress=False, echo=lines.append) == {"done": 5, "failed": 2}
    again = part / judge.relative_to(out)
    assert files.read_json(again / job.PREVIOUS) == first  # the earlier record is kept
    rec = files.read_json(again / "result.json")
    assert rec["retrained"]["same_weights"] is True  # the same seed and thread count on a CPU: the same network
    assert rec["retrained"]["previous_test_accuracy"] == first["test_accuracy"] == rec["test_accuracy"]
    assert any(f"{judge.name}: its record has no weights" in ln for ln in lines)
    assert any(f"{judge.name}: trained again to the same weights" in ln for ln in lines)
    assert files.read_json(part / "jobs" / "plain__train.seed=1" / "result.json")["model"] == "plain"
    assert (tmp_path / "published" / judge.relative_to(out) / job.PREVIOUS) in study.export(part, tmp_path / "published")
    # continued once more from those records: compared with the record it replaces (which has a hash),
    # the chain of earlier comparisons carried; the first record stays the previous one
    (tmp_path / "published" / "jobs" / "plain__train.seed=1" / "result.json").unlink()
    assert study.run(spec, tmp_path / "published", workers=2, device="cpu", progress=False,
                     echo=lambda s: None) == {"done": 5, "failed": 2}
    third = files.read_json(tmp_path / "published" / judge.relative_to(out) / "result.json")
    assert third["retrained"]["same_weights"] is True and third["retrained_earlier"] == [rec["retrained"]]
    assert files.read_json(tmp_path / "published" / judge.relative_to(out) / job.PREVIOUS) == first
    # a retrain that fails leaves the first record in place, and the model job that needed it waits
    broken = tmp_path / "broken"
    study.export(out, broken)
    (broken / "jobs" / "plain__train.seed=1" / "result.json").unlink()
    (broken / judge.relative_to(out) / "judge").write_text("not a folder")  # the judge cannot be trained here
    counts = study.run(spec, broken, workers=1, device="cpu", progress=False, echo=lambda s: None)
    assert counts == {"done": 3, "failed": 3, "blocked": 1} and not (broken / "jobs" / "plain__train.seed=1" / "result.json").exists()
    assert files.read_json(broken / judge.relative_to(out) / "result.json") == first
    assert (broken / judge.relative_to(out) / "error.json").is_file()


def test_a_step_s_clock_never_hides_the_step_s_own_error_or_ctrl_c(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from vaerobust.rundir import RunDirError

    def read_only(*args: object, **kwargs: object) -> None:
        raise RunDirError("cannot write timings.json: the filesystem is read-only")

    clock = job._Clock(tmp_path, tmp_path / "model")
    monkeypatch.setattr(files, "write_json", read_only)
    with clock.step("train"):
        pass  # a step that succeeds still succeeds
    with pytest.raises(ValueError, match="the step's own"), clock.step("train"):
        raise ValueError("the step's own error")
    with pytest.raises(KeyboardInterrupt), clock.step("evaluate"):
        raise KeyboardInterrupt
    assert set(clock.seconds) == {"train", "evaluate"}


def test_a_judge_trained_again_to_unknown_weights_is_a_warning_of_the_report() -> None:
    from vaerobust.report.study_page import retrained_warnings

    same = {"id": "j1", "retrained": {"same_weights": True}}
    other = {"id": "j2", "retrained": {"same_weights": False}}
    unknown = {"id": "j3", "retrained": {"same_weights": None}}
    said = retrained_warnings([same, other, unknown, {"id": "j4"}])
    assert len(said) == 2 and "j2" in said[0] and "other weights" in said[0] and "no weights hash" in said[1]
    # a chain of retrains: the first could not be compared, the later ones matched the record before them
    chain = {"id": "j5", "retrained": {"same_weights": True}, "retrained_earlier": [{"same_weights": None}]}
    said = retrained_warnings([chain])
    assert len(said) == 1 and "no weights hash" in said[0] and "each of its 1 later retrain(s)" in said[0]
    assert retrained_warnings([{**chain, "retrained_earlier": [{"same_weights": True}]}]) == []
    assert "other weights" in retrained_warnings([{**chain, "retrained_earlier": [{"same_weights": False}]}])[0]
    assert "None" not in study.retrained_text({"same_weights": None, "test_accuracy": None})


def test_how_a_judge_trained_again_compares_is_said_in_one_line() -> None:
    before = {"test_accuracy": 0.84, "weights_sha256": "a"}
    other = job.compare_judges(before, {"test_accuracy": 0.83, "weights_sha256": "b"})
    assert other["same_weights"] is False and "OTHER weights" in study.retrained_text(other)
    assert "0.8300 (earlier 0.8400)" in study.retrained_text(other)
    unknown = job.compare_judges({"test_accuracy": 0.84}, {"test_accuracy": 0.84, "weights_sha256": "b"})
    assert unknown["same_weights"] is None and "no weights hash" in study.retrained_text(unknown)


def test_another_study_in_the_same_folder_is_refused(ran: tuple[Path, list[str], dict]) -> None:
    out, _, _ = ran
    with pytest.raises(ConfigError, match="holds a study made with other settings"):
        study.run(cfg(grid={"train.seed": [0, 1, 2]}), out, device="cpu", progress=False, echo=lambda s: None)
    saved = yaml.safe_load((out / "study.yaml").read_text())
    assert saved["grid"] == {"train.seed": [0, 1]}


def test_a_study_s_grid_may_grow_and_keeps_its_finished_jobs_but_may_not_lose_values(tmp_path: Path) -> None:
    os.environ["VAEROBUST_CACHE"] = str(tmp_path / "_cache")
    out = tmp_path / "s"
    quiet = {"device": "cpu", "progress": False, "echo": lambda s: None}
    assert study.run(cfg(models={"plain": {}}, grid={"train.seed": [0]}), out, **quiet) == {"done": 2}  # the judge and one model
    first = out / "jobs" / "plain__train.seed=0" / "result.json"
    before = first.stat().st_mtime_ns
    # more seeds: the finished job is kept as it is, the new one runs
    assert study.run(cfg(models={"plain": {}}, grid={"train.seed": [0, 1]}), out, **quiet) == {"done": 3}
    assert first.stat().st_mtime_ns == before and (out / "jobs" / "plain__train.seed=1" / "result.json").is_file()
    assert yaml.safe_load((out / "study.yaml").read_text())["grid"] == {"train.seed": [0, 1]}
    # dropping a value, or adding an axis (every job's id would change), is refused before anything is written
    with pytest.raises(ConfigError, match=r"grid train.seed has \[0\] as well, which \[1, 2\] drops"):
        study.run(cfg(models={"plain": {}}, grid={"train.seed": [1, 2]}), out, **quiet)
    with pytest.raises(ConfigError, match="grid axes \\['train.seed'\\], not \\['train.lr', 'train.seed'\\]"):
        study.run(cfg(models={"plain": {}}, grid={"train.seed": [0, 1], "train.lr": [1e-3]}), out, **quiet)
    assert yaml.safe_load((out / "study.yaml").read_text())["grid"] == {"train.seed": [0, 1]}
    assert not (out / "jobs" / "plain__train.seed=2").exists()
    # any other change is still another study
    with pytest.raises(ConfigError, match="holds a study made with other settings \\(attack.steps\\)"):
        study.run(cfg(models={"plain": {}}, grid={"train.seed": [0, 1, 2]}, attack={"steps": 5}), out, **quiet)


def test_ctrl_c_stops_the_study_and_running_again_resumes(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    spec = {**TINY, "models": {"plain": {}}, "grid": {"train.seed": [0]},
            "base": {**TINY["base"], "train": {**TINY["base"]["train"], "steps": 400, "checkpoint_every": 20}}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(spec))
    env = {**os.environ, "VAEROBUST_CACHE": str(tmp_path / "_cache"), "VAEROBUST_OFFLINE_MIRRORS": "1"}
    args = [sys.executable, "-m", "vaerobust.cli", "study", "run", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "o"),
            "--device", "cpu", "--no-progress"]
    p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state = tmp_path / "o" / "jobs" / "plain__train.seed=0" / "model" / "train_state.pt"
    t0 = time.monotonic()
    while not state.exists():
        assert p.poll() is None and time.monotonic() - t0 < 120, p.communicate()
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)  # to the study process only: it passes the signal on to its workers
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "interrupted: study" in err and "run the same command to resume" in err
    assert not (state.parent.parent / "result.json").exists()
    before = files.read_json(state.parent.parent / job.TIMINGS)["seconds"]["train"]  # kept by the interrupt
    assert before > 0
    q = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert q.returncode == 0, q.stderr
    assert "plain__train.seed=0: done" in q.stdout
    rec = files.read_json(state.parent.parent / "result.json")
    assert rec["model"] == "plain" and rec["timings_cover"] == "every run of the job"
    assert rec["timings"]["train"] > before  # the time before the interrupt counts too


def test_how_many_seeds_order_the_models_as_the_reference_does(tmp_path: Path) -> None:
    rows, recs = [], []
    means = {"disentangled": [0.4, 0.3, 0.5], "entangled": [0.3, 0.35, 0.2], "entangled_wd": [0.2, 0.1, 0.1]}
    for model, values in means.items():
        for s, v in enumerate(values):
            rows.append({"job": f"{model}__{s}", "model": model, "attack": "latent", "train.seed": s,
                         "as_ignore": v, "as_target": v / 2})
            recs.append({"id": f"{model}__{s}", "robustness": {"latent": {"classes": [0, 1]}}})
    df = pd.DataFrame(rows)
    out = study.differences(df, ["model", "attack"], ["train.seed"], tmp_path, recs,
                            reference_order=("disentangled", "entangled", "entangled_wd"))
    order = out[out.model_b == "(the reference's ordering)"].iloc[0]
    assert order.model_a == "disentangled > entangled > entangled_wd" and order.seeds == 3
    assert order.as_ignore_seeds_in_reference_order == 2  # seed 1: entangled (0.35) above disentangled (0.3)
    assert order.as_target_seeds_in_reference_order == 2 and (out.model_b == "(the reference's ordering)").sum() == 1
    pair = out[(out.model_a == "disentangled") & (out.model_b == "entangled")].iloc[0]
    assert pair.as_ignore_a_above_b == 2
    assert "as_ignore_diff" not in out.columns  # no outcome files here: no interval is made up


def test_the_slurm_backend_through_submitit_s_local_executor(tmp_path: Path) -> None:
    pytest.importorskip("submitit")  # in the dev extra, so the test command runs this
    out = tmp_path / "s"
    spec = cfg(models={"plain": {}}, grid={"train.seed": [0, 1]})
    lines: list[str] = []
    counts = study.run(spec, out, backend="slurm", workers=2, device="cpu", progress=False, echo=lines.append,
                       backend_options={"cluster": "local", "cpus_per_task": 1, "timeout_min": 10})
    assert counts == {"done": 3}, lines
    assert "slurm (local)" in lines[0]
    assert (out / "_submitit").is_dir()  # submitit's logs, one folder per task
    assert files.read_json(out / "jobs" / "plain__train.seed=1" / "result.json")["grid"] == {"train.seed": 1}
    with pytest.raises(ConfigError, match="no option 'partitio'"):
        build_backend("slurm", 1, partitio="gpu")


def test_the_ray_backend_on_a_local_2_cpu_instance(tmp_path: Path) -> None:
    pytest.importorskip("ray")  # in the dev extra, so the test command runs this
    out = tmp_path / "s"
    spec = cfg(models={"plain": {}}, grid={"train.seed": [0, 1]})
    lines: list[str] = []
    counts = study.run(spec, out, backend="ray", workers=2, device="cpu", progress=False, echo=lines.append,
                       backend_options={"num_cpus": 2, "cpus_per_job": 1})
    assert counts == {"done": 3}, lines
    assert "ray (a local instance of 2 CPU(s))" in lines[0]
    import ray

    assert not ray.is_initialized()  # the instance it started is stopped again
    assert files.read_json(out / "jobs" / "plain__train.seed=0" / "result.json")["model"] == "plain"
    with pytest.raises(ConfigError, match="no option 'num_cpu'"):
        build_backend("ray", 1, num_cpu=2)


def test_backend_option_values_of_the_wrong_type_name_the_key() -> None:
    from vaerobust.backends.local import backend_options

    assert backend_options("ray", {"num_cpus": "4", "gpus_per_job": "0.5"}, {"num_cpus": int, "gpus_per_job": float}) \
        == {"num_cpus": 4, "gpus_per_job": 0.5}
    with pytest.raises(ConfigError, match="ray backend option num_cpus = 'four': expected int"):
        backend_options("ray", {"num_cpus": "four"}, {"num_cpus": int})
    with pytest.raises(ConfigError, match="the slurm backend has no option 'partitio'"):
        backend_options("slurm", {"partitio": "gpu"}, {"partition": str})


def test_the_ray_backend_refuses_jobs_larger_than_the_cluster(tmp_path: Path) -> None:
    pytest.importorskip("ray")
    spec = cfg(models={"plain": {}}, grid={"train.seed": [0]})
    with pytest.raises(ConfigError, match="asks for 1 CPU.s. and 1 GPU.s. per job, but the cluster has 2 CPU"):
        study.run(spec, tmp_path / "s", backend="ray", workers=1, device="cpu", progress=False, echo=lambda s: None,
                  backend_options={"num_cpus": 2, "gpus_per_job": 1})
    import ray

    assert not ray.is_initialized()


def test_judge_ids_survive_settings_added_later() -> None:
    """The published sootla2018-seeds study's judge keeps its id (docs/results/sootla2018-seeds/judges/)
    although judge settings were added since (data.crop, classifier.optimizer) at their neutral values."""
    import dataclasses

    from vaerobust.config import load_study

    judge = load_study("sootla2018").judge
    assert study.judge_id(judge) == "judge-2e776ac4ec"
    assert (Path(__file__).parents[1] / "docs/results/sootla2018-seeds/judges/judge-2e776ac4ec/result.json").is_file()
    adam = dataclasses.replace(judge, classifier=dataclasses.replace(judge.classifier, optimizer="adam"))
    assert study.judge_id(adam) != study.judge_id(judge)  # a setting away from its neutral value is part of the id


def test_models_judged_equally_badly_share_one_warning_line() -> None:
    from vaerobust.report.study_page import unequal_judging, unequal_judging_warnings

    summ = pd.DataFrame({"model": ["c5", "c15", "j10", "fv100", "elbo"], "attack": ["latent"] * 5,
                         "clean_recon_accuracy_mean": [0.1675, 0.16751, 0.1675, 0.60, 0.90]})
    lines = unequal_judging_warnings(summ, [])
    assert len(lines) == 2  # the three at chance share a line; fv100 has its own
    assert "16.8% of each of 3 models' (c5, c15, j10)" in lines[0] and "90.0% for elbo" in lines[0]
    assert "60.0% of fv100's" in lines[1]
    assert set(unequal_judging(summ, [])) == {"c5", "c15", "j10", "fv100"}  # per model, for the sentences
    assert unequal_judging_warnings(summ.assign(clean_recon_accuracy_mean=0.9), []) == []


def test_a_model_judged_on_unequal_terms_makes_its_differences_inconclusive() -> None:
    from vaerobust.report.study_page import difference_sentences, unequal_judging

    summ = pd.DataFrame({"model": ["dis", "ent", "wd"], "attack": ["latent"] * 3,
                         "clean_recon_accuracy_mean": [0.32, 0.87, 0.871]})
    unequal = unequal_judging(summ, [])
    assert list(unequal) == ["dis"] and "32.0%" in unequal["dis"] and "87.1% for wd" in unequal["dis"]
    assert unequal_judging(summ.assign(clean_recon_accuracy_mean=[0.70, 0.87, 0.871]), []) == {}  # a 17-point gap: equal terms
    diffs = pd.DataFrame([{"attack": "latent", "model_a": "dis", "model_b": "ent", "seeds": 3, "as_ignore_diff": -0.027,
                           "as_ignore_diff_low": -0.041, "as_ignore_diff_high": -0.012, "as_ignore_a_above_b": 0},
                          {"attack": "latent", "model_a": "ent", "model_b": "wd", "seeds": 3, "as_ignore_diff": 0.03,
                           "as_ignore_diff_low": 0.01, "as_ignore_diff_high": 0.05, "as_ignore_a_above_b": 3}])
    text = difference_sentences(diffs, ["attack"], "thesis", unequal)
    assert text[0].startswith("AS ignore-target (attack=latent): inconclusive: dis is not judged on equal terms")
    assert "ent is more attackable than wd" in text[1]
    assert "less attackable" in difference_sentences(diffs, ["attack"], "thesis")[0]  # without the flag: stated

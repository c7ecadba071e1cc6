"""Bad input and faults, tried as a user would (issue: "run folders that never hold garbage").

Each class of the issue has cases here: a bad value -> one-line error, exit status 2, nothing
written or changed; Ctrl-C -> exit 130 saying where it stopped -> running again resumes to
identical bytes; two writers -> one refused; a diverging run -> an error, never a finished
folder; file modes; the public API's input checks; a bug keeps its traceback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from conftest import locked_by_another_process
from test_cli import run_main as _run_main
from vaerobust import files, rundir
from vaerobust.cli import main
from vaerobust.config import (
    AttackConfig,
    ClassifierConfig,
    DataConfig,
    JudgeConfig,
    ModelConfig,
    RunConfig,
    SweepConfig,
    TrainConfig,
    objective_config,
    to_dict,
)
from vaerobust.errors import InputError, RunDirError, TrainingDiverged
from vaerobust.models.encoding import predict
from vaerobust.pipelines.attack import attack_sweep
from vaerobust.pipelines.train import train_vae
from vaerobust.pipelines.train_classifier import train_classifier

TINY = RunConfig(
    data=DataConfig(name="synthetic"),
    model=ModelConfig(gaussian_dims=4, categorical=(10,), hidden=16),
    objective=objective_config("jointvae", capacity_steps=20),
    train=TrainConfig(steps=20, batch_size=16, lr=1e-3, log_every=5, checkpoint_every=10),
)
JUDGE = JudgeConfig(data=DataConfig(name="synthetic"), classifier=ClassifierConfig(epochs=1, max_steps=30))


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: object) -> tuple[int, str, str]:
    """``vaerobust ARGS`` through main() in this process (paths as strings): (exit status, stdout, stderr)."""
    return _run_main(monkeypatch, capsys, *map(str, args))


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root``: (mode, sha256) -- to show that nothing was written or changed."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): (p.stat().st_mode, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(root.rglob("*")) if p.is_file() and p.name != files.LOCK_NAME}


def one_line_error(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    lines = [ln for ln in err.strip().splitlines() if not ln.startswith("warning")]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def write_yaml(path: Path, cfg: object) -> Path:
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A finished tiny VAE, a finished judge, and an unfinished VAE (stopped at step 10)."""
    root = tmp_path_factory.mktemp("faults")
    os.environ["VAEROBUST_CACHE"] = str(root / "_cache")
    vae, judge, half = root / "vae", root / "judge", root / "half"
    train_vae(TINY, vae, device="cpu", progress=False)
    train_classifier(JUDGE, judge, device="cpu", progress=False)
    train_vae(TINY, half, device="cpu", progress=False, stop_at=10)
    return {"root": root, "vae": vae, "judge": judge, "half": half}


# --------------------------------------------------------------------------- bad settings


CONFIG_CASES = {
    # non-finite settings never train
    "lr-inf": (["--set", "train.lr=inf"], ["train.lr = inf", "finite"]),
    "lr-nan": (["--set", "train.lr=nan"], ["train.lr = nan", "finite"]),
    "capacity-nan": (["--set", "objective.capacity_max=.nan"], ["objective.capacity_max = nan"]),
    "weight-decay-inf": (["--set", "train.weight_decay=-.inf"], ["train.weight_decay"]),
    # ranges name the key
    "image-size-0": (["--set", "data.image_size=0"], ["data.image_size = 0", "expected an integer >= 1"]),
    "seed-negative": (["--set", "train.seed=-1"], ["train.seed = -1", "expected an integer in [0, 2147483647]"]),
    "seed-huge": (["--set", "train.seed=99999999999999999999999"], ["train.seed = 99999999999999999999999"]),
    "temperature-0": (["--set", "train.temperature=0"], ["train.temperature = 0", "> 0"]),
    "categorical-1": (["--set", "model.categorical=[1]"], ["model.categorical"]),
    # a setting of another objective is an unknown key of this one
    "other-objective-key": (["--set", "objective.lambda_od=1"], ["objective.lambda_od", "jointvae"]),
    "unknown-objective": (["--set", "objective.name=vae"], ["objective.name = 'vae'", "elbo"]),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_training_settings_are_one_line_errors_and_write_nothing(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    extra, needles = CONFIG_CASES[case]
    cfg = write_yaml(tmp_path / "run.yaml", TINY)
    code, _, err = run_main(monkeypatch, capsys, "train", "--out", tmp_path / "out", "--config", cfg, *extra,
                            "--device", "cpu", "--no-progress")
    one_line_error(code, err, *needles)
    assert not (tmp_path / "out").exists()


ATTACK_CASES = {
    "eps-above-one": (["--set", "attack.eps=2"], ["attack.eps = 2", "[0, 1]"]),
    "eps-nan": (["--set", "attack.eps=nan"], ["attack.eps = nan"]),
    "zero-steps": (["--set", "attack.steps=0"], ["attack.steps = 0", "attacks nothing"]),
    "lr-inf": (["--set", "attack.lr=inf"], ["attack.lr = inf"]),
    "sweep-seed": (["--set", "sweep.seed=-1"], ["sweep.seed = -1", "expected an integer in [0,"]),
    "per-pair-0": (["--per-pair", "0"], ["sweep.per_pair = 0"]),
    "pairs": (["--pairs", "1-1"], ["'1-1'", "two different classes"]),
    "class-out-of-judge": (["--set", "sweep.classes=[0, 11]"], ["sweep.classes", "0..9"]),
    "grid-eps-above-one": (["--sweep", "eps=0.5,2"], ["attack.eps = 2"]),
    "grid-steps-zero": (["--sweep", "steps=0,10"], ["attack.steps = 0"]),
}


@pytest.mark.parametrize("case", list(ATTACK_CASES))
def test_bad_attack_settings_are_one_line_errors_and_change_nothing(
    case: str, trained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str]
) -> None:
    extra, needles = ATTACK_CASES[case]
    before = snapshot(trained["vae"])
    out = tmp_path / "atk"
    code, _, err = run_main(monkeypatch, capsys, "attack", trained["vae"], "--judge", trained["judge"], "--out", out,
                            "--per-pair", "1", *extra, "--device", "cpu", "--no-progress")
    one_line_error(code, err, *needles)
    assert snapshot(trained["vae"]) == before
    assert not out.exists() or not any(out.rglob("*.json"))


def test_attacking_an_unfinished_vae_is_refused(trained: dict[str, Path], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(monkeypatch, capsys, "attack", trained["half"], "--judge", trained["judge"], "--out",
                            tmp_path / "a", "--per-pair", "1", "--device", "cpu", "--no-progress")
    one_line_error(code, err, str(trained["half"]), "unfinished", "vaerobust train")
    assert not (tmp_path / "a").exists()


def test_a_judge_of_other_images_is_refused(trained: dict[str, Path], tmp_path: Path) -> None:
    other = tmp_path / "vae64"
    cfg = dataclasses.replace(TINY, data=DataConfig(name="synthetic", image_size=16),
                              model=ModelConfig(arch="mlp", gaussian_dims=2, categorical=(), hidden=8),
                              objective=objective_config("elbo"), train=dataclasses.replace(TINY.train, steps=2))
    train_vae(cfg, other, device="cpu", progress=False)
    with pytest.raises(RunDirError, match=r"reads images \[1, 32, 32\] but the VAE .* makes \[1, 16, 16\]") as e:
        attack_sweep(other, trained["judge"], tmp_path / "a", AttackConfig(steps=1), SweepConfig(per_pair=1),
                     device="cpu", progress=False)
    assert "\n" not in str(e.value) and not (tmp_path / "a").exists()


def test_a_sweep_that_keeps_no_source_is_labelled_not_nan(trained: dict[str, Path], tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    import vaerobust.pipelines.attack as attack

    monkeypatch.setattr(attack, "predict", lambda judge, x, **kw: torch.full((x.shape[0],), 99))  # reads no class right
    code, out, err = run_main(monkeypatch, capsys, "attack", trained["vae"], "--judge", trained["judge"], "--out",
                              tmp_path / "a", "--per-pair", "1", "--device", "cpu", "--no-progress")
    assert code == 0, err
    assert "nan" not in out.lower() and "AS ignore-target n/a, AS target n/a" in out
    assert "warning: no source was attacked" in err
    summary = rundir.read_summary(tmp_path / "a")
    assert summary.n_attacked == 0 and summary.overall("ignore")["mean"] is None and summary.warnings


# --------------------------------------------------------------------------- corrupt or misplaced files


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(files.LOCK_NAME))
    return dst


def test_model_json_with_missing_keys(trained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    run = _copy(trained["vae"], tmp_path / "vae")
    desc = json.loads((run / "model.json").read_text())
    del desc["gaussian"]
    (run / "model.json").write_text(json.dumps(desc))
    code, _, err = run_main(monkeypatch, capsys, "attack", run, "--judge", trained["judge"], "--per-pair", "1",
                            "--device", "cpu", "--no-progress")
    one_line_error(code, err, "model.json", "lacks gaussian")
    desc["gaussian"] = "four"
    (run / "model.json").write_text(json.dumps(desc))
    code, _, err = run_main(monkeypatch, capsys, "evaluate", run, "--metrics", "active_dims", "--device", "cpu")
    one_line_error(code, err, "model.json", "buildable")


def test_train_state_with_missing_keys_or_of_another_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    cfg_file = write_yaml(tmp_path / "run.yaml", TINY)
    out = tmp_path / "run"
    train_vae(TINY, out, device="cpu", progress=False, stop_at=10)
    state = torch.load(out / "train_state.pt", weights_only=True)
    before = snapshot(out)
    for label, bad in (("missing", {k: v for k, v in state.items() if k != "optimizer"}),
                       ("other-net", {**state, "model": {"encoder.weight": torch.zeros(3)}})):
        rundir.torch_save(out / "train_state.pt", bad)
        before["train_state.pt"] = snapshot(out)["train_state.pt"]
        code, _, err = run_main(monkeypatch, capsys, "train", "--out", out, "--config", cfg_file, "--device", "cpu",
                                "--no-progress")
        one_line_error(code, err, "train_state.pt", "optimizer" if label == "missing" else "does not fit")
        assert snapshot(out) == before, label  # the folder is left as it was


@pytest.mark.parametrize("command", ["train", "train-classifier", "report", "reproduce", "attack"])
def test_out_that_is_an_existing_file(command: str, trained: dict[str, Path], tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "taken"
    target.write_text("my notes")
    args = {
        "train": ["train", "--out", target, "--config", write_yaml(tmp_path / "r.yaml", TINY)],
        "train-classifier": ["train-classifier", "--out", target, "--set", "data.name=synthetic"],
        "report": ["report", trained["root"], "--out", target],
        "reproduce": ["reproduce", "sootla2018", "--out", target, "--set", "base.data.name=synthetic",
                      "--set", "judge.data.name=synthetic"],
        "attack": ["attack", trained["vae"], "--judge", trained["judge"], "--out", target, "--per-pair", "1"],
    }[command]
    extra = ["--device", "cpu", "--no-progress"] if command not in ("report",) else []
    code, _, err = run_main(monkeypatch, capsys, *args, *extra)
    one_line_error(code, err, str(target))
    assert target.read_text() == "my notes"


# --------------------------------------------------------------------------- the filesystem fails


def _failing_open(errno_: int, match: str):  # type: ignore[no-untyped-def]
    real = open

    def fake(path, mode="r", *a, **k):  # type: ignore[no-untyped-def]
        if "x" in mode and match in str(path):
            raise OSError(errno_, os.strerror(errno_), str(path))
        return real(path, mode, *a, **k)
    return fake


@pytest.mark.parametrize("errno_, reason", [(28, "no space left"), (30, "read-only")], ids=["full-disk", "read-only"])
def test_a_failing_disk_is_one_line_and_keeps_the_last_checkpoint(
    errno_: int, reason: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_file = write_yaml(tmp_path / "run.yaml", TINY)
    out = tmp_path / "run"
    train_vae(TINY, out, device="cpu", progress=False, stop_at=10)
    before = snapshot(out)
    monkeypatch.setattr(files, "open", _failing_open(errno_, "model.safetensors"), raising=False)
    code, _, err = run_main(monkeypatch, capsys, "train", "--out", out, "--config", cfg_file, "--device", "cpu",
                            "--no-progress")
    one_line_error(code, err, "model.safetensors", reason, "unchanged")
    after = snapshot(out)
    for name in ("model.safetensors", "train_state.pt"):  # the last good checkpoint, byte for byte
        assert after[name] == before[name], name
    assert not (out / rundir.COMPLETE).exists()
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]  # no temporary file left behind
    monkeypatch.undo()
    monkeypatch.setenv("VAEROBUST_CACHE", str(tmp_path / "_cache"))
    train_vae(TINY, out, device="cpu", progress=False)  # the disk is back: the run resumes and finishes
    assert rundir.is_complete(out)


def test_a_read_only_folder_is_one_line(trained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    def refuse(self, *a, **k):  # type: ignore[no-untyped-def]
        raise OSError(30, os.strerror(30), str(self))
    monkeypatch.setattr(Path, "mkdir", refuse)
    code, _, err = run_main(monkeypatch, capsys, "report", trained["root"], "--out", tmp_path / "ro" / "report")
    one_line_error(code, err, "ro", "read-only")


# --------------------------------------------------------------------------- diverging training


def test_a_diverging_run_stops_with_an_error_and_saves_nothing_non_finite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg_file = write_yaml(tmp_path / "run.yaml", dataclasses.replace(TINY, train=dataclasses.replace(TINY.train,
                                                                                                     lr=1e30)))
    out = tmp_path / "run"
    code, _, err = run_main(monkeypatch, capsys, "train", "--out", out, "--config", cfg_file, "--device", "cpu",
                            "--no-progress")
    line = one_line_error(code, err, "not finite at step", "train.lr = 1e+30", "nothing non-finite was saved")
    assert "objective.gamma" in line  # the objective's settings are named as suspects too
    assert not rundir.is_complete(out)
    for p in out.glob("*.safetensors"):  # whatever was saved is finite
        assert all(torch.isfinite(v).all() for v in __import__("safetensors.torch").torch.load_file(p).values())
    rows = files.read_jsonl(out / "metrics.jsonl")
    assert all(all(v == v and abs(v) != float("inf") for v in r.values()) for r in rows)


def test_refusing_to_save_non_finite_weights(tmp_path: Path) -> None:
    net = torch.nn.Linear(2, 2)
    with torch.no_grad():
        net.weight[0, 0] = float("nan")
    with pytest.raises(TrainingDiverged, match="not finite"):
        rundir.save_weights(tmp_path / "w.safetensors", net)
    assert not (tmp_path / "w.safetensors").exists()


# --------------------------------------------------------------------------- the public API checks its input


@pytest.mark.parametrize("make, match", [
    (lambda: torch.rand(2, 1, 32, 32) * 255, r"\[0, 1\]"),
    (lambda: torch.full((2, 1, 32, 32), float("nan")), "NaN"),
    (lambda: torch.full((2, 1, 32, 32), float("inf")), "infinite"),
    (lambda: torch.rand(2, 32, 32), r"expected \[N, 1, 32, 32\]"),
    (lambda: torch.rand(2, 1, 28, 28), r"expected \[N, 1, 32, 32\]"),
    (lambda: torch.zeros(0, 1, 32, 32), "empty"),
    (lambda: torch.zeros(2, 1, 32, 32, dtype=torch.uint8), "floating point"),
], ids=["0-255", "nan", "inf", "3-dims", "28x28", "empty", "uint8"])
def test_public_api_checks_images(trained: dict[str, Path], make, match: str) -> None:  # type: ignore[no-untyped-def]
    vae = rundir.load_vae(trained["vae"])
    judge = rundir.load_classifier(trained["judge"])
    from vaerobust.attacks import build_attack

    x = make()
    for call in (lambda: vae.reconstruct(x), lambda: predict(judge, x), lambda: vae(x)):
        with pytest.raises(InputError, match=match) as e:
            call()
        assert isinstance(e.value, ValueError) and "\n" not in str(e.value)
    with pytest.raises(InputError) as e:
        build_attack(vae, AttackConfig(steps=1))(x, x)
    assert "\n" not in str(e.value)


# --------------------------------------------------------------------------- the CLI shows bugs


def test_a_bug_keeps_its_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    import vaerobust.pipelines.presets as presets

    def buggy() -> list[str]:
        raise ValueError("an internal bug")
    monkeypatch.setattr(presets, "run", buggy)
    monkeypatch.setattr(sys, "argv", ["vaerobust", "presets"])
    with pytest.raises(ValueError, match="an internal bug"):  # not turned into "error: ..." and exit 2
        main()


# --------------------------------------------------------------------------- locks, modes, torn lines


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with locked_by_another_process(out) as pid:
        with pytest.raises(RunDirError, match=rf"is being written by pid {pid} ") as e:
            train_vae(TINY, out, device="cpu", progress=False)
        assert "\n" not in str(e.value)
        assert not (out / "config.yaml").exists()
    train_vae(TINY, out, device="cpu", progress=False)  # the holder died: its lock went with it
    assert rundir.is_complete(out)


def test_a_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    with files.folder_lock(tmp_path / "a"), files.folder_lock(tmp_path / "a"):
        files.write_text(tmp_path / "a" / "x.txt", "x")
    with files.folder_lock(tmp_path / "a"):  # released after the outer block
        pass


def test_files_get_the_normal_mode_for_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        train_vae(TINY, tmp_path / "run", device="cpu", progress=False)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "run").iterdir() if p.is_file()}
    assert modes and all(m == 0o644 for m in modes.values()), modes


def test_metrics_jsonl_is_never_torn(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    files.write_jsonl(path, [{"step": 1, "loss": 2.0}])
    files.append_jsonl(path, [{"step": 2, "loss": float("nan")}])  # strict JSON: NaN becomes null
    text = path.read_text()
    assert text.endswith("\n") and [json.loads(ln) for ln in text.splitlines()] == [
        {"step": 1, "loss": 2.0}, {"step": 2, "loss": None}]
    path.write_text(text + '{"step": 3, "lo')  # an older writer's torn line is skipped by the reader
    assert [r["step"] for r in files.read_jsonl(path)] == [1, 2]


# --------------------------------------------------------------------------- Ctrl-C and kill, through the real command


def _cli(*args: str | Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vaerobust.cli", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "VAEROBUST_CACHE": str(tmp_path / "_cache"), "VAEROBUST_OFFLINE_MIRRORS": "1",
            "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def _wait_for(path: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    t0 = time.monotonic()
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the command ended before {path} appeared: {proc.communicate()}")
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.02)


LONG = dataclasses.replace(TINY, train=dataclasses.replace(TINY.train, steps=240, checkpoint_every=20, log_every=20),
                           objective=objective_config("jointvae", capacity_steps=240))


def _train_cli(out: Path, cfg: Path, env: dict[str, str]) -> None:
    q = _cli("train", "--out", out, "--config", cfg, "--device", "cpu", "--no-progress", env=env)
    _, err = q.communicate(timeout=300)
    assert q.returncode == 0, err


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """LONG trained in one go through the command, with one thread (as the interrupted runs)."""
    root = tmp_path_factory.mktemp("uninterrupted")
    cfg = write_yaml(root / "long.yaml", LONG)
    _train_cli(root / "ref", cfg, _env(root))
    return root / "ref", cfg


def _no_speed(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "images_per_s"} for r in files.read_jsonl(path)]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_exits_130_says_where_and_resumes_to_identical_bytes(sig: int, tmp_path: Path,
                                                                   uninterrupted: tuple[Path, Path]) -> None:
    ref, cfg = uninterrupted
    env = _env(tmp_path)
    cut = tmp_path / "cut"
    p = _cli("train", "--out", cut, "--config", cfg, "--device", "cpu", "--no-progress", env=env)
    _wait_for(cut / "train_state.pt", p)
    p.send_signal(sig)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted: training of" in err and "stopped at step" in err and "run the same command to resume" in err
    assert not (cut / rundir.COMPLETE).exists()
    step = torch.load(cut / "train_state.pt", weights_only=True)["step"]
    assert 0 < step < LONG.train.steps and f"stopped at step {step} " in err  # saved where it stopped
    _train_cli(cut, cfg, env)  # running it again resumes ...
    # ... to the bytes of an uninterrupted run
    assert (cut / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()
    assert _no_speed(cut / "metrics.jsonl") == _no_speed(ref / "metrics.jsonl")


def test_kill_9_leaves_only_complete_files_and_resumes(tmp_path: Path, uninterrupted: tuple[Path, Path]) -> None:
    ref, cfg = uninterrupted
    env = _env(tmp_path)
    out = tmp_path / "run"
    p = _cli("train", "--out", out, "--config", cfg, "--device", "cpu", "--no-progress", env=env)
    _wait_for(out / "train_state.pt", p)
    time.sleep(0.3)
    p.kill()
    p.communicate()
    for line in (out / "metrics.jsonl").read_text().splitlines():  # every line parses: none is torn
        json.loads(line)
    torch.load(out / "train_state.pt", weights_only=True)  # the checkpoint is whole
    _train_cli(out, cfg, env)
    assert rundir.is_complete(out)
    assert not [q for q in out.iterdir() if q.name.endswith(".tmp")]  # a killed writer's temporary files are gone
    assert (out / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()


def test_ctrl_c_in_an_attack_sweep_exits_130_and_resumes(trained: dict[str, Path], tmp_path: Path) -> None:
    env = _env(tmp_path)
    out = tmp_path / "atk"
    args = ["attack", trained["vae"], "--judge", trained["judge"], "--out", out, "--set", "attack.steps=200",
            "--set", "sweep.batch_size=8", "--per-pair", "2", "--device", "cpu", "--no-progress"]
    p = _cli(*args, env=env)
    _wait_for(out / "partial" / "batch-00000000.npz", p)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "interrupted: attack sweep" in err and "batches" in err and "resume" in err
    assert not (out / "summary.json").exists()
    q = _cli(*args, env=env)
    _, err = q.communicate(timeout=300)
    assert q.returncode == 0, err
    assert rundir.is_complete(out)


# --------------------------------------------------------------------------- regressions found in review


def test_a_linear_lambda_grid_from_zero_gets_linear_areas() -> None:
    from vaerobust.metrics.auddc import summarise_curve

    pts = [{"value": v, "dd_x": x, "dd_y": 1 - x, "dd_y_latent": 1 - x, "ignore": {"mean": m}, "target": {"mean": m / 2}}
           for v, x, m in ((0.0, 0.0, 0.0), (0.5, 0.3, 0.2), (1.0, 0.6, 0.4))]
    out = summarise_curve("lam", pts)  # a log area needs every value > 0: this grid is linear
    assert out["log_x"] is False and out["as_ignore_area"] == pytest.approx(0.2)


def test_duplicate_pairs_are_refused() -> None:
    from vaerobust.attacks.pairs import parse_pairs
    from vaerobust.errors import ConfigError

    with pytest.raises(ConfigError, match="'1-7' is listed twice"):
        parse_pairs("1-7,3-8,1-7", tuple(range(10)))


def test_an_unknown_study_for_the_report_is_refused(trained: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(monkeypatch, capsys, "report", trained["root"], "--out", tmp_path / "r",
                            "--study", "sootla2081")
    one_line_error(code, err, "'sootla2081'", "sootla2018")
    assert not (tmp_path / "r").exists()


def test_a_curve_with_incomplete_points_is_corrupt(tmp_path: Path) -> None:
    files.write_json(tmp_path / "curve.json", {"key": "lam", "values": [1.0], "points": [{"value": 1.0}],
                                               "attack": {"name": "output"}})
    with pytest.raises(RunDirError, match=r"point 0 lacks n_attacked, .*ignore.mean"):
        rundir.read_curve(tmp_path)


def test_statements_for_a_subset_of_pairs_do_not_blame_the_judge() -> None:
    import numpy as np

    from vaerobust.metrics.robustness import success_table
    from vaerobust.report.statements import result_statements

    res = success_table(np.array([1, 1]), np.array([7, 7]), np.array([True, True]), np.array([7, 1]),
                        list(range(10))).to_json()
    lines = result_statements({"m": {"results": res}})
    assert any("m: 1 of the 90 ordered pairs of its classes were asked for" in s for s in lines)
    assert not any("misclassified" in s for s in lines)


def test_the_study_s_pairs_and_per_pair_are_the_attack_defaults(tmp_path: Path) -> None:
    from vaerobust.config import load_study
    from vaerobust.pipelines.attack import resolve_attack

    study = load_study("sootla2018")
    path = write_yaml(tmp_path / "s.yaml", dataclasses.replace(study, sweep=dataclasses.replace(
        study.sweep, per_pair=7, pairs="1-7,3-8")))
    _, sweep = resolve_attack(str(path))
    assert (sweep.per_pair, sweep.pairs) == (7, "1-7,3-8")
    _, sweep = resolve_attack(str(path), pairs="all", per_pair=2)
    assert (sweep.per_pair, sweep.pairs) == (2, "all")


def test_metric_sizes_too_small_are_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import vaerobust.pipelines.evaluate as evaluate
    from vaerobust.errors import NothingToMeasure

    monkeypatch.setattr(evaluate, "load_vae", lambda run, dev: object())
    monkeypatch.setattr(evaluate, "run_config_of", lambda run: RunConfig(data=DataConfig(name="dsprites", image_size=64)))
    monkeypatch.setattr(evaluate, "load_factor_grid", lambda cfg: [0])
    monkeypatch.setattr(evaluate, "GridCodes", lambda vae, grid, dev: None)

    def too_small(*a, **k):  # type: ignore[no-untyped-def]
        raise ValueError("every factor is constant in the sample: MIG is undefined")
    monkeypatch.setattr(evaluate, "grid_metrics", too_small)
    with pytest.raises(NothingToMeasure, match=r"sizes \{'num_train': 1\}: every factor is constant.*larger"):
        evaluate.evaluate_run(tmp_path / "run", "mig", device="cpu", sizes={"num_train": 1})
    with pytest.raises(ValueError, match="MIG is undefined"):  # at the published sizes it is a bug: traceback
        evaluate.evaluate_run(tmp_path / "run", "mig", device="cpu")


def test_a_failed_command_leaves_no_empty_folder(tmp_path: Path) -> None:
    out = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError, match="boom"):
        with files.folder_lock(out):
            raise RuntimeError("boom")
    assert not (tmp_path / "new").exists()
    with pytest.raises(RuntimeError), files.folder_lock(out):
        files.write_text(out / "kept.txt", "x")
        raise RuntimeError("after writing")
    assert (out / "kept.txt").read_text() == "x"  # what was written stays


# --------------------------------------------------------------------------- regressions found by the fault hunt


def _nan_weights(folder: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
             for k, v in load_file(str(folder / "model.safetensors")).items()}
    save_file(state, str(folder / "model.safetensors"))


def test_non_finite_weights_are_refused_when_loaded(trained: dict[str, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    judge, vae = _copy(trained["judge"], tmp_path / "judge"), _copy(trained["vae"], tmp_path / "vae")
    _nan_weights(judge)
    code, _, err = run_main(monkeypatch, capsys, "attack", trained["vae"], "--judge", judge, "--out", tmp_path / "a",
                            "--per-pair", "1", "--device", "cpu", "--no-progress")
    one_line_error(code, err, str(judge / "model.safetensors"), "non-finite weights")
    assert not (tmp_path / "a").exists()
    _nan_weights(vae)
    code, _, err = run_main(monkeypatch, capsys, "evaluate", vae, "--metrics", "active_dims", "--device", "cpu")
    one_line_error(code, err, str(vae / "model.safetensors"), "non-finite weights")


MORE_CASES = {
    "attack-section": (["attack", "{vae}", "--judge", "{judge}", "--set", "attack=garbage"], ["'attack'", "attack."]),
    "sweep-section": (["attack", "{vae}", "--judge", "{judge}", "--set", "sweep=3"], ["'sweep'"]),
    "attack-key-named": (["attack", "{vae}", "--judge", "{judge}", "--set", "attack.stepz=3"], ["'attack.stepz'"]),
    "attack-bool-named": (["attack", "{vae}", "--judge", "{judge}", "--set", "attack.early_stop=maybe"],
                          ["attack.early_stop", "true or false"]),
    "steps-grid-fraction": (["attack", "{vae}", "--judge", "{judge}", "--sweep", "steps=1.5,3"], ["whole numbers"]),
    "grid-too-long": (["attack", "{vae}", "--judge", "{judge}", "--sweep", "lam=0.1:1:100000000"], ["at most 200"]),
    "objective-name-list": (["train", "--out", "{tmp}/o", "--config", "{cfg}", "--set", "objective.name=[1]"],
                            ["objective.name", "expected a string"]),
    "config-is-folder": (["train", "--out", "{tmp}/o", "--config", "{tmp}"], ["is a folder"]),
    "evaluate-a-file": (["evaluate", "{cfg}"], ["is a file: expected a run folder"]),
    "usage-bad-int": (["attack", "{vae}", "--judge", "{judge}", "--per-pair", "abc"], ["--per-pair", "--help"]),
    "usage-no-command": (["trian"], ["No such command 'trian'"]),
    "usage-missing-option": (["train", "--preset", "sootla2018/entangled"], ["Missing option '--out'"]),
}


@pytest.mark.parametrize("case", list(MORE_CASES))
def test_more_bad_input_is_one_line(case: str, trained: dict[str, Path], tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    template, needles = MORE_CASES[case]
    cfg = write_yaml(tmp_path / "run.yaml", TINY)
    subs = {"{vae}": str(trained["vae"]), "{judge}": str(trained["judge"]), "{tmp}": str(tmp_path), "{cfg}": str(cfg)}
    args = [subs.get(a, a).replace("{tmp}", str(tmp_path)) for a in template]
    before = snapshot(trained["vae"])
    code, _, err = run_main(monkeypatch, capsys, *args)
    one_line_error(code, err, *needles)
    assert snapshot(trained["vae"]) == before and not (tmp_path / "o").exists()


def test_a_study_whose_model_is_not_a_mapping(tmp_path: Path) -> None:
    from vaerobust.config import load_study
    from vaerobust.errors import ConfigError

    (tmp_path / "s.yaml").write_text("name: x\nmodels:\n  a: 5\n")
    with pytest.raises(ConfigError, match=r"models = .*models.a is 5"):
        load_study(str(tmp_path / "s.yaml"))


@pytest.mark.parametrize("corrupt, needle", [
    ("eval", "eval.json is corrupt"),
    ("mean", "results.ignore.overall holds something other than numbers"),
    ("rate", "results.ignore.rate holds something other than numbers"),
    ("codes", "metrics.active_dims is not an object"),
    ("config", "config.yaml is corrupt: model is not a mapping"),
])
def test_report_of_wrongly_typed_files_is_one_line(corrupt: str, needle: str, trained: dict[str, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "study"
    run, judge = _copy(trained["vae"], root / "models" / "m1"), _copy(trained["judge"], root / "judge")
    attack_sweep(run, judge, run / "attacks" / "latent", AttackConfig(steps=2), SweepConfig(per_pair=1, pairs="1-7"),
                 device="cpu", progress=False)
    summary = run / "attacks" / "latent" / "summary.json"
    if corrupt == "eval":
        files.write_json(judge / "eval.json", [1, 2])
    elif corrupt in ("mean", "rate"):
        s = json.loads(summary.read_text())
        if corrupt == "mean":
            s["results"]["ignore"]["overall"]["mean"] = "abc"
        else:
            s["results"]["ignore"]["rate"] = [["x"] * 10 for _ in range(10)]
        files.write_json(summary, s)
    elif corrupt == "codes":
        files.write_json(run / "metrics" / "disentanglement.json", {"metrics": {"active_dims": "x"}})
    else:
        cfg = yaml.safe_load((run / "config.yaml").read_text())
        cfg["model"] = "hello"
        (run / "config.yaml").write_text(yaml.safe_dump(cfg))
    code, _, err = run_main(monkeypatch, capsys, "report", root, "--out", tmp_path / "r")
    one_line_error(code, err, needle)


def test_a_train_state_with_wrongly_typed_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    cfg_file = write_yaml(tmp_path / "run.yaml", TINY)
    out = tmp_path / "run"
    train_vae(TINY, out, device="cpu", progress=False, stop_at=10)
    state = torch.load(out / "train_state.pt", weights_only=True)
    rundir.torch_save(out / "train_state.pt", {**state, "noise_rng": [1, 2]})
    code, _, err = run_main(monkeypatch, capsys, "train", "--out", out, "--config", cfg_file, "--device", "cpu",
                            "--no-progress")
    one_line_error(code, err, "train_state.pt", "does not fit")


def test_sigterm_at_start_up_exits_130_and_leaves_no_folder(tmp_path: Path) -> None:
    cfg = write_yaml(tmp_path / "long.yaml", LONG)
    out = tmp_path / "run"
    p = _cli("train", "--out", out, "--config", cfg, "--device", "cpu", "--no-progress", env=_env(tmp_path))
    time.sleep(1.0)  # still importing torch or loading the data
    p.send_signal(signal.SIGTERM)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    # before the command starts (still importing) or once it runs: either way one line saying to run it again
    assert err.strip().startswith("interrupted") and "Traceback" not in err
    assert "run the same command" in err or "nothing was started; run the command again" in err, err
    assert "FakeTensor" not in err  # no other library's log lines
    assert not out.exists() or (out / "train_state.pt").exists()  # an empty folder is never left behind

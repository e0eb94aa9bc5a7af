"""The multi-agent system end to end: a short run learns, kill -9 + resume is bit-identical, NaN stops training."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from adrl.config import Config, override
from adrl.monitoring import NonFiniteError
from adrl.registry import load_checkpoint
from adrl.system import ProductionMultiAgentSystem

# a small, fast market: a twentieth of the default traffic, 10 slots a day, 4 days in parallel
TINY = [
    "environment.max_steps=10", "environment.initial_budget=400", "experiment.num_envs=4",
    "experiment.save_frequency=8", "experiment.eval_frequency=1000", "experiment.num_eval_episodes=5",
    "agent.learning_starts=40", "agent.batch_size=16", "agent.hidden_dim=32", "agent.buffer_size=2000",
    "agent.ppo_hidden_dim=16", "agent.epsilon_decay=0.9", "device=cpu",
]


def tiny_config(tmp_path: Path) -> Path:
    """config.yaml for the tiny market (channel volumes scaled down)."""
    from adrl.config import save_config
    from adrl.market import scale_traffic
    cfg = override(Config(), TINY)
    cfg = scale_traffic(cfg, 1 / 20)
    return save_config(cfg, tmp_path / "tiny.yaml")


def adrl(*args, **kw):
    exe = os.path.join(os.path.dirname(sys.executable), "adrl")
    return subprocess.Popen([exe, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def run_and_kill(cfg: Path, episodes: str, a: Path, b: Path, rows: int, poll: float, timeout: int) -> None:
    """Train `episodes` days into `a` uninterrupted and, at the same time (two cores), the same into `b`, killed with
    SIGKILL once `last.pt` and `rows` lines of metrics.csv exist (the header included), asserting it logged fewer
    rows than a whole run (one per iteration of 4 days). The caller resumes it."""
    whole = adrl("train", "--config", str(cfg), "--episodes", episodes, "--out", str(a))   # side by side: 2 cores
    p = adrl("train", "--config", str(cfg), "--episodes", episodes, "--out", str(b))
    deadline = time.time() + 300
    while time.time() < deadline:
        m = b / "metrics.csv"
        if (b / "checkpoints" / "last.pt").exists() and m.exists() and len(m.read_text().splitlines()) >= rows:
            break
        time.sleep(poll)
    p.send_signal(signal.SIGKILL)
    assert p.wait(timeout=60) == -signal.SIGKILL, "the run finished before it could be killed"
    assert len(pd.read_csv(b / "metrics.csv")) < int(episodes) // 4
    _, err = whole.communicate(timeout=timeout)
    assert whole.returncode == 0, err


def tiny_system(tmp_path, **changes):
    from adrl.config import load_config
    return ProductionMultiAgentSystem(load_config(tiny_config(tmp_path), [f"{k}={v}" for k, v in changes.items()]))


def test_short_training_beats_random(tmp_path):
    system = tiny_system(tmp_path)
    system.train(num_episodes=120)
    system.evaluate(25, baselines=("random",))
    ev = system.last_evaluation
    pct = ev.groupby("agent", observed=True).pct_optimum.mean()
    assert pct["system"] > pct["random"] + 10, pct


def test_same_seed_same_training(tmp_path):
    a = tiny_system(tmp_path).train(num_episodes=24).drop(columns="wall_time")
    b = tiny_system(tmp_path).train(num_episodes=24).drop(columns="wall_time")
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    run = tmp_path / "run"
    system = tiny_system(tmp_path)
    system.train(num_episodes=16, run_dir=run)                  # checkpoints exist
    good = (run / "checkpoints" / "last.pt").read_bytes()
    with torch.no_grad():
        next(system.bidder.q.parameters()).fill_(float("nan"))  # a diverged network
    with pytest.raises(NonFiniteError, match="training stopped at episode"):
        system.train(num_episodes=40, run_dir=run, resume=False)
    assert (run / "checkpoints" / "last.pt").read_bytes() == good
    alerts = json.loads((run / "alerts.json").read_text())
    assert any(a["rule"] == "nan" for a in alerts)


def test_alerts_fire_on_thresholds(tmp_path):
    """Thresholds set so every rule must fire on a normal run."""
    run = tmp_path / "run"
    system = tiny_system(tmp_path, **{"monitoring.min_reward": 1e9, "monitoring.max_loss": 1e-9,
                                      "monitoring.min_entropy": 10.0, "monitoring.max_gradient_norm": 1e-9,
                                      "monitoring.min_win_rate": 1.0})
    system.train(num_episodes=40, run_dir=run)
    rules = {a["rule"] for a in json.loads((run / "alerts.json").read_text())}
    assert rules >= {"min_reward", "max_loss", "min_entropy", "max_gradient_norm", "min_win_rate"}, rules


def test_registry_holds_the_best_version(tmp_path):
    from adrl.registry import ModelRegistry
    run = tmp_path / "run"
    system = tiny_system(tmp_path, **{"experiment.eval_frequency": 8})
    system.train(num_episodes=24, run_dir=run)
    reg = ModelRegistry(run)
    best = reg.entry("best")
    assert best["metrics"]["val/pct_optimum"] == max(e["metrics"]["val/pct_optimum"] for e in reg.entries)
    state, cfg, _ = reg.load("best")
    restored = ProductionMultiAgentSystem(cfg)
    restored.load_state_dict(state)
    assert np.isfinite(restored.evaluate(5))


# the bidder alone (no pacer) on the tiny market: validation improves several times in 40 days
# validation every 4 days, and a budget agent that learns fast enough for its greedy policy to move (and so to set
# new bests) within 40 days of the tiny market
LEARNING = {"experiment.eval_frequency": 4, "agent.bid_base": "fixed", "experiment.num_val_episodes": 4,
            "agent.ppo_learning_rate": 0.01}


def test_three_versions_in_one_run_each_loads(tmp_path):
    from adrl.registry import ModelRegistry
    run = tmp_path / "run"
    tiny_system(tmp_path, **LEARNING).train(num_episodes=40, run_dir=run)
    reg = ModelRegistry(run)
    assert len(reg.entries) >= 3, reg.list()
    files = [e["checkpoint"] for e in reg.entries]
    assert len(set(files)) == len(files)                       # a file of its own per version
    for e in reg.entries:
        state, _, _ = reg.load(e["version"])                   # checksum verified
        assert state["counters"]["episode"] == e["episode"]
        assert state["counters"]["best_score"] == e["metrics"]["val/pct_optimum"]


KILL_WHILE_REPLACING_BEST = """
import os, signal, sys
sys.path.insert(0, sys.argv[2])
import adrl.config
from test_system import LEARNING, tiny_system
from pathlib import Path
real_fsync = adrl.config.os.fsync
def fsync(fd):
    name = os.readlink(f"/proc/self/fd/{fd}")
    if ".best.pt." in name and (Path(sys.argv[1]) / "checkpoints" / "best.pt").exists():
        os.kill(os.getpid(), signal.SIGKILL)                   # the new best.pt is written, not yet renamed
    real_fsync(fd)
adrl.config.os.fsync = fsync
tiny_system(Path(sys.argv[1]).parent, **LEARNING).train(num_episodes=40, run_dir=sys.argv[1])
"""


def test_killed_while_replacing_best_pt_keeps_it_intact(tmp_path):
    from adrl.registry import ModelRegistry, load_checkpoint
    run = tmp_path / "run"
    p = subprocess.run([sys.executable, "-c", KILL_WHILE_REPLACING_BEST, str(run), str(Path(__file__).parent)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == -signal.SIGKILL, p.stderr
    reg = ModelRegistry(run)
    entry = reg.entry("latest")
    state = load_checkpoint(run / "checkpoints" / "best.pt", entry["sha256"])   # the previous best, intact
    assert state["counters"]["episode"] == entry["episode"]
    system = ProductionMultiAgentSystem.from_checkpoint(run / "checkpoints" / "last.pt")   # and the run resumes
    system.train(num_episodes=40, run_dir=run, resume=True)
    assert len(ModelRegistry(run).entries) >= 2


def tensorboard_scalars(run: Path) -> dict:
    """Every scalar of a run's event files, read by TensorBoard's own reader: tag -> [(step, value)]."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def csv_scalars(run: Path) -> dict:
    """The same from metrics.csv: every logged value at float32, as TensorBoard stores it."""
    df = pd.read_csv(run / "metrics.csv")
    return {c: [(int(e), float(np.float32(v))) for e, v in zip(df.episode, df[c]) if np.isfinite(v)]
            for c in df.columns if c != "episode"}


def test_kill_9_and_resume_writes_the_same_bytes(tmp_path):
    """Issue 19: after kill -9 and --resume, last.pt and metrics.csv are byte-identical to an uninterrupted run's
    (so every weight and every logged number: this test absorbed the older kill/resume test, and its flipped bit);
    TensorBoard holds exactly metrics.csv's steps and values; a damaged metrics.csv is recovered from last.pt; a
    resume refuses another seed and applies a new alert threshold."""
    cfg = tiny_config(tmp_path)
    episodes = "48"                                        # 12 iterations of 4 days, a checkpoint every 2
    a, b = tmp_path / "a", tmp_path / "b"
    run_and_kill(cfg, episodes, a, b, rows=4, poll=0.01, timeout=300)
    p = adrl("train", "--out", str(b), "--episodes", episodes, "--resume")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    for name in ("checkpoints/last.pt", "metrics.csv"):
        assert (a / name).read_bytes() == (b / name).read_bytes(), f"{name} differs after kill -9 and resume"
    assert "wall_time" not in pd.read_csv(b / "metrics.csv").columns
    assert len(pd.read_csv(b / "timings.csv")) == 12
    assert tensorboard_scalars(b) == csv_scalars(b) == tensorboard_scalars(a)   # no step twice, none missing
    assert {t.split("/")[0] for t in tensorboard_scalars(b)} >= {"charts", "losses", "train", "val", "eval"}
    # metrics.csv cut inside its last line: the resume says so in one line and restores it from last.pt
    whole = (b / "metrics.csv").read_bytes()
    (b / "metrics.csv").write_bytes(whole[:-50])
    p = adrl("train", "--out", str(b), "--episodes", episodes, "--resume")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    warning = [line for line in err.splitlines() if line.startswith("adrl: warning: ")]
    assert len(warning) == 1 and "metrics.csv: its last line (13) is cut off" in warning[0], err
    assert "were recovered from" in warning[0] and (b / "metrics.csv").read_bytes() == whole
    assert tensorboard_scalars(b) == csv_scalars(b)
    # another seed is another experiment: refused, naming the field, nothing changed
    before = {f: f.read_bytes() for f in b.rglob("*") if f.is_file()}
    p = adrl("train", "--out", str(b), "--episodes", episodes, "--resume", "--seed", "7")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert "cannot change experiment.random_seed 42 -> 7" in err, err
    assert {f: f.read_bytes() for f in b.rglob("*") if f.is_file()} == before
    # an alert threshold is safe to change: applied, and said
    p = adrl("train", "--out", str(b), "--episodes", episodes, "--resume", "-o", "monitoring.max_loss=5")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0 and "adrl: --resume applies monitoring.max_loss" in err, err
    assert load_checkpoint(b / "checkpoints" / "last.pt")["config"]["monitoring"]["max_loss"] == 1000.0   # not rerun
    assert "max_loss: 5.0" in (b / "config.yaml").read_text()
    # one flipped bit in a tensor of last.pt: the resume refuses it with one line and exit code 2, and leaves the run
    last = b / "checkpoints" / "last.pt"
    data = last.read_bytes()
    i = len(data) // 2
    last.write_bytes(data[:i] + bytes([data[i] ^ 0x10]) + data[i + 1:])
    before = (b / "metrics.csv").read_bytes()
    p = adrl("train", "--out", str(b), "--episodes", "120", "--resume")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 2, err
    assert "last.pt: checksum mismatch — the file is corrupt" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and (b / "metrics.csv").read_bytes() == before

"""Grids on every backend (issue 18): the same tables in sequence, on the process pool and on Ray; a grid killed with
`kill -9` resumes without redoing its finished jobs; bad backends and addresses are refused before any job runs; and
`adrl report --backend ray --address ...` sends the report's training grid to that cluster, with the same report."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from adrl.config import Config, ConfigError, override
from adrl.experiments import run_experiment
from adrl.market import scale_traffic

# the tiny market of chapter 50: a twentieth of the traffic, 10 slots a day, 4 days in parallel
TINY = ["environment.max_steps=10", "environment.initial_budget=400", "experiment.num_envs=4",
        "experiment.eval_frequency=8", "experiment.num_eval_episodes=5", "agent.learning_starts=40",
        "agent.batch_size=16", "agent.hidden_dim=32", "agent.buffer_size=2000", "agent.ppo_hidden_dim=16",
        "agent.epsilon_decay=0.9", "device=cpu"]
KW = dict(seeds=(0, 1), episodes=8, eval_every=4, eval_episodes=3, baselines=("dual",))


def tiny() -> Config:
    return scale_traffic(override(Config(), TINY), 1 / 20)


@pytest.fixture(scope="module")
def reference():
    "The 2 configs × 2 seeds grid, in sequence in this process: what every other way of running it must equal."
    return run_experiment({"a": tiny(), "b": override(tiny(), {"agent.gamma": 0.9})}, **KW)


def same(a, b):
    pd.testing.assert_frame_equal(a.curves, b.curves)
    pd.testing.assert_frame_equal(a.final, b.final)


def test_process_pool_and_ray_give_the_sequential_tables(reference, ray_local):
    configs = {"a": tiny(), "b": override(tiny(), {"agent.gamma": 0.9})}
    done = []
    same(run_experiment(configs, workers=2, backend="process", **KW), reference)
    same(run_experiment(configs, workers=2, backend="ray", on_done=lambda k, n: done.append(k), **KW), reference)
    assert sorted(done) == [1, 2, 3, 4]
    assert ray_local.is_initialized()            # the grid used the session's Ray and left it running


WORKER = """
import sys
from adrl.config import Config, override
from adrl.experiments import run_experiment
from adrl.market import scale_traffic
cfg = scale_traffic(override(Config(), {TINY!r}), 1 / 20)
run_experiment({{"a": cfg, "b": override(cfg, {{"agent.gamma": 0.9}})}}, out_dir=sys.argv[1], **{KW!r})
"""


def test_a_grid_killed_half_way_resumes_without_redoing_finished_jobs(tmp_path, reference):
    out, jobs = tmp_path / "exp", tmp_path / "exp" / "jobs"
    script = tmp_path / "grid.py"
    script.write_text(textwrap.dedent(WORKER.format(TINY=TINY, KW=KW)))
    p = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while len(list(jobs.glob("*.pkl"))) < 2:            # kill -9 as soon as two of the four jobs are kept
        assert p.poll() is None, p.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the grid did not finish two jobs in 10 minutes"
        time.sleep(0.02)
    os.kill(p.pid, signal.SIGKILL)
    p.wait(timeout=60)
    assert p.returncode == -signal.SIGKILL
    kept = {f.name: f.stat().st_mtime_ns for f in jobs.glob("*.pkl")}
    assert 2 <= len(kept) < 4 and not (out / "final.parquet").exists(), kept   # really cut short
    ran = []
    resumed = run_experiment({"a": tiny(), "b": override(tiny(), {"agent.gamma": 0.9})}, out_dir=out,
                             on_done=lambda k, n: ran.append(k), **KW)
    assert len(ran) == 4 - len(kept)                   # only the missing jobs ran
    assert {f.name: f.stat().st_mtime_ns for f in jobs.glob("*.pkl") if f.name in kept} == kept   # not rewritten
    assert len(list(jobs.glob("*.pkl"))) == 4
    same(resumed, reference)                           # equal to the uninterrupted run, bit for bit


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_backend_and_address_are_refused_before_any_job_and_lose_nothing(tmp_path):
    out = tmp_path / "exp"
    run_experiment({"a": tiny()}, seeds=(0,), episodes=4, eval_every=0, eval_episodes=2, baselines=(), out_dir=out)
    before = {f: f.stat().st_mtime_ns for f in out.rglob("*") if f.is_file()}
    port = _free_port()
    cases = {"backend": dict(backend="spark"), "address": dict(backend="ray", address=f"127.0.0.1:{port}"),
             "workers": dict(workers=0)}
    want = {"backend": "backend: 'spark' is not one of sequential, process, ray",
            "address": f"address: cannot reach a Ray cluster at 127.0.0.1:{port}",
            "workers": "workers: 0 must be a whole number of at least 1"}
    for field, kw in cases.items():
        with pytest.raises(ConfigError) as err:
            run_experiment({"a": tiny()}, seeds=(0,), episodes=4, eval_every=0, eval_episodes=2, baselines=(),
                           out_dir=out, **kw)
        assert str(err.value).startswith(want[field]) and "\n" not in str(err.value), err.value
    assert {f: f.stat().st_mtime_ns for f in out.rglob("*") if f.is_file()} == before   # nothing lost or rewritten
    with pytest.raises(ConfigError, match="address: 'head' must be host:port of a Ray head"):
        run_experiment({"a": tiny()}, seeds=(0,), episodes=4, backend="ray", address="head", baselines=())


# the smoke report with the system trained on two seeds: one grid of two jobs (sizes that only check the plumbing);
# with workers = 1 it runs in sequence unless --backend says otherwise
REPORT = ["-p", "episodes", "3", "-p", "agents", "dual,oracle", "-p", "max_steps", "10", "-p", "initial_budget", "100",
          "-p", "train_episodes", "2", "-p", "train_seeds", "0,1", "-p", "ab_test", ""]


def test_adrl_report_runs_its_grids_on_the_ray_cluster_given_with_the_same_numbers(ray_local, tmp_path):
    from adrl.cli import run_cli
    address = ray_local.get_runtime_context().gcs_address           # the session's Ray, as a cluster to join
    drivers = lambda: {j["DriverPid"] for j in ray_local._private.state.jobs()}
    before = drivers()
    code, out, err = run_cli("report", *REPORT, "--backend", "ray", "--address", address, "--out-root", str(tmp_path),
                             "--run-id", "ray")
    assert code == 0, err[-3000:]
    joined = drivers()
    assert joined - before - {os.getpid()}, "the report's kernel never joined the cluster"    # a new driver
    assert "ADRL_GRID_BACKEND" not in os.environ and "ADRL_RAY_ADDRESS" not in os.environ       # restored
    code, out, err = run_cli("report", *REPORT, "--out-root", str(tmp_path), "--run-id", "here")   # in sequence
    assert code == 0, err[-3000:]
    assert drivers() == joined                                      # without --backend ray: no driver joined
    ray_doc, here_doc = (json.loads((tmp_path / r / "metrics.json").read_text()) for r in ("ray", "here"))
    assert "system" in ray_doc["agents"] and ray_doc == here_doc    # the same report, wherever its grid ran

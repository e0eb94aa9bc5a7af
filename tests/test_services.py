"""PostgreSQL started by the project, and Optuna on it (issue 18): a session's throw-away server, its URL checked
(wrong password, nothing listening, a bad URL — each one line naming `storage`), and two worker processes on one study
where one is killed with SIGKILL mid-trial: the heartbeat marks its trial failed and the other worker retries it."""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import optuna
import pytest
from sqlalchemy.engine import make_url

from adrl.config import Config, ConfigError, override
from adrl.services import check_storage, hpo_workers, study_storage

# a small market and two-day trials: the plumbing is checked, not the search (overrides, as `-o` gives them too)
TINY = {"environment.max_steps": 10, "environment.initial_budget": 400.0, "experiment.num_envs": 2,
        "agent.learning_starts": 10, "agent.batch_size": 16, "agent.buffer_size": 2000, "device": "cpu"}
BUDGET = ["--episodes", "2", "--eval-every", "2", "--eval-episodes", "1"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_session_server_answers(postgres_url):
    u = make_url(postgres_url)
    assert (u.get_backend_name(), u.host, u.database) == ("postgresql", "127.0.0.1", "adrl")
    assert check_storage(postgres_url) == postgres_url


def test_bad_storage_urls_are_one_line_errors_naming_storage(postgres_url):
    u = make_url(postgres_url)
    hidden = u.render_as_string(hide_password=True)
    port = _free_port()
    cases = {
        hidden.replace("***", "not-the-password"): "wrong user name or password for user 'adrl' at 127.0.0.1",
        f"postgresql://adrl:x@127.0.0.1:{port}/adrl": f"cannot reach a PostgreSQL server at 127.0.0.1:{port}",
        postgres_url.rsplit("/", 1)[0] + "/missing": 'database "missing" does not exist',
        "hyperopt/optuna.db": "is not a database URL",
        "oracle://u:p@h/db": "'oracle' databases are not supported",
    }
    for url, why in cases.items():
        with pytest.raises(ConfigError) as err:
            check_storage(url)
        text = str(err.value)
        assert text.startswith("storage: ") and why in text and "\n" not in text, text
        assert u.password not in text and "not-the-password" not in text       # never the password
    with pytest.raises(ConfigError, match="storage: .* wrong user name or password"):
        hpo_workers(hidden.replace("***", "nope"), n_workers=2, n_trials=1)   # refused before any worker starts


WORKER = """
import sys, time
import optuna
from adrl.services import study_storage
url, mode, marker = sys.argv[1:4]
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="kill", storage=study_storage(url, heartbeat_interval=1, max_retry=1))
Retry = optuna.storages.RetryHeartbeatStaleTrialCallback

def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    if mode == "hang":
        open(marker, "w").write(str(trial.number))
        time.sleep(600)                                   # killed here, mid-trial
    time.sleep(0.2)
    return x * x

def until_retried(study, trial):
    if Retry.retried_trial_number(trial) is not None: study.stop()

study.optimize(objective, n_trials=1 if mode == "hang" else 500, timeout=90, callbacks=[until_retried])
"""


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_a_killed_workers_trial_is_failed_by_its_heartbeat_and_retried(postgres_url, tmp_path):
    storage = study_storage(postgres_url, heartbeat_interval=1, max_retry=1)
    optuna.create_study(study_name="kill", storage=storage)          # made once, before the workers open it
    script, marker = tmp_path / "worker.py", tmp_path / "started"
    script.write_text(textwrap.dedent(WORKER))
    run = lambda mode: subprocess.Popen([sys.executable, str(script), postgres_url, mode, str(marker)],
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    doomed = run("hang")
    deadline = time.monotonic() + 300
    while not marker.exists():
        assert doomed.poll() is None, doomed.stdout.read().decode()[-3000:]
        assert time.monotonic() < deadline, "the first worker never started its trial"
        time.sleep(0.05)
    other = run("work")                                   # two workers on one study now
    time.sleep(0.5)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=60)
    out, _ = other.communicate(timeout=300)
    assert other.returncode == 0, out.decode()[-3000:]
    study = optuna.load_study(study_name="kill", storage=postgres_url)
    dead = study.trials[int(marker.read_text())]
    assert dead.state == optuna.trial.TrialState.FAIL       # marked failed by the heartbeat, not left RUNNING
    Retry = optuna.storages.RetryHeartbeatStaleTrialCallback
    retried = [t for t in study.trials if Retry.retried_trial_number(t) == dead.number]
    assert len(retried) == 1 and retried[0].state == optuna.trial.TrialState.COMPLETE, retried
    assert retried[0].params == dead.params and retried[0].value == dead.params["x"] ** 2
    assert retried[0].system_attrs["retry_history"] == [dead.number]     # Optuna's own record of the retry
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    storage.engine.dispose()


def test_the_optimisers_storage_retries_a_dead_workers_trial(postgres_url):
    "HyperparameterOptimizer(max_retry=N) opens its study on a storage with Optuna's retry callback (chapter 53)."
    from adrl.hpo import HyperparameterOptimizer, make_storage
    for n in (2, 3):
        opt = HyperparameterOptimizer(1, override(Config(), TINY), storage=postgres_url, study_name=f"retry-{n}",
                                      max_retry=n)
        callback = opt.study._storage.get_heartbeat_stale_trial_callback()
        assert isinstance(callback, optuna.storages.RetryHeartbeatStaleTrialCallback) and callback._max_retry == n
    assert make_storage(postgres_url).get_heartbeat_stale_trial_callback() is None      # no max_retry: no retry
    with pytest.raises(ConfigError, match="max_retry: -1 is out of range"):
        HyperparameterOptimizer(1, override(Config(), TINY), storage=postgres_url, max_retry=-1)


def _adrl(*args: str, cwd) -> subprocess.CompletedProcess:
    "The console script, as a user runs it."
    adrl = os.path.join(os.path.dirname(sys.executable), "adrl")
    return subprocess.run([adrl, *args], cwd=cwd, capture_output=True, text=True, timeout=600)


def test_adrl_hpo_runs_two_worker_processes_on_one_postgres_study(postgres_url, tmp_path):
    overrides = [a for k, v in TINY.items() for a in ("-o", f"{k}={v}")]
    r = _adrl("hpo", "--storage", postgres_url, "--study", "cli", "--workers", "2", "--trials", "1", *BUDGET,
              "--out", "hpo", *overrides, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    hidden = make_url(postgres_url).render_as_string(hide_password=True)
    lines = r.stdout.splitlines()
    assert lines[0] == f"study 'cli' in {hidden}: 2 trials (2 completed, 0 pruned, 0 failed)", r.stdout
    assert make_url(postgres_url).password not in r.stdout + r.stderr              # never the password
    study = optuna.load_study(study_name="cli", storage=postgres_url)
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE", "COMPLETE"]
    assert lines[1] == f"best: trial {study.best_trial.number}, {study.best_value:.2f} % of optimum on the tuning " \
                       "days, with", r.stdout
    assert {p.name for p in (tmp_path / "hpo").iterdir()} == {"optimization_results.csv", "best_params.yaml",
                                                              "best_config.yaml"}   # the study is on the server
    r = _adrl("hpo", "--storage", hidden.replace("***", "wrong"), "--out", "other", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    assert r.stderr.strip() == f"adrl: error: --storage {hidden}: wrong user name or password for user 'adrl' at " \
                               f"127.0.0.1:{make_url(postgres_url).port}", r.stderr
    assert not (tmp_path / "other").exists()                                        # refused, nothing written


def test_hpo_workers_as_ray_tasks_on_one_study(ray_local, tmp_path):
    "Two workers of chapter 53's search as Ray tasks (the session's Ray), sharing a SQLite study."
    url = f"sqlite:///{tmp_path}/optuna.db"
    best = hpo_workers(url, n_workers=2, n_trials=1, config=override(Config(), TINY), backend="ray", out_dir=tmp_path,
                       episodes=2, eval_every=2, eval_episodes=1, try_defaults=False)
    study = optuna.load_study(study_name="adrl", storage=url)
    assert sorted(t.state.name for t in study.trials) == ["COMPLETE", "COMPLETE"]
    assert len({json.dumps(t.params, sort_keys=True) for t in study.trials}) == 2   # two workers, two samplers
    assert all(b in [t.params for t in study.trials] for b in best)
    assert ray_local.is_initialized()                          # the session's Ray, used and left running

"""PostgreSQL started by the project, and Optuna on it (issue 18): a session's throw-away server, its URL checked
(wrong password, nothing listening, a bad URL — each one line naming `storage`), and two worker processes on one study
where one is killed with SIGKILL mid-trial: the heartbeat marks its trial failed and the other worker retries it."""
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

from adrl.config import ConfigError
from adrl.services import check_storage, hpo_workers, study_storage


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
    assert not [t for t in study.trials if t.state == optuna.trial.TrialState.RUNNING]
    storage.engine.dispose()

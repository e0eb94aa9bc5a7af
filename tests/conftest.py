"""Shared pytest setup: every test runs offline, with CrewAI's telemetry off and a non-interactive plot backend."""
import adrl  # noqa: F401  first, before numpy: pins the numerical libraries' CPU kernels (chapter 00a)
import os
import sys
from pathlib import Path

import pytest

for key, value in {"CREWAI_DISABLE_TELEMETRY": "true", "OTEL_SDK_DISABLED": "true",
                   "CREWAI_TRACING_ENABLED": "false", "MPLBACKEND": "Agg"}.items():
    os.environ.setdefault(key, value)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    "The repository root."
    return ROOT


@pytest.fixture
def python() -> str:
    "The interpreter of the project's virtual environment."
    return sys.executable


@pytest.fixture(scope="session")
def ray_local():
    "One local Ray for the whole session (chapter 44's ray_session: 127.0.0.1, no dashboard, no usage stats)."
    from adrl.grids import ray_session
    with ray_session(num_cpus=2) as ray:   # grids run in the session reuse it instead of starting their own
        yield ray


@pytest.fixture(scope="session")
def postgres_url():
    "The URL of a throw-away PostgreSQL server for the whole session (chapter 54's PostgresServer), then removed."
    from adrl.services import PG_MISSING, PostgresServer, pg_bin_dir
    if pg_bin_dir() is None:
        pytest.skip(PG_MISSING)   # not root and no server binaries: .ci/setup could not install them
    with PostgresServer() as pg:
        yield pg.url


# tests/test_report.py's and tests/test_report_folder.py's tiny report: the smoke preset made smaller still (values as
# the command line gives them); both files keep their own copy of these values and check it against this one
TINY_REPORT = {"episodes": "4", "agents": "random,fixed,dual,oracle", "max_steps": "10", "initial_budget": "100",
               "traffic_scale": "0.1", "seed": "3"}


@pytest.fixture(scope="session")
def tiny_params() -> dict:
    "The parameters of `tiny_report`."
    return dict(TINY_REPORT)


@pytest.fixture(scope="session")
def tiny_report(tmp_path_factory) -> Path:
    """One real tiny report (`run_report`, run id `tiny`), made once for the session and shared read-only: the first
    of test_report's two runs and test_report_folder's earlier report (each made its own before, ~25 s apiece)."""
    from adrl.report import run_report
    return run_report(TINY_REPORT, out_root=tmp_path_factory.mktemp("tiny"), run_id="tiny", progress=False)


# pytest -n 2 (pytest-xdist, as .ci/test runs it): every file's tests stay on one worker (each file has module-scoped
# fixtures worth making once), and files sharing a session fixture share a worker, so the session's Ray, PostgreSQL
# and tiny report start once. The two heaviest groups go first, one to each worker; the other files fill in after.
SHARED_WORKER = {"test_report.py": "tiny-report", "test_report_folder.py": "tiny-report",
                 "test_grids.py": "services", "test_services.py": "services"}
FIRST = ["tiny-report", "services"]


def pytest_collection_modifyitems(config, items):
    if not config.pluginmanager.hasplugin("xdist"): return
    group = {item: SHARED_WORKER.get(item.path.name, item.path.name) for item in items}
    items.sort(key=lambda item: FIRST.index(group[item]) if group[item] in FIRST else len(FIRST))  # stable
    for item in items: item.add_marker(pytest.mark.xdist_group(group[item]))

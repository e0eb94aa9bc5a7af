"""Shared pytest setup: every test runs offline, with CrewAI's telemetry off and a non-interactive plot backend."""
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

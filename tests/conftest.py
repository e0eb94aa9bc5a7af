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

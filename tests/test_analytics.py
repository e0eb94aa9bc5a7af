"""The analytics agent on real training runs, offline: a healthy run and a run that hit a NaN read differently."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from adrl.monitoring import NonFiniteError

from test_system import tiny_system  # noqa: E402  (same tiny market)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("runs")
    healthy = tmp / "healthy"
    tiny_system(tmp, **{"experiment.eval_frequency": 8}).train(num_episodes=48, run_dir=healthy)
    broken = tmp / "broken"
    system = tiny_system(tmp, **{"experiment.eval_frequency": 8})
    system.train(num_episodes=24, run_dir=broken)
    with torch.no_grad():
        next(system.bidder.q.parameters()).fill_(float("nan"))
    with pytest.raises(NonFiniteError):
        system.train(num_episodes=48, run_dir=broken)
    return healthy, broken


def test_offline_report_on_a_real_run(runs):
    from adrl.analytics import analyze_run
    from adrl.diagnostics import OFFLINE_LABEL
    healthy, _ = runs
    rep = analyze_run(healthy, llm=False)
    assert rep.mode == "offline"
    text = (healthy / "insights.md").read_text()
    assert text == rep.markdown and OFFLINE_LABEL in text
    for section in ("## Performance", "## System health", "## Recommendations"):
        assert section in text
    assert analyze_run(healthy, llm=False).markdown == text          # deterministic
    lp = rep.findings["learning_progress"]
    assert lp.severity in ("ok", "warning", "critical")              # assessed from the real metrics.csv
    assert not any(i.code.startswith("nan") for f in rep.findings.values() for i in f.issues)


def test_a_failed_run_reads_differently(runs):
    from adrl.analytics import analyze_run
    healthy, broken = runs
    good, bad = analyze_run(healthy, llm=False), analyze_run(broken, llm=False)
    assert good.markdown != bad.markdown
    bad_text = " ".join(i.message for f in bad.findings.values() for i in f.issues).lower()
    assert "nan" in bad_text                                          # the stop is reported
    order = ["ok", "unknown", "warning", "critical"]
    worst = lambda rep: max(order.index(f.severity) for f in rep.findings.values())
    assert worst(bad) > worst(good) or worst(bad) == order.index("critical")


def test_adrl_analyze_cli_offline(runs):
    healthy, _ = runs
    exe = Path(sys.executable).parent / "adrl"
    r = subprocess.run([str(exe), "analyze", str(healthy), "--offline"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "## Recommendations" in r.stdout
    r = subprocess.run([str(exe), "analyze", str(healthy / "nope")], capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_the_crew_uses_a_configured_llm_inside_a_jupyter_kernel(tmp_path, monkeypatch):
    """As the report runs it: analyze_run in a Jupyter kernel (whose cells run inside an asyncio event loop), with the
    LLM configured in the environment; CrewAI refuses a synchronous kickoff there, so the crew runs in a thread."""
    import nbformat
    from nbclient import NotebookClient

    from adrl._testing import OpenAIStub, crew_script, make_synthetic_run
    from adrl.report import ThisPythonKernelManager
    run = make_synthetic_run(tmp_path / "run", "early_exhaustion")
    cell = (f"import asyncio\nfrom adrl.analytics import analyze_run\n"
            f"assert asyncio.get_running_loop().is_running()   # a kernel, not execnb\n"
            f"rep = analyze_run({str(run)!r}, out={str(tmp_path / 'insights.md')!r})\n"
            f"assert (rep.mode, rep.notice) == ('llm', None), rep.notice")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    with OpenAIStub(crew_script(run)) as stub:
        env = {"ADRL_LLM_MODEL": "stub-model", "ADRL_LLM_BASE_URL": stub.base_url, "ADRL_LLM_API_KEY": "stub"}
        for k, v in env.items(): monkeypatch.setenv(k, v)
        NotebookClient(nb, timeout=300, kernel_manager_class=ThisPythonKernelManager,
                       resources={"metadata": {"path": str(tmp_path)}}).execute()
    assert stub.script == [] and stub.requests, "the crew did not talk to the configured LLM"
    assert "*Written by the CrewAI analytics crew with openai/stub-model" in (tmp_path / "insights.md").read_text()

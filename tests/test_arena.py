"""`adrl evaluate --market arena` end to end: bad arena configuration refused in one line, a small run's table sound."""
import json
import subprocess

import pytest

from adrl.arena_seats import POLICIES

SMALL = ["-o", "arena.impressions_per_day=2000", "-o", "arena.budget_median=20.0"]


def adrl(python, root, *args, timeout=600):
    "Run the real console entry point in a fresh interpreter; (exit code, stdout, stderr)."
    p = subprocess.run([python, "-c", "import sys; from adrl.cli import main; sys.exit(main(sys.argv[1:]))", *args],
                       cwd=root, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


@pytest.mark.parametrize("override, field", [
    ("arena.num_slots=49", "arena.num_slots"),                    # more slots than advertisers (48)
    ("arena.exposure=[1.0,1.5,0.6]", "arena.exposure"),           # outside [0, 1]
    ("arena.exposure=[-0.1,-0.2,-0.3]", "arena.exposure"),
    ("arena.exposure=[0.6,0.8,1.0]", "arena.exposure"),           # not non-increasing
    ("arena.delay=[1.2,-0.2]", "arena.delay"),                    # a negative delay probability
    ("arena.rivals=[[smart,47]]", "arena.rivals"),                # a rival policy that does not exist
    ("arena.rivals=[[dual,10]]", "arena.rivals"),                 # seats that do not add up
])
def test_bad_arena_refused_in_one_line(python, root, override, field):
    code, out, err = adrl(python, root, "evaluate", "--market", "arena", "--episodes", "2", "-o", override)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err
    assert err.startswith(f"adrl: error: {field}:") and len(err.strip().splitlines()) == 1, err


def test_unknown_agent_refused(python, root):
    code, out, err = adrl(python, root, "evaluate", "--market", "arena", "--agents", "dual,smart")
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert "--agents: unknown agent(s) 'smart'" in err


def test_small_arena_run(python, root, tmp_path):
    out_file = tmp_path / "arena.json"
    code, out, err = adrl(python, root, "evaluate", "--market", "arena", "--episodes", "4", "--seed", "1",
                          "--out", str(out_file), *SMALL)
    assert code == 0, err
    lines = out.splitlines()
    header = lines[1].split()
    assert header[:4] == ["Agent", "%", "of", "bound"]
    rows = {line.split()[0]: line for line in lines[2:] if line.split() and line.split()[0] != "wrote"}
    assert list(rows) == [*POLICIES, "reference", "bound"]
    doc = json.loads(out_file.read_text())
    assert list(doc["summary"]) == [*POLICIES, "reference", "bound"]
    for agent, metrics in doc["summary"].items():
        pct = metrics["pct_of_bound"]
        assert pct["mean"] <= 100 + 1e-9 and pct["ci_high"] <= 100 + 1e-9, (agent, pct)
    assert all(r["pct_of_bound"] <= 100 + 1e-7 for r in doc["episodes"])
    assert doc["meta"]["arena"]["impressions_per_day"] == 2000 and doc["meta"]["episodes"] == 4

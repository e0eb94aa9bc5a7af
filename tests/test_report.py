"""The experiment report end to end: the template executed by papermill (tiny sizes) into temporary folders."""
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from adrl.report import (NOTEBOOK, PRESETS, REPORT_FILES, SECTIONS, TIMINGS, ParameterError, ReportError,
                         check_parameters, report_files, run_report, source_template_path, template_in_sync,
                         template_parameters)

# the smoke preset (the template's defaults) made smaller still; values as strings, as the command line gives them
# (a list parameter as comma-separated items)
TINY = {"episodes": "4", "agents": "random,fixed,dual,oracle", "max_steps": "10", "initial_budget": "100",
        "traffic_scale": "0.1", "seed": "3"}


@pytest.fixture(scope="module")
def piped_report(tmp_path_factory):
    """`adrl report` (tiny, with a small arena) started with its output redirected to a file, and left running:
    (process, log, report folder). two_runs starts it, so that it runs beside two_runs' own report (two cores); its
    test waits for it."""
    root = tmp_path_factory.mktemp("piped")
    params = {**TINY, "arena_days": "2", "arena": "{impressions_per_day: 1000, num_steps: 6}"}
    args = [os.path.join(os.path.dirname(sys.executable), "adrl"), "report", "--preset", "smoke", "--out-root",
            str(root), "--run-id", "piped"]
    for k, v in params.items(): args += ["-p", k, v]
    log = root / "report.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    yield proc, log, root / "piped"
    if proc.poll() is None:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, tiny_report, tiny_params, piped_report):
    "The same report run twice, into two different folders: the session's tiny report, and the smoke preset's."
    assert tiny_params == TINY
    return [tiny_report, run_report(TINY, out_root=tmp_path_factory.mktemp("second"), run_id="tiny", preset="smoke",
                                    progress=False)]


def test_every_output_written(two_runs):
    run = two_runs[0]
    assert sorted(p.name for p in run.iterdir()) == sorted(REPORT_FILES + ("ab_test.md",))   # the smoke A/B test
    for name in REPORT_FILES:
        assert (run / name).stat().st_size > 0, f"{name} is empty"
    assert (run / "comparison_boxplot.png").read_bytes()[:4] == b"\x89PNG"
    assert (run / "day_of_bidding.png").read_bytes()[:4] == b"\x89PNG"
    html = (run / "experiment_report.html").read_text(encoding="utf-8")
    assert "Experiment report" in html and "data:image/png;base64" in html
    assert "evaluate(agent_names" not in html                      # the HTML has no code cells
    assert "real data: not replayed in this run" in html                 # an off section says so, in one line
    md = (run / "experiment_report.md").read_text(encoding="utf-8")
    assert "| Agent | Mean Reward | Conversions | ROI | Win Rate | % of optimum |" in md and "## Key statements" in md
    nb = json.loads((run / NOTEBOOK).read_text(encoding="utf-8"))
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert len(injected) == 1 and 'out_dir = "."' in "".join(injected[0]["source"])   # the kernel runs in the folder


def test_metrics_are_explicit(two_runs):
    doc = json.loads((two_runs[0] / "metrics.json").read_text())
    declared = template_parameters()
    # every template parameter but out_dir is recorded, with the value the run used (coerced to its type)
    assert list(doc["parameters"]) == [k for k in declared if k != "out_dir"]
    assert doc["parameters"]["episodes"] == 4 and doc["parameters"]["initial_budget"] == 100.0
    assert doc["parameters"]["alpha"] == declared["alpha"]["default"]
    # list parameters are lists: the command line's "a,b" split, the defaults' lists as they are
    assert doc["parameters"]["agents"] == ["random", "fixed", "dual", "oracle"]
    assert doc["parameters"]["train_seeds"] == [0, 1, 2, 3, 4] and doc["parameters"]["ablations"] == []
    assert doc["parameters"]["ab_test"] == ["fixed", "best"]
    assert doc["episodes"] == 4 and doc["market"]["max_steps"] == 10
    assert list(doc["agents"]) == ["random", "fixed", "dual", "oracle"]
    for agent, metrics in doc["agents"].items():
        assert list(metrics) == ["pct_optimum", "reward", "conversions", "roi", "win_rate"]
        assert metrics["pct_optimum"]["ci_low"] <= metrics["pct_optimum"]["mean"] <= metrics["pct_optimum"]["ci_high"]
    assert doc["agents"]["oracle"]["pct_optimum"]["mean"] == 100.0
    best = doc["best_baseline"]
    assert (best in ("random", "fixed", "dual")
            and set(doc["pairwise"]["comparisons"]) == {"random", "fixed", "dual"} - {best})
    assert "not_built" not in doc and "adrl_version" in doc
    assert doc["ablations"] is None and doc["hpo"] is None and doc["ipinyou"] is None   # not run in the smoke preset
    blocks = [s.name for s in SECTIONS if s.metrics is not None]   # one block per section, in SECTIONS' order, last
    assert blocks == ["ablations", "ab_test", "hpo", "ipinyou", "arena"] and list(doc)[-len(blocks):] == blocks
    assert doc["arena"] is None
    assert (doc["ab_test"]["name_a"], doc["ab_test"]["name_b"]) == ("fixed", best)


def files(run, skip=(TIMINGS,)) -> dict:
    "Every file of a report folder (name -> bytes), but `skip`."
    return {p.name: p.read_bytes() for p in sorted(run.iterdir()) if p.name not in skip}


def test_same_parameters_same_bytes(two_runs):
    """Two runs into two folders: every file byte for byte the same (notebook, HTML and PNGs included), but the one
    file of wall times. Before: absolute paths, papermill's times, a random cell id and progress lines differed."""
    a, b = two_runs
    assert a.parent != b.parent
    fa, fb = files(a), files(b)
    assert list(fa) == list(fb) and [k for k in fa if fa[k] != fb[k]] == []
    for run in two_runs:
        text = (run / NOTEBOOK).read_text(encoding="utf-8") + (run / "experiment_report.html").read_text("utf-8")
        for varying in (str(run.parent), "/tmp/", "start_time", "end_time", "duration", "[adrl report"):
            assert varying not in text, varying
    timings = json.loads((a / TIMINGS).read_text())
    assert timings["total_s"] > 0 and sum(c["seconds"] for c in timings["cells_s"]) <= timings["total_s"]
    assert "ab_test" in timings["sections_s"] and all(c["section"] for c in timings["cells_s"])


def test_unknown_parameter_rejected_before_running(tmp_path):
    root = tmp_path / "reports"
    with pytest.raises(ParameterError, match=r"unknown parameter 'episods' \(did you mean 'episodes'\?\); "
                                             r"the template's parameters are: seed, episodes"):
        run_report({"episods": 5}, out_root=root, run_id="typo", progress=False)
    with pytest.raises(ParameterError, match="parameter 'episodes': expected int, got 'many'"):
        run_report({"episodes": "many"}, out_root=root, progress=False)
    with pytest.raises(ParameterError, match="preset 'huge' is unknown"):
        run_report(preset="huge", out_root=root, progress=False)
    assert not root.exists()


def test_failed_rerun_keeps_the_earlier_report(tmp_path, tiny_report, tiny_params):
    assert tiny_params == TINY
    good = Path(shutil.copytree(tiny_report, tmp_path / "keep"))       # the earlier report: a real one, copied
    before = {p.name: p.read_bytes() for p in good.iterdir()}
    with pytest.raises(ReportError) as info:
        run_report({**TINY, "episodes": "-1"}, out_root=tmp_path, run_id="keep", progress=False)
    assert "keep.failed/" in str(info.value) and "episodes: -1 is out of range" in str(info.value)
    assert {p.name: p.read_bytes() for p in good.iterdir()} == before          # the earlier report, byte for byte
    assert (tmp_path / "keep.failed" / NOTEBOOK).exists() and not (tmp_path / "keep.previous").exists()


def test_failing_cell_keeps_the_partial_notebook(tmp_path):
    with pytest.raises(ReportError) as info:
        run_report({**TINY, "episodes": "-1"}, out_root=tmp_path, run_id="bad", progress=False)
    notebook = tmp_path / "bad.failed" / NOTEBOOK          # a failed attempt never sits where a report belongs
    message = str(info.value)
    assert str(notebook) in message and "evaluate(agent_names" in message
    assert "[this run is kept in bad.failed/; no earlier report]" in message
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.failed"]
    assert "episodes: -1 is out of range" in message         # (ValueError or ConfigError, as chapter 21 has it)
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    errors = [c for c in nb["cells"] if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    assert len(errors) == 1 and "evaluate(agent_names" in "".join(errors[0]["source"])
    assert not (tmp_path / "bad.failed" / "experiment_report.html").exists()


def test_presets_name_real_parameters():
    assert set(PRESETS) == {"smoke", "quick", "default"} and PRESETS["smoke"] == {}
    for preset in PRESETS.values():
        assert check_parameters(preset) == preset          # already typed: lists are lists
    assert PRESETS["default"]["ablations"] == ["all"] and PRESETS["default"]["ab_test"] == ["system", "best"]


def test_list_parameter_refused_before_running(tmp_path):
    with pytest.raises(ParameterError, match=r"parameter 'train_seeds': expected list\[int\]"):
        run_report({"train_seeds": "0,one"}, out_root=tmp_path, progress=False)
    with pytest.raises(ParameterError, match=r"ab_test: \['dual'\] must name two arms"):
        run_report({"ab_test": ["dual"]}, out_root=tmp_path, progress=False)
    with pytest.raises(ParameterError, match="ablations: ablation 'no per' is unknown"):
        run_report({"train_episodes": 2, "ablations": "no per"}, out_root=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_sections_parameters_are_the_templates():
    owned = [p for s in SECTIONS for p in s.params]
    assert len(owned) == len(set(owned)) and set(owned) <= set(template_parameters())
    if source_template_path().exists():   # the template's code names no parameter list by hand
        template = json.loads(source_template_path().read_text(encoding="utf-8"))
        code = "".join("".join(c["source"]) for c in template["cells"][2:] if c["cell_type"] == "code")
        assert "params = dict(" not in code and "report_parameters(globals())" in code


def test_shipped_template_matches_its_source():
    if not source_template_path().exists():
        pytest.skip("not a source checkout")
    assert template_in_sync(), "nbs/reports/ changed: run the last cell of nbs/62_report.ipynb (sync_template())"


# every section at once: the system trained with two seeds (two worker processes), two ablations, the trained system
# against the best baseline, a two-trial search and one learning seat in the arena (chapter 38's, 7 s on this arena);
# sizes that teach nothing, so only the plumbing is checked
TRAINED = {**TINY, "train_episodes": "8", "train_seeds": "0,1", "workers": "2", "ablations": "no PER,no controller",
           "ablation_seeds": "0,1", "ab_test": "system,best", "hpo_trials": "2", "hpo_episodes": "4",
           "hpo_eval_days": "3", "real_data": "true", "ipinyou_episodes": "32",
           "arena_days": "3", "arena": "{impressions_per_day: 1500, num_steps: 12}", "arena_learners": "0"}


def run_in_a_fork(fn, failure: Path):
    "Start `fn()` in a fork of pytest (adrl is imported already); its traceback, if it fails, goes to `failure`."
    def body():
        code = 1
        try:
            fn()
            code = 0
        except BaseException:
            import traceback
            failure.write_text(traceback.format_exc())
        finally:
            os._exit(code)
    child = multiprocessing.get_context("fork").Process(target=body)
    child.start()
    return child


@pytest.fixture(scope="module")
def trained_runs(tmp_path_factory):
    """The trained report twice: with two worker processes and in one process — side by side, the one-process run in
    a fork of pytest (each report's kernel mostly keeps one core busy; one after the other took 89 s here)."""
    roots = {w: tmp_path_factory.mktemp(f"w{w}") for w in ("2", "1")}
    def run(w: str) -> Path:
        return run_report({**TRAINED, "workers": w}, out_root=roots[w], run_id="trained", preset="smoke",
                          progress=False)
    failure = tmp_path_factory.mktemp("w1-failure") / "traceback.txt"
    child = run_in_a_fork(lambda: run("1"), failure)
    try: first = run("2")
    finally: child.join(timeout=1800)
    assert child.exitcode == 0, failure.read_text() if failure.exists() else f"exit code {child.exitcode}"
    return [first, roots["1"] / "trained"]


def test_trained_report_is_reproducible_and_worker_independent(trained_runs):
    a, b = trained_runs
    doc_a, doc_b = (json.loads((r / "metrics.json").read_text()) for r in (a, b))
    assert doc_a["parameters"].pop("workers") == 2 and doc_b["parameters"].pop("workers") == 1
    assert doc_a == doc_b
    # every file of every section's writer, byte for byte, but the wall times and the `workers` value itself
    workers = re.compile(rb"workers(\W{1,4})[12]\b")
    fa, fb = files(a), files(b)
    assert list(fa) == list(fb)
    assert [k for k in fa if workers.sub(rb"workers\1N", fa[k]) != workers.sub(rb"workers\1N", fb[k])] == []
    trials = json.loads((a / TIMINGS).read_text())["hpo_trials_s"]
    assert list(trials) == ["0", "1"] and "duration_s" not in (a / "optimization_results.csv").read_text()


def test_every_section_with_a_trained_system(trained_runs):
    run = trained_runs[0]
    values = {k: p["default"] for k, p in template_parameters().items()} | check_parameters(TRAINED)
    expected = report_files(values)
    assert {"learning_curves.png", "insights.md", "ablations.png", "ablations.csv", "ab_test.md",
            "optimization_results.csv", "arena.png", "arena.csv"} <= set(expected)
    assert set(expected) <= {p.name for p in run.iterdir()}
    doc = json.loads((run / "metrics.json").read_text())
    assert "system" in doc["agents"]
    assert doc["parameters"]["ablations"] == ["no PER", "no controller"] and doc["parameters"]["train_seeds"] == [0, 1]
    rows = {(r["algorithm"], r["source"]): r for r in doc["ipinyou"]["rows"]}
    assert rows[("Mcpc", "ours")]["clicks"] == rows[("Mcpc", "Cai et al. 2017 (quoted)")]["clicks"] == 48
    # the system trained for the campaign, played once
    assert 0 < rows[("system", "ours")]["pct_optimum"] <= 100
    arena = doc["arena"]["agents"]
    assert arena["bound"]["pct_of_bound"]["mean"] == 100.0 and doc["arena"]["days"] == 3
    assert all(a["pct_of_bound"]["mean"] <= 100 for a in arena.values()) and {"online_lp", "reference"} <= set(arena)
    learner = doc["arena"]["learners"]["imitation_0"]             # the learning seat, beside its pacer
    assert {"dual_seat", "imitation_0"} <= set(arena) and learner["training"]["trained_days"] == 128
    assert learner["t_ci"][0] <= learner["minus_best"] <= learner["t_ci"][1] and 0 <= learner["p_holm"] <= 1
    assert doc["ipinyou"]["notes"]["system"].startswith("trained on 32 simulated episodes; validation (200 simulated")
    abl = doc["ablations"]["ablations"]
    assert list(abl) == ["no PER", "no controller"] and all(a["seeds"] == 2 and a["days"] == 4 for a in abl.values())
    for a in abl.values():   # the full system's mean is the trained system's own, reused from its two runs
        assert abs(a["full_mean"] - doc["agents"]["system"]["pct_optimum"]["mean"]) < 1e-9
    ab = doc["ab_test"]
    assert ab["name_a"] == "system (seed 0)" and ab["name_b"] == doc["best_baseline"] and ab["planned"] == "pilot"
    assert ab["diff_ci"][0] <= ab["diff"] <= ab["diff_ci"][1]
    hpo = doc["hpo"]
    assert hpo["trials"] == 2 and hpo["completed"] + hpo["pruned"] == 2 and hpo["default_value"] is not None
    trials = pd.read_csv(run / "optimization_results.csv")
    assert trials.default.tolist() == [True, False]           # trial 0 is the default configuration
    md = (run / "experiment_report.md").read_text(encoding="utf-8")
    assert "## Ablations" in md and "- Ablations (2 training seeds" in md and "- A/B test, system (seed 0) (A)" in md
    assert "- Hyperparameter search: 2 trials" in md and "- Real data (iPinYou 2997, RLB protocol, c0 = 1/32)" in md
    assert "The trained system wins" in md
    # the arena leads: its table before the single-campaign one, the learners' statement first of the key statements
    assert md.index("## Headline: the arena") < md.index("## The single-campaign market") < md.index("## Ablations")
    assert md.split("## Key statements\n\n")[1].startswith("- Arena, the learning seat (3 days, seat 0")
    assert (run / "ab_test.md").read_text(encoding="utf-8").startswith(f"# A/B test: system (seed 0) vs {ab['name_b']}")


def test_progress_lines_reach_a_file(piped_report):
    """`adrl report` with its output redirected to a file: a line as each section starts and ends, or is off."""
    proc, log, folder = piped_report
    proc.wait(timeout=600)
    text = log.read_text()
    assert proc.returncode == 0, text[-3000:]
    lines = [line for line in text.splitlines() if line.startswith("[adrl report ")]
    assert any(line.endswith("The trained system: off in this run") for line in lines), lines
    assert any("The arena: many advertisers in the same auctions: started" in line for line in lines), lines
    assert any("The arena: many advertisers in the same auctions: done in " in line for line in lines), lines
    html = (folder / "experiment_report.html").read_text()
    assert "Traceback" not in html and "Warning" not in html       # nothing a reader should not see in the report

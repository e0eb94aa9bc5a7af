"""The report folder under `kill -9` and under two runs with one run id (issue 19 item 1); the loopback check (item 11).

A driver process (a fork of pytest) runs `run_report` with `adrl.report._reached` replaced: at the named point it
writes a marker file and waits for a `go` file, so a test can kill it exactly there (SIGKILL) or let it go on. At the
swap points the driver's execution is a stand-in — `execute_template` copies a report made once by a real run, plus a
label saying which attempt it is — so those tests take seconds; the kill during execution runs the real template and
kernel."""
import functools
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import adrl.report as report
from adrl.report import NOTEBOOK, TIMINGS, ReportError, RunRefused, run_report

# tests/test_report.py's tiny report: the smoke preset made smaller still (values as the command line gives them)
TINY = {"episodes": "4", "agents": "random,fixed,dual,oracle", "max_steps": "10", "initial_budget": "100",
        "traffic_scale": "0.1", "seed": "3"}
LABEL = "attempt.txt"  # the stand-in execution's label: which attempt a folder holds

def drive(out_root: str, run_id: str, point: str, source: str, label: str, signals: Path, params: dict,
          log: Path) -> None:
    """The driver process's body: run_report with `_reached` waiting at `point` and, with a `source`, the stand-in
    execution. It runs in a fork of pytest (adrl.report is imported already: a fresh interpreter spent ~6 CPU seconds
    importing it, per driver), in a session of its own and with its output in `log`; it never returns."""
    code = 1
    try:
        os.setsid()                      # its own process group: kill() takes its kernel too
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        os.dup2(fd, 1)
        os.dup2(fd, 2)

        def reached(name):               # at the named point: say so, then wait to be killed or let go
            if name != point: return
            (signals / "reached").write_text(str(os.getpid()))
            while not (signals / "go").exists(): time.sleep(0.05)

        def execute(notebook, values, progress=True, template=None):    # the stand-in: a finished report, labelled
            for f in Path(source).iterdir(): shutil.copy(f, Path(notebook).parent / f.name)
            (Path(notebook).parent / LABEL).write_text(label)
        report._reached = reached
        if source: report.execute_template = execute
        report.run_report(params, out_root=out_root, run_id=run_id, progress=False)
        code = 0
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def snapshot(folder: Path, skip=()) -> dict:
    "Every file under `folder` (relative path -> bytes), but those named in `skip`."
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in skip}


def label(folder: Path) -> str | None:
    return (folder / LABEL).read_text() if (folder / LABEL).exists() else None


class Driver:
    "`run_report` in a process of its own, stopped at `point` (a name passed to `_reached`, or a file to wait for)."
    def __init__(self, out_root: Path, point: str, source: Path | None, name: str, params=TINY, run_id="keep"):
        self.signals = out_root.parent / f"signals-{name}"
        self.signals.mkdir()
        self.log = self.signals / "output.log"
        self.proc = multiprocessing.get_context("fork").Process(
            target=drive, args=(str(out_root), run_id, point, str(source or ""), name, self.signals, params, self.log))
        self.proc.start()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def wait_for(self, marker: Path, timeout: float = 300) -> None:
        "Wait until `marker` exists (the driver is there) while the driver lives."
        end = time.monotonic() + timeout
        while not marker.exists():
            if not self.proc.is_alive(): pytest.fail(f"the driver ended early:\n{self.output()}")
            if time.monotonic() > end: pytest.fail(f"the driver did not reach {marker} in {timeout} s")
            time.sleep(0.05)

    def reached(self) -> None:
        self.wait_for(self.signals / "reached")

    def kill(self) -> None:
        "kill -9 the run, then its whole process group (its kernel, which would die on its own a little later)."
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.join(timeout=30)
        assert self.proc.exitcode == -signal.SIGKILL
        try: os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError: pass

    def go(self) -> int:
        (self.signals / "go").write_text("")
        self.proc.join(timeout=300)
        assert self.proc.exitcode == 0, self.output()
        return self.proc.exitcode


@pytest.fixture(scope="module")
def good(tiny_report, tiny_params) -> Path:
    "A real tiny report, made once (the session's): the earlier report every test starts from, the stand-in's source."
    assert tiny_params == TINY
    return tiny_report


@pytest.fixture
def out_root(tmp_path, good) -> Path:
    "An out_root whose run id `keep` holds a copy of the good report."
    out = tmp_path / "reports"
    out.mkdir()
    shutil.copytree(good, out / "keep")
    return out


def stand_in(label_text: str, source: Path, fail: bool = False):
    "An in-process `execute_template`: the source's files and a label; with `fail`, half a notebook and an error."
    def execute(notebook, values, progress=True, template=None):
        folder = Path(notebook).parent
        if fail:
            (folder / NOTEBOOK).write_text("{}")
            raise ReportError(f"report cell In [7] ('df = ...') failed with ValueError: no; the partly executed "
                              f"notebook is {notebook}")
        for f in source.iterdir(): shutil.copy(f, folder / f.name)
        (folder / LABEL).write_text(label_text)
    return execute


@pytest.mark.parametrize("point", ["locked", "built", "aside", "swapped"])
def test_killed_at_a_point_then_a_failing_and_a_good_run(point, out_root, good, monkeypatch):
    before = snapshot(out_root / "keep")
    run = Driver(out_root, point, good, "killed")
    run.reached()
    run.kill()
    building = f".keep.building-{run.proc.pid}"
    left = {"locked": [building, ".keep.lock", "keep"],          # the state a kill at each point leaves (the lock
            "built": [building, ".keep.lock", "keep"],           # file stays: the killed run cannot remove it, and
            "aside": [building, ".keep.lock", ".keep.replaced"],  # the OS has released its lock)
            "swapped": [".keep.lock", ".keep.replaced", "keep"]}[point]
    assert sorted(p.name for p in out_root.iterdir()) == left
    # the next run fails: the folder is recovered first, and the failure costs nothing
    monkeypatch.setattr(report, "execute_template", stand_in("failing", good, fail=True))
    with pytest.raises(ReportError, match=r"\[this run is kept in keep.failed/; the earlier report in .* untouched\]"):
        run_report(TINY, out_root=out_root, run_id="keep", progress=False)
    if point == "swapped":      # the killed run had put its complete report in place: that is the earlier report now
        assert label(out_root / "keep") == "killed" and set(snapshot(out_root / "keep")) == set(before) | {LABEL}
    else:
        assert snapshot(out_root / "keep") == before                           # the earlier report, byte for byte
    assert (out_root / "keep.failed" / NOTEBOOK).read_text() == "{}"           # the failed attempt, kept
    # and the run after it succeeds
    monkeypatch.setattr(report, "execute_template", stand_in("next", good))
    run_report(TINY, out_root=out_root, run_id="keep", progress=False)
    assert label(out_root / "keep") == "next"
    assert snapshot(out_root / "keep", skip=(LABEL, TIMINGS)) == snapshot(good, skip=(TIMINGS,))
    assert sorted(p.name for p in out_root.iterdir()) == ["keep", "keep.failed"]   # nothing left over


def test_killed_during_execution(out_root, good):
    "The real template, killed while its kernel runs; a real failing re-run; a real good one, equal to the first."
    before = snapshot(out_root / "keep")
    run = Driver(out_root, "never", None, "killed")
    building = out_root / f".keep.building-{run.proc.pid}"
    run.wait_for(building / NOTEBOOK)                  # papermill has written the notebook: the kernel runs
    time.sleep(1.0)
    run.kill()
    assert snapshot(out_root / "keep") == before
    with pytest.raises(ReportError, match=r"episodes: -1 is out of range.*keep.failed/; the earlier report"):
        run_report({**TINY, "episodes": "-1"}, out_root=out_root, run_id="keep", progress=False)
    assert snapshot(out_root / "keep") == before                               # byte for byte
    assert sorted(p.name for p in out_root.iterdir()) == ["keep", "keep.failed"]
    run_report(TINY, out_root=out_root, run_id="keep", progress=False)
    assert snapshot(out_root / "keep", skip=(TIMINGS,)) == snapshot(good, skip=(TIMINGS,))   # the same report again


def test_two_runs_with_one_id(out_root, good):
    "While one run holds the id, a second through the CLI is refused at once (exit 2); the first's report is its own."
    first = Driver(out_root, "built", good, "first")
    first.reached()
    adrl = [os.path.join(os.path.dirname(sys.executable), "adrl"), "report", "--out-root", str(out_root),
            "--run-id", "keep", "--preset", "smoke"]
    for k, v in TINY.items(): adrl += ["-p", k, v]
    began = time.monotonic()
    second = subprocess.run(adrl, capture_output=True, text=True, timeout=120)
    assert second.returncode == 2, second.stderr
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in second.stderr, second.stderr
    assert f"run_id 'keep': another report run (pid {first.proc.pid}) is writing {out_root / 'keep'}" in lines[0]
    assert time.monotonic() - began < 60                                   # refused at once, not after a run
    assert sorted(p.name for p in out_root.iterdir()) == [".keep.building-" + str(first.proc.pid), ".keep.lock", "keep"]
    first.go()
    assert label(out_root / "keep") == "first"                                 # the survivor's report is its own
    assert sorted(p.name for p in out_root.iterdir()) == ["keep"]              # lock released and removed


def test_no_loopback_refused_before_anything(tmp_path, monkeypatch):
    """The check made to fail in-process: 192.0.2.1 (TEST-NET-1) is on no interface, so binding a socket there fails
    as a check of an unusable loopback does; run_report refuses before creating anything."""
    monkeypatch.setattr(report, "check_loopback", functools.partial(report.check_loopback, "192.0.2.1"))
    with pytest.raises(RunRefused, match="the loopback interface is down: cannot bind and connect a TCP socket on "
                                         "192.0.2.1"):
        run_report(TINY, out_root=tmp_path / "reports", run_id="x", progress=False)
    assert not (tmp_path / "reports").exists()


def _unshare_works() -> bool:
    try: return subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired): return False


@pytest.mark.skipif(not _unshare_works(), reason="needs `unshare -n` (a new network namespace: loopback down)")
def test_no_loopback_through_the_cli(tmp_path):
    """The real thing: `adrl report` in a new network namespace, whose loopback interface is down (bind succeeds,
    connect fails). Before the check it waited 60 s for the kernel and died with a traceback."""
    adrl = os.path.join(os.path.dirname(sys.executable), "adrl")
    began = time.monotonic()
    done = subprocess.run(["unshare", "-n", adrl, "report", "--preset", "smoke", "--out-root", str(tmp_path / "r"),
                           "--run-id", "x"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == done.stderr.strip().splitlines()[0] and "Traceback" not in done.stderr
    assert "the loopback interface is down: cannot bind and connect a TCP socket on 127.0.0.1" in done.stderr
    assert time.monotonic() - began < 50 and not (tmp_path / "r").exists()

"""The Jupyter pass of `make test` (.ci/jupyter_pass): it runs notebooks in a real kernel, fails where a cell fails
(naming the notebook, the cell and the error), skips what nbdev_test skips, and writes nothing into the notebooks."""
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PASS = ROOT / ".ci" / "jupyter_pass"


def notebook(path: Path, *cells: str) -> Path:
    "A notebook of code cells, written the way nbdev_clean leaves one."
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# A test notebook")]
                                  + [nbformat.v4.new_code_cell(c) for c in cells])
    nbformat.write(nb, path)
    return path


def run_pass(*args: str, flags: str = "") -> subprocess.CompletedProcess:
    env = dict(os.environ, NBDEV_FLAGS=flags)
    return subprocess.run([sys.executable, str(PASS), *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def books(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("nbs")
    return {
        # a Jupyter kernel runs cells inside a running event loop (execnb does not), in the notebook's own folder
        "ok": notebook(d / "ok.ipynb", "import asyncio\nfrom pathlib import Path",
                       "assert asyncio.get_running_loop().is_running()",
                       f"assert Path.cwd() == Path({str(d)!r})"),
        "fails": notebook(d / "fails.ipynb", "x = 1", "y = x / 0  # the failing cell\nprint('not reached')"),
        "slow": notebook(d / "slow.ipynb", "x = 1", "#| slow\nraise RuntimeError('a slow cell ran')",
                         "#| eval: false\nraise RuntimeError('an eval: false cell ran')", "assert x == 1"),
    }


def test_pass_fails_on_a_failing_cell_and_names_it(books):
    before = {k: p.read_bytes() for k, p in books.items()}
    r = run_pass(str(books["ok"]), str(books["fails"]), str(books["slow"]))
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    failed = [ln for ln in out.splitlines() if "FAILED" in ln]
    assert len(failed) == 1 and "fails.ipynb" in failed[0], out
    assert "cell 2 `y = x / 0  # the failing cell`" in failed[0] and "ZeroDivisionError: division by zero" in failed[0]
    assert any("ok.ipynb  ok (3 cells)" in ln for ln in out.splitlines()), out      # a real kernel: its loop runs
    assert any("slow.ipynb  ok (2 cells)" in ln for ln in out.splitlines()), out    # slow and eval: false skipped
    assert out.splitlines()[-1].endswith("; failed: " + str(books["fails"])) and "2 of 3 notebooks passed" in out, out
    assert {k: p.read_bytes() for k, p in books.items()} == before              # nothing written back


def test_pass_runs_flagged_cells_when_asked(books):
    r = run_pass(str(books["slow"]), flags="slow")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cell 2 `raise RuntimeError('a slow cell ran')`: RuntimeError: a slow cell ran" in r.stdout, r.stdout


@pytest.mark.parametrize("args, message", [
    (["--workers", "0"], "jupyter_pass: --workers 0: must be between 1 and 16"),
    (["--timeout", "0"], "jupyter_pass: --timeout 0: must be between 1 and 86400"),
    (["no/such.ipynb"], "jupyter_pass: path no/such.ipynb: no such file or folder"),
])
def test_bad_arguments_exit_2_with_one_line(args, message):
    r = run_pass(*args)
    assert (r.returncode, r.stderr.strip(), r.stdout) == (2, message, ""), r


def test_pass_takes_the_notebooks_nbdev_test_takes():
    "The same selection as nbdev_test: nbdev's nbglob over nbs/, so every chapter and the report template."
    loader = importlib.machinery.SourceFileLoader("jupyter_pass", str(PASS))
    jp = importlib.util.module_from_spec(importlib.util.spec_from_loader("jupyter_pass", loader))
    loader.exec_module(jp)
    cwd = os.getcwd()
    os.chdir(ROOT)   # nbdev finds settings.ini from the working directory
    try: names = [str(p.relative_to(ROOT / "nbs")) for p in jp.notebooks([])]
    finally: os.chdir(cwd)
    chapters = sorted(p.name for p in (ROOT / "nbs").glob("[0-9]*.ipynb"))
    assert [n for n in names if n[0].isdigit()] == chapters
    assert "index.ipynb" in names and "reports/report_experiment.ipynb" in names
    assert not any(Path(n).name.startswith(("_", ".")) for n in names)

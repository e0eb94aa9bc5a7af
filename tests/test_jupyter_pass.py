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


# JupyterLab and the notebooks' metadata: opening a notebook must not mark it modified, saving it must write the
# committed (nbdev-clean) form back. JupyterLab writes the kernel's kernelspec and kernel_info's language_info into
# the model when the kernel starts and marks it modified unless both are deep-equal to what it loaded; the
# project's server config (.ci/jupyter, used by `make lab`) hands notebooks out with those values and cleans on save.
SERVER_CONFIG = ROOT / ".ci" / "jupyter" / "jupyter_server_config.py"


def lab_contents_manager(root_dir: Path):
    "The contents manager `make lab` serves notebooks with, configured by the project's server config."
    from traitlets.config.loader import PyFileConfigLoader
    cfg = PyFileConfigLoader(SERVER_CONFIG.name, str(SERVER_CONFIG.parent)).load_config()
    return cfg.ServerApp.contents_manager_class(config=cfg, root_dir=str(root_dir))


def lab_notebooks(nbs: Path) -> list[Path]:
    "Every notebook JupyterLab can open under `nbs` (not in `_` or `.` folders), relative to it."
    return sorted(p.relative_to(nbs) for p in nbs.rglob("*.ipynb")
                  if not any(part.startswith(("_", ".")) for part in p.relative_to(nbs).parts[:-1]))


@pytest.fixture(scope="module")
def kernel_reports() -> dict:
    "What JupyterLab writes into a notebook as the project's kernel starts: its kernelspec, kernel_info's language_info"
    from jupyter_client.manager import start_new_kernel
    km, kc = start_new_kernel(kernel_name="python3")
    try: info = kc.kernel_info(reply=True, timeout=60)["content"]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    spec = km.kernel_spec
    return {"kernelspec": {"name": km.kernel_name, "display_name": spec.display_name, "language": spec.language},
            "language_info": info["language_info"]}


def test_lab_opens_every_notebook_unmodified(kernel_reports):
    import asyncio
    nbs = ROOT / "nbs"
    manager = lab_contents_manager(nbs)
    names = lab_notebooks(nbs)
    assert len(names) > 20 and Path("reports/report_experiment.ipynb") in names
    for name in names:
        meta = asyncio.run(manager.get(str(name)))["content"]["metadata"]
        for key in ("kernelspec", "language_info"):
            assert meta.get(key) == kernel_reports[key], f"{name}: JupyterLab would rewrite {key} and mark it modified"


def nbdev_cleaned(path: Path) -> str:
    "The text `nbdev_clean` would write for the notebook at `path` (with the settings.ini above it)."
    import json
    from execnb.nbio import nb2str
    from nbdev.clean import clean_nb
    from nbdev.config import get_config
    cfg = get_config(path=path.parent)
    nb = json.loads(path.read_text(encoding="utf-8"))
    clean_nb(nb, cfg.clear_all, cfg.get("allowed_metadata_keys").split(), cfg.get("allowed_cell_metadata_keys").split(),
             cfg.clean_ids)
    return nb2str(nb)


def test_saving_from_lab_writes_the_committed_form(tmp_path, kernel_reports):
    """Open (with the kernel's metadata), save: the metadata on disk is the committed one again, a notebook that was
    nbdev-clean is byte for byte what it was, and nothing else is written (nbdev's trust file, say)."""
    import asyncio
    import json
    import shutil
    shutil.copy(ROOT / "settings.ini", tmp_path / "settings.ini")   # the hook reads jupyter_hooks and the keys here
    shutil.copytree(ROOT / "nbs", tmp_path / "nbs", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    nbs = tmp_path / "nbs"
    before = {p: p.read_bytes() for p in nbs.rglob("*") if p.is_file()}
    manager = lab_contents_manager(nbs)
    names, clean = lab_notebooks(nbs), 0
    for name in names:
        text = (nbs / name).read_text(encoding="utf-8")
        is_clean = nbdev_cleaned(nbs / name) == text        # .ci/test's first step requires that of every notebook
        model = asyncio.run(manager.get(str(name)))
        model["content"]["metadata"].update(kernel_reports)   # what the browser holds once the kernel runs
        asyncio.run(manager.save({k: model[k] for k in ("type", "format", "content")}, str(name)))
        saved = (nbs / name).read_text(encoding="utf-8")
        assert json.loads(saved)["metadata"] == json.loads(text)["metadata"], f"{name}: saving changed its metadata"
        if is_clean:
            assert saved == text, f"{name}: saving from JupyterLab changed a clean notebook"
        clean += is_clean
    assert clean > len(names) // 2, "most notebooks should be nbdev-clean (run nbdev_clean)"
    assert {p for p in nbs.rglob("*") if p.is_file() and ".ipynb_checkpoints" not in p.parts} == set(before)

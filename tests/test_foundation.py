"""The repository itself: installable, importable without Jupyter, offline by default, reproducibly pinned."""
import importlib.metadata as md
import os
import re
import subprocess
import sys
import sysconfig

import pytest


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def test_import_without_jupyter(python):
    code = ("import sys, adrl, adrl.config; "
            "bad = [m for m in ('IPython', 'ipykernel', 'nbdev', 'jupyterlab') if m in sys.modules]; "
            "print(adrl.__version__); sys.exit(1 if bad else 0)")
    r = run([python, "-c", code])
    assert r.returncode == 0, r.stderr + r.stdout
    assert re.fullmatch(r"\d+\.\d+\.\d+\n", r.stdout)


def test_importing_config_switches_crewai_telemetry_off(python):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CREWAI_", "OTEL_"))}
    code = ("import os, adrl.config; "
            "print(os.environ['CREWAI_DISABLE_TELEMETRY'], os.environ['OTEL_SDK_DISABLED'], "
            "os.environ['CREWAI_TRACING_ENABLED'])")
    r = run([python, "-c", code], env=env)
    assert r.stdout.split() == ["true", "true", "false"], r.stderr
    env["OTEL_SDK_DISABLED"] = "false"  # a user's own choice is kept
    r = run([python, "-c", code], env=env)
    assert r.stdout.split() == ["true", "false", "false"], r.stderr


def _norm(name):
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_installed_package_is_pinned(root):
    """Two installs a month apart give the same environment: everything installed is pinned in constraints.txt."""
    pins = {}
    for line in (root / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"constraints.txt: {line!r} is not pinned with =="
            pins[_norm(name)] = version
    assert pins["torch"] == "2.13.0"
    skip = {"adrl", "pip", "setuptools", "wheel"}
    missing, wrong = [], []
    # the environment's own site-packages only: an imported package may put its vendored copies on sys.path (Ray adds
    # ray/thirdparty_files, with colorama), which are not installed distributions
    site = sorted({sysconfig.get_paths()[k] for k in ("purelib", "platlib")})
    for dist in md.distributions(path=site):
        name = _norm(dist.metadata["Name"])
        if name in skip:
            continue
        version = dist.version.split("+")[0]
        if name not in pins:
            missing.append(f"{name}=={version}")
        elif pins[name] != version:
            wrong.append(f"{name}: installed {version}, pinned {pins[name]}")
    assert not missing, f"installed but not pinned in constraints.txt: {missing}"
    assert not wrong, f"installed versions differ from constraints.txt: {wrong}"


def test_cli_config_and_exit_codes(python, root, tmp_path):
    adrl = [os.path.join(os.path.dirname(python), "adrl")]
    r = run(adrl + ["config", "--config", str(root / "config.yaml")])
    assert r.returncode == 0, r.stderr
    assert "learning_rate: 0.0003" in r.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text("environment:\n  inital_budget: 5\n")
    r = run(adrl + ["config", "--config", str(bad)])
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert "environment.inital_budget: unknown key in environment (did you mean 'initial_budget'?)" in r.stderr


def test_readme_starts_with_the_two_commands(root):
    text = (root / "README.md").read_text()
    quick = text.split("## Quick start", 1)[1]
    blocks = re.findall(r"```(?:bash|sh)?\n(.*?)```", quick, re.S)
    assert blocks, "README has no quick-start code block"
    commands = [ln.split("#")[0].strip() for ln in blocks[0].splitlines() if ln.split("#")[0].strip()]
    assert commands[:2] == ["make report", "make test"]
    assert "make test" in (root / ".ci" / "run").read_text()


def test_settings_are_nbdev2(root):
    from configparser import ConfigParser
    cfg = ConfigParser(delimiters=["="])
    cfg.read(root / "settings.ini")
    d = cfg["DEFAULT"]
    assert (d["lib_name"], d["nbs_path"], d["recursive"], d["tst_flags"]) == ("adrl", "nbs", "True", "slow gpu llm")
    assert (d["allowed_cell_metadata_keys"], d["clean_ids"], d["jupyter_hooks"]) == ("tags", "True", "True")


@pytest.mark.skipif(sys.platform != "linux", reason="uses bash")
def test_test_command_treats_no_tests_as_failure(root, tmp_path):
    """pytest's exit 5 (nothing collected) must fail the test command, not pass it."""
    (tmp_path / "test_nothing.py").write_text("# no tests here\n")
    env = dict(os.environ, ADRL_TEST_STEPS="pytest", PYTEST_PATHS=str(tmp_path), PYTEST_ARGS="-q -p no:cacheprovider")
    r = run(["bash", str(root / ".ci" / "test")], cwd=root, env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "pytest collected no tests (exit 5)" in r.stdout


def test_jupyterlab_stays_offline():
    """The set-up switches off JupyterLab's news feed and update check: a fresh lab asks the internet nothing."""
    import json
    import sys
    from pathlib import Path
    settings = json.loads((Path(sys.prefix) / "share/jupyter/lab/settings/overrides.json").read_text())
    notification = settings["@jupyterlab/apputils-extension:notification"]
    assert notification == {"fetchNews": "false", "checkForUpdates": False}


NUMERIC = ("numpy", "pandas", "scipy", "torch", "sklearn", "matplotlib")  # each loads numpy (or is it)


def _first_imports(path):
    "The top-level modules a script imports, in order (module-level statements only)."
    import ast
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import): names += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0: names.append(node.module.split(".")[0])
    return names


def test_entry_points_import_adrl_before_numpy(root):
    "numpy and OpenBLAS read their CPU pins when numpy loads (chapter 00a): every script we run imports adrl first."
    scripts = [*sorted((root / "benchmarks").glob("*.py")), root / ".ci/jupyter_pass", root / "tests/conftest.py"]
    for path in scripts:
        names = _first_imports(path)
        numeric = [i for i, n in enumerate(names) if n in NUMERIC]
        if not numeric: continue
        assert "adrl" in names and names.index("adrl") < numeric[0], f"{path.name}: imports {names[numeric[0]]} " \
            "before adrl, so numpy's kernels are not pinned (add `import adrl` first)"


def test_pins_reach_a_child_that_imports_numpy_first(python):
    "A child of a pinned process (a Jupyter kernel, papermill's, a pool worker) is pinned whatever it imports first."
    import adrl
    if not adrl.pin_cpu_kernels({}): pytest.skip("not an x86 CPU with AVX2: nothing is pinned")
    env = {k: v for k, v in os.environ.items() if k not in adrl.PINS}
    code = ("import subprocess, sys, adrl; print(subprocess.run([sys.executable, '-c', 'import numpy, adrl; "
            "print(adrl.numpy_simd(), adrl.late_pins(), adrl.cpu_kernels())'], capture_output=True, "
            "text=True).stdout, end='')")
    r = run([python, "-c", code], env=env)
    assert r.stdout == "['X86_V3'] [] AVX2\n", r.stdout + r.stderr

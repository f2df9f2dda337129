# osint-video: `make demo` and `make test` set up everything they need on a fresh Debian/Ubuntu.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_HOME ?= demo-workspace
# Debian packages, as "check:package" pairs: a check is a command on PATH, a python module
# (py:NAME), a shared library (lib:SONAME), a file (file:PATH), a glob (glob:PATTERN) or a
# tesseract language (tess:LANG).
# Runtime needs the first list; tests add the second.
RUNTIME_DEPS := py:ensurepip:python3-venv ffmpeg:ffmpeg ffprobe:ffmpeg \
  lib:libpango-1.0.so.0:libpango-1.0-0 lib:libpangoft2-1.0.so.0:libpangoft2-1.0-0 \
  lib:libharfbuzz-subset.so.0:libharfbuzz-subset0 \
  file:/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf:fonts-dejavu-core \
  tesseract:tesseract-ocr tess:rus:tesseract-ocr-rus tess:ukr:tesseract-ocr-ukr \
  tess:eng:tesseract-ocr-eng fpcalc:libchromaprint-tools
# libatomic1: the Node.js driver inside the playwright wheel needs it (browser tests).
TEST_DEPS := exiftool:libimage-exiftool-perl chromium:chromium pdftoppm:poppler-utils \
  lib:libatomic.so.1:libatomic1 glob:/usr/lib/postgresql/*/bin/pg_ctl:postgresql \
  espeak-ng:espeak-ng
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup setup-test system-deps system-deps-test demo test lint bench clean

setup: system-deps $(STAMP)
setup-test: system-deps system-deps-test $(STAMP)

define install_missing
	@missing=""; \
	for dep in $(1); do \
	  check=$${dep%:*}; pkg=$${dep##*:}; \
	  case $$check in \
	    py:*) $(PY) -c "import $${check#py:}" 2>/dev/null || missing="$$missing $$pkg";; \
	    file:*) test -e "$${check#file:}" || missing="$$missing $$pkg";; \
	    glob:*) compgen -G "$${check#glob:}" >/dev/null || missing="$$missing $$pkg";; \
	    tess:*) tesseract --list-langs 2>/dev/null | grep -qx "$${check#tess:}" || missing="$$missing $$pkg";; \
	    lib:*) { ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep -q "$${check#lib:}" || missing="$$missing $$pkg";; \
	    *) command -v $$check >/dev/null || missing="$$missing $$pkg";; \
	  esac; \
	done; \
	missing=$$(echo $$missing | tr ' ' '\n' | sort -u | tr '\n' ' '); \
	if [ -n "$${missing// /}" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian packages: $$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null \
	      || { echo "apt-get install failed for: $$missing"; exit 1; }; \
	  else \
	    echo "missing system packages; run: sudo apt-get install -y $$missing"; exit 1; \
	  fi; \
	fi
endef

system-deps:
	$(call install_missing,$(RUNTIME_DEPS))

system-deps-test:
	$(call install_missing,$(TEST_DEPS))

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,server]'
	@touch $(STAMP)

demo: setup
	@rm -rf $(DEMO_HOME)
	$(BIN)/python -m osint_video.sample $(DEMO_HOME)/incoming/sudzha_sample.mp4
	$(BIN)/osint-video --home $(DEMO_HOME) triage $(DEMO_HOME)/incoming/sudzha_sample.mp4 \
	  --case kursk --source-url https://example.org/channel/123 --note "demo: generated sample clip"
	$(BIN)/python -m osint_video.sample --repost $(DEMO_HOME)/incoming/sudzha_sample.mp4 \
	  $(DEMO_HOME)/incoming/repost.mp4
	$(BIN)/osint-video --home $(DEMO_HOME) triage $(DEMO_HOME)/incoming/repost.mp4 \
	  --case kursk --source-url https://example.org/channel/456 --note "demo: a mirrored repost"
	$(BIN)/osint-video --home $(DEMO_HOME) queue list
	@echo "report: $$($(BIN)/osint-video --home $(DEMO_HOME) report 1 --format html)"
	@echo "the repost's report (seen before: clip 1): $$($(BIN)/osint-video --home $(DEMO_HOME) report 2 --format html)"
	@$(BIN)/osint-video --home $(DEMO_HOME) users add demo --role admin 2>/dev/null \
	  | sed 's/^password for demo (shown once): /the demo desk: log in as "demo" with password /'
	@echo "open the demo desk: $(BIN)/osint-video --home $(DEMO_HOME) serve, then http://127.0.0.1:8080/"

lint: setup
	$(BIN)/ruff check osint_video tests bench
	$(BIN)/mypy osint_video

# The Label Studio data-dir template (label-studio init, about a minute) is kept between runs.
test: setup-test
	$(BIN)/ruff check osint_video tests bench
	$(BIN)/mypy osint_video
	OSINT_VIDEO_LS_TEMPLATE=$(CURDIR)/$(VENV)/ls-template $(BIN)/python -m pytest -q -p no:cacheprovider

bench: setup-test
	$(BIN)/python -m pip install -q --no-deps scenedetect click tqdm
	$(BIN)/python -m pip install -q videohash
	$(BIN)/python bench/bench_triage.py
	$(BIN)/python bench/bench_memory.py
	$(BIN)/python bench/bench_match.py
	$(BIN)/python bench/bench_reports.py
	$(BIN)/python bench/bench_labelstudio.py
	$(BIN)/python bench/bench_desk.py
	$(BIN)/python bench/bench_web.py
	$(BIN)/python bench/bench_archive_scale.py
	$(BIN)/python bench/bench_sound_scale.py

clean:
	rm -rf $(VENV) $(DEMO_HOME) bench/out .pytest_cache

# make demo: install into .venv, encode dataset/, cluster it into output/
# make test: install into .venv (with test tools), lint, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Wheels only, so no C++ compiler ever runs; face_recognition_models ships model files in a
# source archive only (no code to build), so it alone may come from source.
PIP_FLAGS := --only-binary=:all: --no-binary=face-recognition-models

.PHONY: demo test lint install install-dev browser clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(PIP_FLAGS) -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet $(PIP_FLAGS) -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(PY) encode_faces.py --dataset dataset --encodings encodings.pickle --detection-method hog
	$(PY) cluster_faces.py --encodings encodings.pickle --output output

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# The gallery tests drive index.html in headless Chromium through Selenium and Debian's
# chromedriver. As root (CI) this installs Debian's chromium and chromium-driver packages when
# either is missing; otherwise those tests are skipped with a reason.
browser:
	@if command -v chromedriver >/dev/null 2>&1 && \
		{ command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; }; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else echo "chromium or chromedriver not found and not root: the browser tests will be skipped"; fi

test: lint browser
	$(PY) -m pytest

clean:
	rm -rf output .pytest_cache .ruff_cache

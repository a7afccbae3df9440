# make demo: install into .venv, encode dataset/, cluster it into output/
# make test: install into .venv (with test tools), lint, run the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# Wheels only, so no C++ compiler ever runs; face_recognition_models ships model files in a
# source archive only (no code to build), so it alone may come from source.
PIP_FLAGS := --only-binary=:all: --no-binary=face-recognition-models

.PHONY: demo test lint install install-dev clean

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

test: lint
	$(PY) -m pytest

clean:
	rm -rf output .pytest_cache .ruff_cache

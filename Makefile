# make demo:  install into .venv from the lock, encode dataset/, cluster it into output/
# make test:  install into .venv (with test tools) from the lock, lint, run the test suite
# make lock:  resolve requirements*.txt again and rewrite the two lock files (needs the index)
# make test-latest: the suite against the newest versions requirements*.txt allow, in .venv-latest
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# What .venv is installed from: every package pinned, with hashes (pip then checks each file).
# requirements*.txt keep the ranges a library user gets from `pip install .`.
LOCK ?= requirements-lock.txt
DEV_LOCK ?= requirements-dev-lock.txt
# Wheels only, so no C++ compiler ever runs; face_recognition_models ships model files in a
# source archive only (no code to build), so it alone may come from source.
PIP_FLAGS := --only-binary=:all: --no-binary=face-recognition-models
# uv resolves the lock for every platform and Python from 3.10 up (markers where they differ).
UV_COMPILE := --universal --python-version 3.10 --generate-hashes --only-binary :all: \
	--no-binary face-recognition-models --custom-compile-command "make lock" --quiet

.PHONY: demo test lint install install-dev system-tools lock test-latest clean

$(VENV)/.installed: $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet $(PIP_FLAGS) $(PIP_EXTRA) -r $(LOCK)
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed $(DEV_LOCK)
	$(PY) -m pip install --quiet $(PIP_FLAGS) $(PIP_EXTRA) -r $(DEV_LOCK)
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

demo: $(VENV)/.installed
	$(PY) encode_faces.py --dataset dataset --encodings encodings.pickle --detection-method hog
	$(PY) cluster_faces.py --encodings encodings.pickle --output output

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

# Programs the tests drive, from Debian's packages: headless Chromium and its chromedriver for
# the gallery's tests (through Selenium), and exiftool, the reference reader of XMP, which reads
# back the sidecars --xmp writes. As root (CI) this installs whichever is missing; otherwise
# those tests are skipped with a reason.
system-tools:
	@missing=""; \
	command -v chromedriver >/dev/null 2>&1 || missing="$$missing chromium-driver"; \
	{ command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; } || missing="$$missing chromium"; \
	command -v exiftool >/dev/null 2>&1 || missing="$$missing libimage-exiftool-perl"; \
	if [ -z "$$missing" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	else echo "missing and not root:$$missing: the tests that need them will be skipped"; fi

test: lint system-tools
	$(PY) -m pytest

# An upgrade is a deliberate step: `make lock`, then `make test`, then commit the two locks.
# uv lives in a venv of its own, so that .venv holds exactly what the lock names.
lock:
	$(PYTHON) -m venv .venv-tools
	.venv-tools/bin/python -m pip install --quiet --upgrade uv
	.venv-tools/bin/uv pip compile $(UV_COMPILE) requirements.txt -o $(LOCK)
	.venv-tools/bin/uv pip compile $(UV_COMPILE) requirements-dev.txt -c $(LOCK) -o $(DEV_LOCK)

# What `make lock` would bring: the newest releases the ranges allow, installed afresh each time.
test-latest:
	rm -f .venv-latest/.installed .venv-latest/.installed-dev
	$(MAKE) test VENV=.venv-latest LOCK=requirements.txt DEV_LOCK=requirements-dev.txt PIP_EXTRA=--upgrade

clean:
	rm -rf output .pytest_cache .ruff_cache

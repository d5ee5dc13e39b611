# Two commands for a fresh clone (see README):  make run   |   make test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test system-packages deps bench clean

run: system-packages $(STAMP)
	$(PY) app.py

# The test command (.ci/run calls exactly this). A system package that does not install fails it.
test: STRICT = 1
test: system-packages $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(PY) -m pytest -q -n 2 --dist loadfile -p no:cacheprovider

# Debian packages listed in packages.txt (the Hugging Face Spaces convention), installed when missing.
system-packages:
	@missing=$$(for p in $$(grep -v '^#' packages.txt); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing system packages: $$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null \
	    || { if [ "$(STRICT)" = 1 ]; then echo "ERROR: could not install $$missing"; exit 1; fi; \
	         echo "WARNING: could not install $$missing; features needing them will say so."; }; \
	fi

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

deps: $(STAMP)

bench: $(STAMP)
	HF_HUB_OFFLINE=1 bench/run_all

clean:
	rm -rf $(VENV)

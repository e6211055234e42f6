# auditor: make demo (a real audit of a throw-away lab fleet) · make test
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
PYTHON ?= python3
DEBIAN_PACKAGES := nmap openssh-server openssh-client iproute2 sudo net-tools busybox procps strace socat libcap2-bin redis-server nftables postgresql rabbitmq-server
STAMP := $(VENV)/.installed

# Pythons the package claims (pyproject classifiers): test-pythons runs the unit tests on each.
PYTHONS := 3.11 3.12 3.13

.PHONY: install system-packages services test test-lab unit hostile test-min test-pythons test-compat dist lint demo lab-up lab-down lab-status bench bench-quick bench-probe clean

install: system-packages services $(STAMP)

# Debian packages the lab and the sweeps need; installed only when missing and root.
system-packages:
	@missing=""; for p in $(DEBIAN_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "note: missing Debian packages:$$missing (run 'sudo make install' to add them; lab tests will be skipped)"; \
	  fi; \
	fi

# The servers the tests use (PostgreSQL 127.0.0.1:5432, Redis 127.0.0.1:6379): started when
# not answering, never restarted when they are (tools/services.sh).
services: system-packages
	@bash tools/services.sh

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e '.[test]'
	@touch $(STAMP)

# Everything, unit and integration (the CI command); plain `pytest` runs the unit tests only.
test: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q tests

# The lab tests alone (root: network namespaces, one sshd per host, moto).
test-lab: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q -m lab tests

unit: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q tests/unit

# The lowest declared versions of every runtime dependency (tools/lowest_constraints.py),
# the unit tests on them: a floor in pyproject.toml that no longer works fails here.
test-min:
	@test -x .venv-min/bin/python || $(PYTHON) -m venv .venv-min
	.venv-min/bin/pip install -q --upgrade pip
	$(PYTHON) tools/lowest_constraints.py pyproject.toml > .venv-min/constraints.txt
	.venv-min/bin/pip install -q -c .venv-min/constraints.txt -e '.[test]'
	PATH="$(CURDIR)/.venv-min/bin:$$PATH" .venv-min/bin/python -m pytest -q -p no:cacheprovider tests/unit

# The unit tests on each Python the package claims: pyenv's build, else python3.X on PATH.
test-pythons:
	@for v in $(PYTHONS); do \
	  py=$$(ls -d $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$$v*/bin/python$$v 2>/dev/null | sort -V | tail -n 1); \
	  [ -n "$$py" ] || py=$$(command -v python$$v); \
	  if [ -z "$$py" ] || ! "$$py" -c pass 2>/dev/null; then echo "test-pythons: no python$$v here (install it, or pyenv install $$v)"; exit 1; fi; \
	  echo "== Python $$v: $$py"; \
	  test -x .venv-$$v/bin/python || $$py -m venv .venv-$$v || exit 1; \
	  .venv-$$v/bin/pip install -q --upgrade pip && .venv-$$v/bin/pip install -q -e '.[test]' || exit 1; \
	  PATH="$(CURDIR)/.venv-$$v/bin:$$PATH" .venv-$$v/bin/python -m pytest -q -p no:cacheprovider tests/unit || exit 1; \
	done

test-compat: test-min test-pythons

# The wheel and sdist a production install uses (pipx install dist/auditor-*.whl).
dist: install
	$(PIP) install -q build
	$(PY) -m build --outdir dist .

# The hostile suite (issue 13): untrusted names, files and values. Ends with "N hostile cases".
hostile: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -q -p no:cacheprovider -m hostile tests/unit

lint: install
	$(VENV)/bin/ruff check auditor tests bench
	$(VENV)/bin/ruff format --check auditor
	$(VENV)/bin/mypy

lab-up: install
	@if [ "$$(id -u)" != 0 ]; then echo "the lab needs root: network namespaces, a bridge and one sshd per host (try: sudo make lab-up)"; exit 2; fi
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m auditor.lab up

lab-down:
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m auditor.lab down

lab-status:
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m auditor.lab status

# The lab's AWS is a moto server on 127.0.0.1: it takes any credentials, so give it dummies
# (and never let boto3 look for real ones).
LAB_AWS_ENV := AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null

# The demo keeps its caches (the software version cache, a refreshed eol.json) in reports/.cache:
# the throw-away lab's hosts have no business in your ~/.cache/auditor.
DEMO_CACHE := $(CURDIR)/reports/.cache

demo: lab-up
	XDG_CACHE_HOME="$(DEMO_CACHE)" $(LAB_AWS_ENV) PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/auditor audit --config inventories/lab/audit.toml --out reports/demo --fail-on critical || test $$? = 1
	@echo
	@echo "Demo report: $(CURDIR)/reports/demo/index.html  (and report.json beside it)"
	@echo "The lab stays up for exploring; remove it with: make lab-down"

# The whole audit vs ansible -m setup vs connect+true (bench/README.md): 50 and 1,000 lab hosts,
# root and unprivileged, warm and cold software cache. Root; holds the lab lock throughout
# (the 1,000-host part takes about half an hour per round). BENCH_ARGS adds options
# (e.g. BENCH_ARGS="--hosts 50 --rounds 3"); bench-quick is one 50-host round as root.
BENCH_LOCK := flock /tmp/auditor-lab.lock

bench: install
	$(BENCH_LOCK) env PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) bench/audit.py $(BENCH_ARGS)

bench-quick: install
	$(BENCH_LOCK) env PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) bench/audit.py --quick $(BENCH_ARGS)

# The probe alone (issue 4): bench/probe.py.
bench-probe: install
	$(BENCH_LOCK) env PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) bench/probe.py $(BENCH_ARGS)

clean: lab-down
	rm -rf $(VENV) .venv-* build dist *.egg-info reports/demo reports/.cache

# fabric: the two commands a user needs are `make lab` and `make test` (both install what they need,
# as root on Debian 12).  Everything else here is a step of those two.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
DEBS := frr frr-pythontools redis-server nftables iproute2 iputils-ping lldpd libyang2-dev \
        libyang-tools gcc python3-dev postgresql qemu-system-x86 linux-image-amd64 busybox-static \
        mmdebstrap openssh-client e2fsprogs
PYTEST_ARGS ?=
# SONiC's YANG models, which generated CONFIG_DB is checked against (test data from outside the
# repository: SONiC's sonic-yang-models; CI provides a copy beside the checkout).
SONIC_YANG_DIR ?= $(wildcard $(abspath ../shared/yang/models))
export SONIC_YANG_DIR

.PHONY: test lab lab-down deps venv lint typecheck docs reference unit bench golden-update clean firewall-image

## test: install everything needed, lint, type-check, build the docs, then run the whole suite.
test: deps venv lint typecheck docs
	$(VENV)/bin/pytest --durations=25 $(PYTEST_ARGS)

## lab: bring the demo fabric up (see README).
lab: deps venv
	$(VENV)/bin/fabric lab demo

## firewall-image: build the firewall machine image (cached by its inputs; see docs/firewall-image.md).
firewall-image: deps venv
	$(VENV)/bin/fabric image build firewall

## lab-down: remove the demo fabric (everything `make lab` created).
lab-down: venv
	$(VENV)/bin/fabric lab down mini

## deps: Debian packages (skipped when all are installed already).
deps:
	@missing=$$(for p in $(DEBS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $$missing"; \
	  if [ "$$(id -u)" != 0 ]; then echo "run as root to install: $$missing" >&2; exit 1; fi; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi
	@# FRR's packaged service would otherwise hold the default pathspace; the rig uses its own.
	@systemctl stop frr >/dev/null 2>&1 || true

## venv: a virtualenv with the package (editable) and its test extras.
venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy

## docs: build the documentation site strictly (a broken link or anchor fails); `mkdocs serve` to read it.
docs: venv
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir build/site

## reference: regenerate docs/reference/ from the code (tests fail while it differs).
reference: venv
	$(PY) -m tools.reference

unit: venv
	$(VENV)/bin/pytest tests/unit $(PYTEST_ARGS)

## golden-update: regenerate golden outputs (review the diff before committing).
golden-update: venv
	FABRIC_UPDATE_GOLDEN=1 $(VENV)/bin/pytest tests/golden $(PYTEST_ARGS)

bench: deps venv
	$(VENV)/bin/python -m bench

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache

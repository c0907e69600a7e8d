# Replyboard: `make run` serves the dashboard on the demo data; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The demo has its own warehouse file, so no export of yours is ever mixed into it; your data goes to
# data/replyboard.duckdb (the default of every `python -m etl` / `python -m metrics` command):
# `make run DB=data/replyboard.duckdb` serves it.
DEMO_DB := data/demo.duckdb
DB     ?= $(DEMO_DB)
SIZE   ?= 1000000
PORT   ?= 8501
# The dashboard listens on this machine only. HOST=0.0.0.0 opens it to the network, which it refuses without
# sign-in configured (README, "Sign-in and roles") unless OPEN_WITHOUT_SIGNIN=1 says the network is trusted.
HOST   ?= 127.0.0.1
OPEN_WITHOUT_SIGNIN ?=

.PHONY: install run sample-db own-db check test lint bench lock clean readme

install: $(STAMP)  ## idempotent: a venv with exactly the locked packages

$(STAMP): requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "make: could not create .venv; on Debian/Ubuntu install it with: apt-get install python3-venv" >&2; \
		exit 2; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $(STAMP)

sample-db: install  ## build the demo warehouse (data/demo.duckdb) if it is missing, else bring it up to date
	@if test -f $(DEMO_DB); then $(BIN)/python -m etl migrate --db $(DEMO_DB); \
	else $(BIN)/python -m etl load --db $(DEMO_DB) sample_data/demo; fi

own-db: install  ## DB=...: bring your warehouse up to date; never loads the demo into it
	@if test -f $(DB); then $(BIN)/python -m etl migrate --db $(DB); \
	else echo "make: $(DB) has no data yet; load your exports: $(BIN)/python -m etl load --db $(DB) FILE..." >&2; fi

# The demo builds itself; any other DB is served as it is (the dashboard says how to load one that is empty).
ifeq ($(DB),$(DEMO_DB))
run: sample-db
else
run: own-db
endif
run:  ## the dashboard on http://$(HOST):$(PORT) (DB=... for your own warehouse); another HOST needs sign-in (or OPEN_WITHOUT_SIGNIN=1)
	@REPLYBOARD_OPEN_WITHOUT_SIGNIN=$(OPEN_WITHOUT_SIGNIN) $(BIN)/python -m replyboard.exposure --host '$(HOST)'
	REPLYBOARD_DB=$(DB) REPLYBOARD_OPEN_WITHOUT_SIGNIN=$(OPEN_WITHOUT_SIGNIN) $(BIN)/streamlit run app.py \
		--server.address $(HOST) --server.port $(PORT) --server.headless true --browser.gatherUsageStats false

check: install  ## format, lint, import contracts, types (fix the format with: .venv/bin/ruff format .)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

test: check  ## make check, then every test
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check .

bench: install  ## make bench [SIZE=10000000]
	$(BIN)/python -m benchmarks.run --size $(SIZE)

lock:  ## re-pin requirements.lock from a fresh venv of pyproject's dependencies
	rm -rf /tmp/replyboard-lock && $(PYTHON) -m venv /tmp/replyboard-lock
	/tmp/replyboard-lock/bin/pip install --quiet -e '.[dev]'
	/tmp/replyboard-lock/bin/pip freeze --exclude-editable | grep -v '^replyboard' > requirements.lock

clean:  ## the venv and the demo warehouse; your own warehouse (data/replyboard.duckdb) is never removed
	rm -rf $(VENV) $(DEMO_DB) $(DEMO_DB).wal data/demo.state.sqlite*

readme:  ## regenerate the README's metric table from the registry
	$(BIN)/python -m metrics.readme

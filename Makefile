# Replyboard: `make run` serves the dashboard on the sample data; `make test` runs the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DB     ?= data/replyboard.duckdb
SIZE   ?= 1000000
PORT   ?= 8501
# The dashboard listens on this machine only: there is no sign-in yet (README, "The dashboard is private by
# default"). HOST=0.0.0.0 opens it to the network.
HOST   ?= 127.0.0.1

.PHONY: install run sample-db test lint bench lock clean

install: $(STAMP)  ## idempotent: a venv with exactly the locked packages

$(STAMP): requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
		echo "make: could not create .venv; on Debian/Ubuntu install it with: apt-get install python3-venv" >&2; \
		exit 2; }
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $(STAMP)

sample-db: install  ## build the sample warehouse if it is missing, else bring it up to date
	@if test -f $(DB); then $(BIN)/python -m etl migrate --db $(DB); \
	else $(BIN)/python -m etl load --db $(DB) sample_data/demo; fi

run: sample-db  ## the dashboard on http://$(HOST):$(PORT); HOST=0.0.0.0 opens it to the network (no sign-in!)
	REPLYBOARD_DB=$(DB) $(BIN)/streamlit run app.py --server.address $(HOST) --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

test: install  ## lint, then every test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: install
	$(BIN)/ruff check .

bench: install  ## make bench [SIZE=10000000]
	$(BIN)/python -m benchmarks.run --size $(SIZE)

lock:  ## re-pin requirements.lock from a fresh venv of pyproject's dependencies
	rm -rf /tmp/replyboard-lock && $(PYTHON) -m venv /tmp/replyboard-lock
	/tmp/replyboard-lock/bin/pip install --quiet -e '.[dev]'
	/tmp/replyboard-lock/bin/pip freeze --exclude-editable | grep -v '^replyboard' > requirements.lock

clean:
	rm -rf $(VENV) data/*.duckdb

readme:  ## regenerate the README's metric table from the registry
	$(BIN)/python -m metrics.readme

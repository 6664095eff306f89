PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install migrate demo bench schema clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c "import sys; sys.exit(sys.version_info < (3, 11))" || { echo "需要 Python 3.11 或更新版本"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m db run-setup
	HOST=$(HOST) PORT=$(PORT) $(BIN)/python -m uvicorn gql.app:app --host $(HOST) --port $(PORT)

# Two processes (pytest-xdist), whole files to each: the suite is ~1,200 tests on two engines and
# waits on PostgreSQL and argon2 as much as on Python; one process took 35 min on 2 cores.
# TEST_WORKERS=0 runs it in this process (a debugger, -x, ...).
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile --durations=15

migrate: $(STAMP)
	$(BIN)/python -m db migrate

schema: $(STAMP)
	$(BIN)/python -m gql.schema.export

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var build *.egg-info

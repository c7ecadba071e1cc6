# Two commands for a fresh machine:  make demo  (quick reproduction on real MNIST)  and  make test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of PyTorch. On a GPU machine: make TORCH="torch" (PyPI's default CUDA build).
TORCH ?= torch==2.13.0

.PHONY: demo test test-all bench install clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: install
	$(BIN)/vaerobust reproduce sootla2018 --quick --out runs/sootla2018-quick

test: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q

test-all: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -m ''

bench: install
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_attack.py

clean:
	rm -rf $(VENV) .pytest_cache

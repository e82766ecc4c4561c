# Everything a fresh machine needs, behind the README's two commands: `make build`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ARCH := $(shell uname -m)
# pip takes these wheels from the local disk on x86_64 (Python 3.11); aarch64 gets the CPU build.
ifeq ($(ARCH),x86_64)
TORCH := torch==2.14.1 torchvision==0.29.1
else
TORCH := torch==2.9.1 torchvision==0.24.1
endif

.PHONY: build test system install bench clean

build: system install
	$(BIN)/reportgen build --task all

test: system install
	$(BIN)/ruff check reportgen experiments tests benchmarks
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/train_throughput.py
	$(BIN)/python benchmarks/frozen_features.py
	$(BIN)/python benchmarks/precision.py arch-baseline arch-deeper
	$(BIN)/python benchmarks/time_to_accuracy.py
	$(BIN)/python benchmarks/warm_build.py
	$(BIN)/python benchmarks/jobs.py

system:
	@bash scripts/install-system.sh

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e '.[test]'
	touch $@

clean:
	rm -rf output .reportgen

# didcomm-edge: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
VECTORS ?= $(abspath ../shared/vectors)
export DIDCOMM_VECTORS := $(VECTORS)

.PHONY: help setup setup-rust setup-wasm demo test test-rust test-mediator test-wasm-build wasm test-wasm bench bench-mediator bench-wasm fmt lint fuzz clean

help: ## List the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: setup-rust setup-wasm ## Install what is missing (Rust toolchain, wasm target, Node, Chromium)

setup-rust:
	@./scripts/setup.sh rust

setup-wasm:
	@./scripts/setup.sh wasm
	@./scripts/setup.sh node
	@./scripts/setup.sh browser

demo: setup-rust ## Run the end-to-end demo (a mediator and two edge devices, loopback)
	@./scripts/demo.sh

test: setup test-rust test-mediator test-wasm-build test-wasm ## Run every test suite that exists
	@echo "make test: all suites passed"

test-rust: ## Rust unit, vector, interop and CLI tests
	$(CARGO) test --workspace --locked --exclude didcomm-edge-mediator

test-mediator: ## Mediator tests: real SQLite files, a private PostgreSQL on 127.0.0.1
	@pgdir="$$(mktemp -d)"; trap "./scripts/postgres.sh stop $$pgdir/pg; rm -rf $$pgdir" EXIT; \
	url="$$(./scripts/postgres.sh start "$$pgdir/pg")" && \
	DIDCOMM_EDGE_TEST_PG="$$url" $(CARGO) test -p didcomm-edge-mediator --locked

test-wasm-build: ## The core must compile for wasm32-unknown-unknown
	$(CARGO) build -p didcomm-edge --target wasm32-unknown-unknown --locked

wasm: setup-wasm ## Build the npm package didcomm-edge (wasm/npm/dist)
	@./scripts/build-wasm.sh

test-wasm: wasm ## npm package: vectors, key wrap, interop with didcomm-node, types, Chromium; example gateway
	cd wasm/npm && node --test test/*.test.mjs
	cd examples/node-gateway && npm install --no-audit --no-fund --silent && node --test test/*.test.mjs

bench: setup-rust ## Benchmarks against the reference library (results for BENCHMARKS.md)
	$(CARGO) bench -p didcomm-edge --bench envelope --locked
	$(CARGO) run --release -p didcomm-edge-cli --locked -- bench
	./scripts/bench-mediator.sh
	@$(MAKE) --no-print-directory bench-wasm

bench-mediator: setup-rust ## Mediator load test (SQLite and PostgreSQL, loopback)
	./scripts/bench-mediator.sh

bench-wasm: wasm ## Node: pack/unpack ops/s of the npm package against didcomm-node
	cd wasm/npm && node bench/bench.mjs

fmt: ## Format the code
	$(CARGO) fmt --all

lint: ## Formatting check and clippy with warnings as errors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) clippy -p didcomm-edge-wasm --target wasm32-unknown-unknown --locked -- -D warnings

fuzz: ## Run the fuzz targets for a while (needs nightly; installs cargo-fuzz)
	@./scripts/fuzz.sh

clean: ## Remove build outputs
	$(CARGO) clean

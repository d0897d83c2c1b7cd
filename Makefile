# didcomm-edge: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo
VECTORS ?= $(CURDIR)/testdata/vectors
export DIDCOMM_VECTORS := $(VECTORS)

.PHONY: help check setup setup-rust setup-wasm demo test test-rust test-mediator test-wasm-build wasm test-wasm bench bench-mediator image bench-hostile bench-wasm fmt lint fuzz fuzz-campaign clean \
	setup-python bindings test-bindings test-python test-kotlin test-swift wheel bench-python bench-python-instructions test-version test-license version dist \
	setup-cross cross test-cross jar test-jar test-packages test-msrv fetch test-sensor bench-sensor

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

check: ## Everyday check, under 5 min on a warm build: format, clippy, Rust unit tests, spec vectors
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) test --workspace --lib --locked
	$(CARGO) test -p didcomm-edge --test vectors --locked

test: setup test-version test-license test-packages test-msrv test-rust test-mediator test-wasm-build test-cross test-sensor test-wasm test-bindings test-jar ## Run every test suite that exists
	@echo "make test: all suites passed"

test-version: ## Every artifact states the workspace version (scripts/version.sh check; seconds)
	@./scripts/version.sh check

# The crates that are published (the others say publish = false); scripts/dist.sh packages the same.
PUBLISHED_CRATES := didcomm-edge didcomm-edge-web didcomm-edge-agent didcomm-edge-cli didcomm-edge-mediator

# The packaging checks run cargo offline (a stable answer, no index refresh per crate), so the
# locked dependencies must be on disk first; on a fresh machine this is the download.
fetch: setup-rust ## Download the locked dependencies (cargo fetch; skips what is present)
	$(CARGO) fetch --locked
	$(CARGO) fetch --locked --manifest-path embedded/Cargo.toml

test-license: fetch ## Every published crate packs LICENSE and NOTICE (cargo package --list; seconds)
	@for crate in $(PUBLISHED_CRATES); do \
		files="$$($(CARGO) package --list --offline --allow-dirty -p $$crate)" || exit 1; \
		for f in LICENSE NOTICE; do grep -qx "$$f" <<< "$$files" \
			|| { echo "$$crate: $$f is not in its package (link ../$$f beside its Cargo.toml)" >&2; exit 1; }; done; \
	done; echo "LICENSE and NOTICE in every published crate: $(PUBLISHED_CRATES)"

test-packages: fetch ## Published crates: metadata, README/LICENSE/NOTICE packed; didcomm-edge packaged and verified
	@PUBLISHED_CRATES="$(PUBLISHED_CRATES)" ./scripts/packages.sh check

test-msrv: fetch ## The declared rust-version: covers the locked dependencies, builds didcomm-edge (rustup)
	@./scripts/packages.sh msrv

version: ## Print the version; set it everywhere with `scripts/version.sh set X.Y.Z`
	@./scripts/version.sh

test-rust: ## Rust unit, vector, interop and CLI tests
	$(CARGO) test --workspace --locked --exclude didcomm-edge-mediator

test-mediator: ## Mediator tests: real SQLite files, a private PostgreSQL on 127.0.0.1
	@./scripts/setup.sh deploy
	@pgdir="$$(mktemp -d)"; trap "./scripts/postgres.sh stop $$pgdir/pg; rm -rf $$pgdir" EXIT; \
	url="$$(./scripts/postgres.sh start "$$pgdir/pg")" && \
	DIDCOMM_EDGE_TEST_PG="$$url" $(CARGO) test -p didcomm-edge-mediator --locked

test-wasm-build: ## The core must compile for wasm32-unknown-unknown
	$(CARGO) build -p didcomm-edge --target wasm32-unknown-unknown --locked

setup-cross: ## aarch64 cross toolchain and qemu-user (apt), the rustup target
	@./scripts/cross.sh setup

cross: setup-cross ## Build the mediator, CLI and demo for aarch64 Linux (target/aarch64-unknown-linux-gnu/release)
	@./scripts/cross.sh build

test-cross: setup-cross ## aarch64 binaries under qemu-aarch64: CLI round trip, the demo's Alice-mediator-Bob flow
	@./scripts/cross.sh test

test-sensor: setup-rust ## The core without std on QEMU's Cortex-M4F (mps2-an386) against the host core; the RISC-V 32 build links
	@./scripts/sensor.sh test

bench-sensor: setup-rust ## The sensor firmware: flash per feature set, then its run (instructions, heap and stack peaks)
	@./scripts/sensor.sh sizes
	@./scripts/sensor.sh test

wasm: setup-wasm ## Build the npm package didcomm-edge (wasm/npm/dist)
	@./scripts/build-wasm.sh

test-wasm: wasm ## npm package: vectors, key wrap, interop with didcomm-node, types, Chromium, the SDK against the real mediator, the packed tarball installed; example gateway
	$(CARGO) build -p didcomm-edge-mediator --locked
	cd wasm/npm && node --test test/*.test.mjs
	cd examples/node-gateway && npm install --no-audit --no-fund --silent && node --test test/*.test.mjs

bench: setup-rust ## Benchmarks against the reference library (results for BENCHMARKS.md)
	$(CARGO) bench -p didcomm-edge --bench envelope --locked
	$(CARGO) run --release -p didcomm-edge-cli --locked -- bench
	./scripts/bench-mediator.sh
	@$(MAKE) --no-print-directory bench-hostile
	@$(MAKE) --no-print-directory bench-wasm
	@$(MAKE) --no-print-directory bench-python

image: setup-rust ## Build the mediator's container image with buildah and run it once (not in make test: minutes of release build)
	./scripts/image.sh

bench-mediator: setup-rust ## Mediator load test (SQLite and PostgreSQL, loopback)
	./scripts/bench-mediator.sh

bench-hostile: setup-rust ## CPU time and peak memory of the mediator on the worst inputs, against the targets
	$(CARGO) bench -p didcomm-edge-mediator --bench hostile --locked

bench-wasm: wasm ## Node: pack/unpack ops/s of the npm package against didcomm-node
	cd wasm/npm && node bench/bench.mjs

setup-python: ## Python venvs for the bindings under build/ (maturin, pytest, PyPI didcomm, mypy, tree-sitter)
	@./scripts/python.sh setup

bindings: setup-rust ## Regenerate the committed Kotlin and Swift sources (after changing bindings/)
	@./scripts/bindings.sh generate

test-bindings: test-python test-kotlin test-swift ## Python, Kotlin and Swift (syntax) suites of the UniFFI bindings

test-python: setup-rust ## The built wheels: x86_64 in a fresh venv (vectors, interop with PyPI didcomm, host objects, mediator flow, mypy), aarch64 under qemu
	@./scripts/python.sh test

test-kotlin: setup-rust ## Kotlin on the JVM (Maven): vectors, round trips, host objects, mediator flow
	@./scripts/bindings.sh check
	$(CARGO) build --locked -p didcomm-edge-ffi -p didcomm-edge-mediator
	@./scripts/setup.sh maven
	cd kotlin && mvn -B -q test -Dnative.dir="$(CURDIR)/target/debug" -Dvectors.dir="$(VECTORS)" \
		-Dmediator.bin="$(CURDIR)/target/debug/didcomm-edge-mediator"

test-swift: setup-rust setup-python ## Swift: generated sources up to date, every Swift file parses, the release Package.swift (no compiler here)
	@./scripts/bindings.sh check
	build/venv/bin/python scripts/swift-syntax-check.py Package.swift swift
	@mkdir -p build; printf 'func broken( {\n' > build/broken.swift; \
	if build/venv/bin/python scripts/swift-syntax-check.py build/broken.swift >/dev/null 2>&1; then \
		echo "the Swift syntax check accepted a broken file" >&2; exit 1; fi
	@PYTHON=build/venv/bin/python ./scripts/swift-release.sh check

jar: setup-rust ## The JVM jar with the native libraries inside (linux-x86-64/, linux-aarch64/) and the sources jar
	@./scripts/jar.sh build

test-jar: setup-rust ## The jar alone: its contents, then a fresh Maven project runs the edge flow with no jna.library.path
	@./scripts/jar.sh test

wheel: setup-rust ## The manylinux2014 Python wheels, x86_64 and aarch64 (build/wheels/; pip install one)
	@./scripts/python.sh wheel

dist: setup-rust setup-wasm ## Release artifacts into dist/ with SHA256SUMS: wheel, npm tarball, jar (with native libraries) + sources jar, aarch64 binaries, crates
	@PUBLISHED_CRATES="$(PUBLISHED_CRATES)" ./scripts/dist.sh

bench-python: setup-rust ## Python: pack/unpack ops/s against PyPI didcomm and the Rust core (BENCHMARKS.md)
	@./scripts/python.sh bench

bench-python-instructions: setup-rust ## Python: instructions per call against the Rust core, under valgrind (load-independent)
	@./scripts/python.sh bench-instructions

fmt: ## Format the code
	$(CARGO) fmt --all

lint: ## Formatting, clippy and rustdoc with warnings as errors, the dependency rules of deny.toml, one version
	@./scripts/version.sh check
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	@# Libraries only: the CLI's binary shares its name with the core's library.
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps --lib --locked
	$(CARGO) clippy -p didcomm-edge-wasm --target wasm32-unknown-unknown --locked -- -D warnings
	$(CARGO) clippy -p didcomm-edge-wasm --target wasm32-unknown-unknown --features sdk --locked -- -D warnings
	@# The Python extension (pyo3) is compiled only with the feature the wheel turns on.
	$(CARGO) clippy -p didcomm-edge-ffi --features python --all-targets --locked -- -D warnings
	@./scripts/setup.sh deny
	$(CARGO) deny --locked check licenses bans sources
	@# RustSec's advisory database lives on GitHub: checked wherever it can be fetched.
	@if timeout 120 $(CARGO) deny --locked fetch db >/dev/null 2>&1; then \
		$(CARGO) deny --locked check advisories; \
	else echo "cargo deny: the RustSec advisory database cannot be fetched from here; advisories not checked"; fi

fuzz: ## Run each fuzz target for a minute (needs nightly; installs cargo-fuzz)
	@./scripts/fuzz.sh

fuzz-campaign: ## 10^7 executions of each fuzz target (FUZZING.md; hours on 2 cores)
	@FUZZ_RUNS=10000000 ./scripts/fuzz.sh

clean: ## Remove build outputs
	$(CARGO) clean

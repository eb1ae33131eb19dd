# dr-harness: the two commands a new user needs.
#   make dr-exercise   run the full-rebuild drill against the built-in sandbox
#   make test          run every test (unit, integration, sandbox, scenario trials)

CARGO ?= cargo
# Extra arguments for the drill, e.g. `make dr-exercise DRILL_ARGS="--timing realistic"`
# or `make dr-exercise DRILL_ARGS="--profile fixtures/profiles/make-k3s.toml"`.
DRILL_ARGS ?=
# Installs (as root with apt-get) or names (exit 2, with the command to run) the tools the
# sandbox and the tests need; `make test SETUP=true` skips it.
SETUP ?= bash scripts/setup.sh

.PHONY: dr-exercise test build lint release release-image setup bench

dr-exercise:
	@$(SETUP) --for drill
	$(CARGO) run --quiet --bin dr-harness -- run full-rebuild --allow-destroy $(DRILL_ARGS)

# Destructive scenario trials are ignored by default (selectable like ignored tests);
# the full test run includes them. cargo-nextest runs the test binaries side by side (one
# process per test, settings in .config/nextest.toml); doc tests are run by cargo test, which
# nextest does not run. Without cargo-nextest, plain cargo test runs the same tests.
test:
	@$(SETUP) --for test
	$(CARGO) build --no-default-features --bin dr-harness
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --workspace --no-fail-fast --run-ignored all && \
		$(CARGO) test --workspace --doc; \
	else \
		$(CARGO) test --workspace --no-fail-fast -- --include-ignored; \
	fi

build:
	$(CARGO) build --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

# The release build `cargo install --path .` does.
release:
	$(CARGO) build --release --locked --bin dr-harness

# The release build the Containerfile runs: without the built-in sandbox (feature `sandbox`).
release-image:
	$(CARGO) build --release --locked --no-default-features --bin dr-harness

setup:
	$(SETUP) --for test
# One run of the benchmarks (release build); their tables land in BENCHMARKS.md with the date,
# the machine and its load. Benchmarks are not tests: nothing asserts a timing. The harness's
# benches (benches/*.rs) start their own sandbox, so they need root and busybox as the tests do.
bench:
	@set -e; out=BENCHMARKS.md.tmp; { \
	  echo "# Benchmarks"; echo; \
	  echo "Written by \`make bench\` in one run on $$(date -u +%Y-%m-%dT%H:%M:%SZ)."; \
	  echo "Machine: $$(nproc) cores ($$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')), $$(awk '/MemTotal/{printf "%.0f", $$2/1048576}' /proc/meminfo) GiB RAM; load average at the start: $$(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared: throughput is a lower bound)."; \
	  echo; echo "## Deep verification vs a plain GET of the same blocks (256 MiB, 1 GiB, 4 GiB)"; echo; \
	  DR_BENCH_MIB=256,1024,4096 DR_BENCH_ROUNDS=5 $(CARGO) bench -q -p dr-backupstore --bench deep_verify; \
	  echo; echo "The same with the S3 server in a process of its own (256 MiB, 1 GiB):"; echo; \
	  DR_BENCH_S3=process DR_BENCH_MIB=256,1024 DR_BENCH_ROUNDS=5 $(CARGO) bench -q -p dr-backupstore --bench deep_verify; \
	  echo; echo "## Incremental deep verification (1 GiB)"; echo; \
	  $(CARGO) bench -q -p dr-backupstore --bench incremental; \
	  echo; echo "## The full-rebuild drill on the built-in sandbox (fast timing)"; echo; \
	  $(CARGO) bench -q -p dr-harness --bench drill_time; \
	  echo; echo "## Gate detection lag (the sandbox's change → the harness's wait returns)"; echo; \
	  $(CARGO) bench -q -p dr-harness --bench gate_lag; \
	  echo; echo "## Sentinel write/verify through exec vs \`sha256sum\` on the same bytes"; echo; \
	  $(CARGO) bench -q -p dr-harness --bench sentinel_throughput; \
	  echo; echo "Load average at the end: $$(cut -d' ' -f1-3 /proc/loadavg)."; \
	} > $$out; mv $$out BENCHMARKS.md; cat BENCHMARKS.md

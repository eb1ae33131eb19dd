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

.PHONY: dr-exercise test build lint release setup

dr-exercise:
	@$(SETUP) --for drill
	$(CARGO) run --quiet --bin dr-harness -- run full-rebuild --allow-destroy $(DRILL_ARGS)

# Destructive scenario trials are ignored by default (selectable like ignored tests);
# the full test run includes them. cargo-nextest runs the test binaries side by side (one
# process per test, settings in .config/nextest.toml); doc tests are run by cargo test, which
# nextest does not run. Without cargo-nextest, plain cargo test runs the same tests.
test:
	@$(SETUP) --for test
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
	$(CARGO) clippy --workspace --all-targets

# The release build the Containerfile runs and `cargo install --path .` does.
release:
	$(CARGO) build --release --locked --bin dr-harness

setup:
	$(SETUP) --for test

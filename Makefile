# dr-harness: the two commands a new user needs.
#   make dr-exercise   run the full-rebuild drill against the built-in sandbox
#   make test          run every test (unit, integration, sandbox, scenario trials)

CARGO ?= cargo
# Extra arguments for the drill, e.g. `make dr-exercise DRILL_ARGS="--timing realistic"`
# or `make dr-exercise DRILL_ARGS="--profile fixtures/profiles/make-k3s.toml"`.
DRILL_ARGS ?=

.PHONY: dr-exercise test build lint

dr-exercise:
	$(CARGO) run --quiet --bin dr-harness -- run full-rebuild --allow-destroy $(DRILL_ARGS)

# Destructive scenario trials are ignored by default (selectable like ignored tests);
# the full test run includes them.
test:
	$(CARGO) test --workspace --no-fail-fast -- --include-ignored

build:
	$(CARGO) build --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets

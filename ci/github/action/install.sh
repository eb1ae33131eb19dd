#!/usr/bin/env bash
# The composite action's install step: use a dr-harness on PATH (DRH_INSTALL=auto), or build
# this action's own checkout with the documented release build (`cargo install --locked`).
set -euo pipefail
mode="${DRH_INSTALL:-auto}"
case "$mode" in auto|always|never) ;; *) echo "::error::install must be auto, always or never, not '$mode'"; exit 2 ;; esac
if [ "$mode" != always ] && command -v dr-harness >/dev/null 2>&1; then
  echo "using $(command -v dr-harness): $(dr-harness --version)"
  exit 0
fi
if [ "$mode" = never ]; then
  echo "::error::no dr-harness on PATH and install is 'never': put the binary on the runner or set install: auto"
  exit 2
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "::error::no dr-harness on PATH and no cargo to build one: use a runner with a Rust toolchain, or put the binary (Containerfile or 'cargo install --path .') on the runner"
  exit 2
fi
root="${RUNNER_TEMP:-/tmp}/dr-harness"
cargo install --locked --path "${GITHUB_ACTION_PATH:?}" --root "$root" --bin dr-harness
echo "$root/bin" >>"${GITHUB_PATH:?}"
"$root/bin/dr-harness" --version

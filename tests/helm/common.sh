# shellcheck shell=bash
# Shared by the helm test scripts: locate the pinned tools, isolate helm's config, and
# a tiny TAP writer (meson reads these scripts with protocol: 'tap').
#
# Skips (exit 77) only when neither the tools nor Go to build them exist; with Go at
# hand a missing tool is a failure that says how to install it.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CHART="$ROOT/helm/dockercoins"
# shellcheck source=tools/dc-tools-env
. "$ROOT/tools/dc-tools-env"

need_tool() {  # need_tool PATH WHAT
    [ -x "$1" ] && return 0
    if ! command -v go >/dev/null 2>&1; then
        echo "1..0 # SKIP $2 not installed and no Go toolchain to build it"
        exit 77
    fi
    echo "Bail out! $2 missing at $1: run tools/install-helm-tools first"
    exit 1
}
need_tool "$DC_HELM_BIN" "helm $DC_HELM_VERSION"
HELM=$DC_HELM_BIN

# A private helm home per run: no user repositories, plugins or caches leak in.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/dc-helm-test.XXXXXX")
export HELM_CACHE_HOME="$WORK/helm/cache" HELM_CONFIG_HOME="$WORK/helm/config" \
    HELM_DATA_HOME="$WORK/helm/data"
cleanup_hooks=()
cleanup() {
    local h
    for h in "${cleanup_hooks[@]}"; do eval "$h"; done
    [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
# meson's timeout sends SIGTERM: exit through the EXIT trap so etcd and kube-apiserver
# are stopped too.
trap 'exit 143' TERM INT

tap_n=0
tap_failed=0
ok() { tap_n=$((tap_n + 1)); echo "ok $tap_n - $*"; }
not_ok() { tap_n=$((tap_n + 1)); tap_failed=$((tap_failed + 1)); echo "not ok $tap_n - $*"; }
diag() { sed 's/^/# /'; }
# check "description" command...: run, report, show the output on failure.
check() {
    local desc=$1 out; shift
    if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc"; printf '%s\n' "$out" | diag; fi
}
finish() {
    echo "1..$tap_n"
    echo "# $((tap_n - tap_failed)) passed, $tap_failed failed"
    [ "$tap_failed" = 0 ]
}

ci_values() { ls "$CHART"/ci/*.yaml; }

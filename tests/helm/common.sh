# shellcheck shell=bash
# Shared by the helm test scripts: locate the pinned tools, isolate helm's config, and
# write TAP through tests/tap.sh (meson reads these scripts with protocol: 'tap').
#
# Skipped (TAP 1..0 # SKIP, exit 0) only when neither the tools nor Go to build them
# exist; with Go at hand a missing tool is a failure that says how to install it.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
CHART="$ROOT/helm/dockercoins"
# shellcheck source=tests/tap.sh
. "$ROOT/tests/tap.sh"
# shellcheck source=tools/dc-tools-env
. "$ROOT/tools/dc-tools-env"

need_tool() {  # need_tool PATH WHAT
    [ -x "$1" ] && return 0
    command -v go >/dev/null 2>&1 ||
        skip_all "$2 not installed and no Go toolchain to build it"
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

ci_values() { ls "$CHART"/ci/*.yaml; }

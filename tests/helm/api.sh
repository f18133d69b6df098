#!/usr/bin/env bash
# The chart against a real kube-apiserver (tests/k8s-harness: etcd + kube-apiserver on
# loopback, no nodes). For the defaults and every ci/ values file:
#   - every rendered object, the helm test Pod included, is created with dryRun=All and
#     fieldValidation=Strict: unknown or misplaced fields are errors, not warnings;
#   - helm install succeeds with no API warning on stderr (helm v3 sends no
#     fieldValidation, so the server's default "Warn" would only warn), and every
#     object of the release is there;
#   - helm upgrade with changed replica counts reaches the API objects;
#   - helm uninstall leaves no object of the release, nor helm's release Secrets.
# With the defaults it also plays the workshop's bad release: upgrade to it, then
# helm rollback, and checks the readiness probes before and after.
. "$(dirname "$0")/common.sh"
need_tool "$DC_KCHECK" "kcheck (tools/build-k8s-harness)"
need_tool "$DC_KUBE_APISERVER" "kube-apiserver $DC_KUBE_VERSION"
need_tool "$DC_ETCD" "etcd $DC_ETCD_VERSION"
K=$DC_KCHECK

t0=$SECONDS
cleanup_hooks+=('"$ROOT/tests/k8s-harness/k8s-harness" stop "$WORK/k8s"')
if ! "$ROOT/tests/k8s-harness/k8s-harness" start "$WORK/k8s" > "$WORK/harness.out" 2>&1; then
    echo "Bail out! the API server harness did not start"
    diag < "$WORK/harness.out"
    exit 1
fi
diag < "$WORK/harness.out"
# shellcheck disable=SC1091
. "$WORK/k8s/harness.env"
export KUBECONFIG
echo "# helm $("$HELM" version --template '{{.Version}}'), kube-apiserver $DC_KUBE_VERSION, etcd $DC_ETCD_VERSION"

# Helm output with API warnings (W.... klog lines, "Warning:") counts as a failure.
no_warnings() {  # no_warnings FILE
    if grep -qiE '^W[0-9]{4}|warning|unknown field' "$1"; then
        diag < "$1"
        return 1
    fi
}
# The objects of a release in the API, one "kind name" a line, sorted.
objects() {  # objects NAMESPACE RELEASE
    "$K" leftovers -n "$1" -selector "app.kubernetes.io/instance=$2" 2>/dev/null \
        | awk '{print $2}' | sort
}
field() { "$K" field -n "$1" "$2" "$3" "$4"; }

run_file() {  # run_file VALUES_FILE
    local f=$1 name ns rel out manifest want got hpa
    name=$(basename "$f" .yaml); name=${name%-values}
    ns="t-$name"; rel="dc-$name"
    out="$WORK/$name"; mkdir -p "$out"

    # 1. strict server-side validation of every object (dry run: nothing is stored).
    # The helm test Pod is checked after the install: admission looks up its
    # ServiceAccount, which a dry run of the release does not store.
    if "$HELM" template "$rel" "$CHART" -f "$f" --skip-tests > "$out/manifest.yaml" 2> "$out/template.err" \
        && "$K" strict-dry-run -n default "$out/manifest.yaml" > "$out/dry-run.out" 2>&1; then
        ok "$name: $(grep -c '^accepted' "$out/dry-run.out") objects accepted (dryRun, fieldValidation=Strict)"
    else
        not_ok "$name: strict validation"
        cat "$out/template.err" "$out/dry-run.out" | diag
    fi

    # 2. install
    if "$HELM" install "$rel" "$CHART" -f "$f" -n "$ns" --create-namespace --timeout 60s \
        > "$out/install.out" 2> "$out/install.err" && no_warnings "$out/install.err"; then
        ok "$name: helm install"
    else
        not_ok "$name: helm install"
        diag < "$out/install.err"
        return
    fi
    # every non-hook object of the manifest is in the API
    want=$("$HELM" get manifest "$rel" -n "$ns" | awk '/^kind:/{k=$2} /^  name:/{if(k){print k" "$2; k=""}}' | wc -l)
    got=$(objects "$ns" "$rel" | wc -l)
    if [ "$want" -gt 0 ] && [ "$got" = "$want" ]; then
        ok "$name: all $want objects of the release are in the API"
    else
        not_ok "$name: $got objects in the API, manifest has $want"
        objects "$ns" "$rel" | diag
    fi

    # the helm test hook Pods, now that their ServiceAccount exists
    if "$HELM" template "$rel" "$CHART" -f "$f" -n "$ns" -s templates/tests/test-hashes-increasing.yaml \
            -s templates/tests/test-audit.yaml > "$out/test-pod.yaml" 2> "$out/template.err" \
        && [ "$(grep -c '^kind: Pod$' "$out/test-pod.yaml")" = 2 ] \
        && "$K" strict-dry-run -n "$ns" "$out/test-pod.yaml" > "$out/dry-run.out" 2>&1; then
        ok "$name: helm test Pods (hashes, audit) accepted (dryRun, fieldValidation=Strict)"
    else
        not_ok "$name: helm test Pods strict validation"
        cat "$out/template.err" "$out/dry-run.out" | diag
    fi

    # 3. upgrade with changed replica counts (worker only when it has no HPA); a
    # generated CURVE seed / Redis password must survive it (helm looks the Secret up)
    local secret="$rel-dockercoins-secret" before=""
    if grep -q '^kind: Secret' "$out/manifest.yaml"; then
        before=$("$K" field -n "$ns" secrets "$secret" data 2>&1)
    fi
    hpa=$(grep -c '^kind: HorizontalPodAutoscaler' "$out/manifest.yaml" || true)
    # a blue/green webui: the upgrade also switches the Service to blue
    local webui="$rel-dockercoins-webui" bg=""
    if grep -q "^  name: $rel-dockercoins-webui-blue\$" "$out/manifest.yaml"; then
        webui="$rel-dockercoins-webui-blue" bg="webui.blueGreen.active=blue"
    fi
    if "$HELM" upgrade "$rel" "$CHART" -f "$f" -n "$ns" --set webui.replicas=3 \
            --set worker.replicas=7 ${bg:+--set "$bg"} > "$out/upgrade.out" 2> "$out/upgrade.err" \
        && no_warnings "$out/upgrade.err" \
        && [ "$(field "$ns" deployments.apps "$webui" spec.replicas)" = 3 ] \
        && { [ -z "$bg" ] || [ "$(field "$ns" services "$rel-dockercoins-webui" spec.selector.color)" = blue ]; } \
        && { [ "$hpa" -gt 0 ] || [ "$(field "$ns" deployments.apps "$rel-dockercoins-worker" spec.replicas)" = 7 ]; } \
        && [ "$("$HELM" status "$rel" -n "$ns" -o json | grep -o '"version":[0-9]*' | head -1)" = '"version":2' ]; then
        if [ -n "$before" ] && [ "$("$K" field -n "$ns" secrets "$secret" data 2>&1)" != "$before" ]; then
            not_ok "$name: helm upgrade changed the generated Secret"
        else
            ok "$name: helm upgrade to revision 2 changed the replica counts${before:+, kept the Secret}${bg:+, switched the webui Service to blue}"
        fi
    else
        not_ok "$name: helm upgrade"
        cat "$out/upgrade.err" | diag
    fi

    # 4. the bad-release demo, once
    if [ "$name" = default ]; then
        local w="$rel-dockercoins-worker" p='spec.template.spec.containers'
        if "$HELM" upgrade "$rel" "$CHART" -f "$f" -n "$ns" --reuse-values --set badRelease.enabled=true \
                > /dev/null 2> "$out/bad.err" && no_warnings "$out/bad.err" \
            && "$K" field -n "$ns" deployments.apps "$w" "$p" | grep -qE '"port":9[,}]' \
            && "$HELM" rollback "$rel" 2 -n "$ns" > /dev/null 2> "$out/rollback.err" \
            && ! "$K" field -n "$ns" deployments.apps "$w" "$p" | grep -qE '"port":9[,}]' \
            && "$K" field -n "$ns" deployments.apps "$w" "$p" | grep -q '"path":"/readyz","port":"health"'; then
            ok "$name: bad release (readiness on port 9) and helm rollback"
        else
            not_ok "$name: bad release and rollback"
            cat "$out/bad.err" "$out/rollback.err" 2>/dev/null | diag
        fi
    fi

    # 5. uninstall leaves nothing: no labelled object, no helm release Secret
    if "$HELM" uninstall "$rel" -n "$ns" --timeout 60s > "$out/uninstall.out" 2> "$out/uninstall.err" \
        && no_warnings "$out/uninstall.err" \
        && "$K" leftovers -n "$ns" -selector "app.kubernetes.io/instance=$rel" > "$out/left.out" 2>&1 \
        && "$K" leftovers -n "$ns" -selector "owner=helm,name=$rel" >> "$out/left.out" 2>&1; then
        ok "$name: helm uninstall left nothing behind"
    else
        not_ok "$name: helm uninstall"
        cat "$out/uninstall.err" "$out/left.out" | diag
    fi
}

# The checks have teeth: a copy of the chart with an unknown Deployment field is
# rejected by the strict dry run, and helm install warns about it.
bad="$WORK/bad-chart"
cp -r "$CHART" "$bad"
sed -i 's/^  revisionHistoryLimit: 5$/  revisionHistoryLimit: 5\n  bogusField: 1/' "$bad/templates/deployments.yaml"
"$HELM" template teeth "$bad" --skip-tests > "$WORK/teeth.yaml"
if ! "$K" strict-dry-run -n default "$WORK/teeth.yaml" > "$WORK/teeth.out" 2>&1 \
    && grep -q 'strict decoding error: unknown field "spec.bogusField"' "$WORK/teeth.out"; then
    ok "self-check: strict dry run rejects an unknown field"
else
    not_ok "self-check: strict dry run accepted spec.bogusField"
    diag < "$WORK/teeth.out"
fi
"$HELM" install teeth "$bad" -n teeth --create-namespace > /dev/null 2> "$WORK/teeth.err" || true
if ! no_warnings "$WORK/teeth.err" > /dev/null; then
    ok "self-check: helm install's API warnings are caught"
else
    not_ok "self-check: no warning from helm install for spec.bogusField"
fi
"$HELM" uninstall teeth -n teeth > /dev/null 2>&1 || true

run_file "$CHART/ci/default-values.yaml"
for f in $(ci_values); do
    [ "$(basename "$f")" = default-values.yaml ] || run_file "$f"
done
echo "# API tests took $((SECONDS - t0))s (harness start included)"
finish

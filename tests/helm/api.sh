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
# KEDA's CRDs (from the pinned module, tools/install-helm-tools) are loaded first, so
# ScaledObjects meet KEDA's own schema (its CEL rule included), not a missing kind.
# Then every value the Kubernetes chapter added (autoscaling.keda, the HPAs,
# worker.canary, webui.blueGreen, networkPolicy, priority, audit, viewer, Redis's
# StatefulSet) at the edges its schema allows: the API server accepts the objects.
# Where the schema leaves a value free-form (peers, subjects, quantities, cron) or a
# template guard stands in for a rule, a wrong value is shown rejected by the API server.
. "$(dirname "$0")/common.sh"
need_tool "$DC_KCHECK" "kcheck (tools/build-k8s-harness)"
need_tool "$DC_KUBE_APISERVER" "kube-apiserver $DC_KUBE_VERSION"
need_tool "$DC_ETCD" "etcd $DC_ETCD_VERSION"
if [ ! -f "$DC_KEDA_DIR/crds/keda.sh_scaledobjects.yaml" ]; then
    echo "Bail out! KEDA $DC_KEDA_VERSION CRDs missing in $DC_KEDA_DIR/crds: run tools/install-helm-tools first"
    exit 1
fi
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
if "$ROOT/tests/k8s-harness/k8s-harness" crds "$WORK/k8s" "$DC_KEDA_DIR/crds"/*.yaml > "$WORK/crds.out" 2>&1; then
    ok "KEDA $DC_KEDA_VERSION CRDs loaded: $(tail -n1 "$WORK/crds.out")"
else
    not_ok "KEDA CRDs not loaded"
    diag < "$WORK/crds.out"
fi
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
# The spec of one ScaledObject of a manifest as kcheck prints it (JSON, keys sorted).
so_spec() {  # so_spec MANIFEST NAME
    /usr/bin/python3 -c 'import json, sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ScaledObject" and d["metadata"]["name"] == sys.argv[2]:
        print(json.dumps(d["spec"], separators=(",", ":"), sort_keys=True))' "$1" "$2"
}

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

    # ScaledObjects: stored as installed (KEDA's CRD keeps every field), each aimed at a
    # Deployment of the release
    local so target
    "$HELM" get manifest "$rel" -n "$ns" > "$out/installed.yaml" 2>&1
    for so in $(awk '/^kind: ScaledObject$/{k=1} k && /^  name:/{print $2; k=0}' "$out/installed.yaml"); do
        target=$(field "$ns" scaledobjects.keda.sh "$so" spec.scaleTargetRef.name 2>&1)
        if [ "$(field "$ns" scaledobjects.keda.sh "$so" spec 2>&1)" = "$(so_spec "$out/installed.yaml" "$so")" ] \
            && field "$ns" deployments.apps "$target" metadata.name > /dev/null 2>&1; then
            ok "$name: ScaledObject $so stored as installed, scaling Deployment $target"
        else
            not_ok "$name: ScaledObject $so (target '$target')"
            field "$ns" scaledobjects.keda.sh "$so" spec 2>&1 | diag
        fi
    done

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

# --- the Kubernetes chapter's values, value by value ---------------------------------
# api_accept DESC HELM_ARGS...: every object rendered with them is accepted (strict dry run)
api_accept() {
    local desc=$1; shift
    if "$HELM" template "${edge_rel:-dc-edge}" "$CHART" --skip-tests "$@" > "$WORK/edge.yaml" 2> "$WORK/edge.err" \
        && "$K" strict-dry-run -n default "$WORK/edge.yaml" > "$WORK/edge.out" 2>&1; then
        ok "$desc: $(grep -c '^accepted' "$WORK/edge.out") objects accepted"
    else
        not_ok "$desc"
        cat "$WORK/edge.err" "$WORK/edge.out" | diag
    fi
}
# api_reject DESC WANT EDIT HELM_ARGS...: the rendering, edited by the sed script EDIT (when
# not empty: a rule the values schema or a template guard keeps out, put back in), is
# refused by the API server with a message matching WANT (grep -E)
api_reject() {
    local desc=$1 want=$2 edit=$3; shift 3
    if ! "$HELM" template dc-edge "$CHART" --skip-tests "$@" > "$WORK/edge.yaml" 2> "$WORK/edge.err"; then
        not_ok "$desc: helm template refused the values"
        diag < "$WORK/edge.err"
        return
    fi
    if [ -n "$edit" ]; then
        sed -e "$edit" "$WORK/edge.yaml" > "$WORK/edge-edited.yaml"
        if cmp -s "$WORK/edge.yaml" "$WORK/edge-edited.yaml"; then
            not_ok "$desc: the edit '$edit' changed nothing"
            return
        fi
        mv "$WORK/edge-edited.yaml" "$WORK/edge.yaml"
    fi
    if "$K" strict-dry-run -n default "$WORK/edge.yaml" > "$WORK/edge.out" 2>&1; then
        not_ok "$desc: accepted"
    elif grep -qE -- "$want" "$WORK/edge.out"; then
        ok "$desc: the API server refuses $(grep -m1 -oE "^REJECTED [A-Za-z]+ [^:]+" "$WORK/edge.out" | cut -d' ' -f2-)"
    else
        not_ok "$desc: message does not match /$want/"
        diag < "$WORK/edge.out"
    fi
}
keda=(--set autoscaling.keda.enabled=true)

# autoscaling.keda: ScaledObjects against KEDA's CRD
api_accept "autoscaling.keda at its upper edges" "${keda[@]}" --set autoscaling.keda.targetPerSlot=10 \
    --set hasher.concurrency=256 --set autoscaling.keda.pollingInterval=3600 \
    --set autoscaling.keda.scaleDownStabilizationSeconds=3600 --set autoscaling.keda.scaleUpStabilizationSeconds=3600 \
    --set autoscaling.keda.rng.minReplicas=1000 --set autoscaling.keda.rng.maxReplicas=1000 \
    --set autoscaling.keda.hasher.maxReplicas=1000
api_accept "autoscaling.keda at its lower edges" "${keda[@]}" --set-json autoscaling.keda.targetPerSlot=0.01 \
    --set hasher.concurrency=1 --set autoscaling.keda.pollingInterval=1 \
    --set autoscaling.keda.scaleDownStabilizationSeconds=0 --set autoscaling.keda.scaleUpStabilizationSeconds=0 \
    --set autoscaling.keda.hasher.maxReplicas=1
api_accept "autoscaling.keda with rng a DaemonSet (a ScaledObject for hasher only)" "${keda[@]}" --set rng.kind=DaemonSet
api_reject "KEDA's CRD: minReplicaCount above maxReplicaCount (the chart's guard taken out)" \
    "ScaledObject .*minReplicaCount must be less than or equal to maxReplicaCount" \
    's/^  minReplicaCount: 3$/  minReplicaCount: 4/' "${keda[@]}" \
    --set autoscaling.keda.rng.minReplicas=3 --set autoscaling.keda.rng.maxReplicas=3
api_reject "KEDA's CRD: a trigger's metadata value that is not a string (the chart quotes them)" \
    "ScaledObject .*targetValue.*must be of type string" 's/targetValue: "\(.*\)"$/targetValue: \1/' "${keda[@]}"
api_reject "KEDA's CRD: pollingInterval 0 (the schema's minimum 1)" \
    "ScaledObject .*pollingInterval.*greater than or equal to 1" 's/pollingInterval: 5$/pollingInterval: 0/' "${keda[@]}"
api_reject "KEDA's CRD: an unknown field (strict validation)" \
    'ScaledObject .*unknown field "spec.pollingIntervalSeconds"' \
    's/pollingInterval: 5$/pollingIntervalSeconds: 5/' "${keda[@]}"

# the CPU HorizontalPodAutoscalers (rng, hasher, worker)
api_accept "HPAs at their schema's edges" --set worker.autoscaling.enabled=true \
    --set worker.autoscaling.minReplicas=1000 --set worker.autoscaling.maxReplicas=1000 \
    --set worker.autoscaling.targetCPUUtilizationPercentage=1000 --set hasher.autoscaling.enabled=true \
    --set hasher.autoscaling.targetCPUUtilizationPercentage=1 --set rng.autoscaling.enabled=true
api_reject "HPA: maxReplicas below minReplicas (the chart's guard taken out)" \
    "HorizontalPodAutoscaler .*must be greater than or equal to .minReplicas" \
    's/^  maxReplicas: 5$/  maxReplicas: 4/' --set worker.autoscaling.enabled=true \
    --set worker.autoscaling.minReplicas=5 --set worker.autoscaling.maxReplicas=5

# worker.canary
api_accept "worker.canary: a 16-character track, its own tag and env, 0 stable workers" \
    --set worker.canary.enabled=true --set worker.canary.track=a23456789012345z \
    --set worker.canary.image.tag=0.2.0-rc1 --set worker.replicas=0 --set worker.canary.replicas=1000 \
    --set-json 'worker.canary.extraEnv=[{"name":"DC_CREDIT","value":"4"}]'
api_accept "worker.canary: a one-character track" --set worker.canary.enabled=true --set-string worker.canary.track=0
api_reject "worker.canary: a track ending in '-' (the schema's pattern keeps it out)" \
    "Deployment .*(RFC 1123|alphanumeric)" 's/zq9/zq9-/g' --set worker.canary.enabled=true \
    --set worker.canary.track=zq9

# webui.blueGreen
api_accept "webui.blueGreen: blue active, each color its own tag and env" --set webui.blueGreen.enabled=true \
    --set webui.blueGreen.blue.image.tag=0.1.0 --set webui.blueGreen.green.image.tag=0.2.0 \
    --set-json 'webui.blueGreen.green.extraEnv=[{"name":"DC_VERBOSE","value":"1"}]' --set webui.replicas=0
api_reject "webui.blueGreen: an env valueFrom of the wrong shape (free-form in the schema)" \
    'Deployment .*unknown field.*secretKeyRef.nam"' '' --set webui.blueGreen.enabled=true \
    --set-json 'webui.blueGreen.green.extraEnv=[{"name":"X","valueFrom":{"secretKeyRef":{"nam":"s","key":"k"}}}]'

# networkPolicy
api_accept "networkPolicy: peers of every kind" \
    --set-json 'networkPolicy.webuiFrom=[{"ipBlock":{"cidr":"10.0.0.0/8","except":["10.1.0.0/16"]}},{"podSelector":{"matchLabels":{"role":"frontend"}}}]' \
    --set-json 'networkPolicy.metricsFrom=[{"namespaceSelector":{"matchExpressions":[{"key":"team","operator":"In","values":["ops"]}]},"podSelector":{}}]'
api_reject "networkPolicy: a misspelled peer field (peers are free-form in the schema)" \
    'NetworkPolicy .*unknown field.*podSelectr' '' --set-json 'networkPolicy.webuiFrom=[{"podSelectr":{}}]'
api_reject "networkPolicy: a CIDR that is not one" 'NetworkPolicy .*cidr' '' \
    --set-json 'networkPolicy.metricsFrom=[{"ipBlock":{"cidr":"10.0.0.0/33"}}]'

# priority
api_accept "priority: values at the user range's edges" --set priority.pipeline=1000000000 \
    --set priority.worker=-2147483648
api_accept "priority: existing classes named, none created" --set priority.enabled=false \
    --set priority.existing.pipeline=high --set priority.existing.worker=low
api_reject "priority: a user class above 1000000000 (the schema's maximum keeps it out)" \
    'PriorityClass .*1000000000' 's/^value: 1000000000$/value: 1000000001/' --set priority.pipeline=1000000000

# audit
api_accept "audit CronJob at its edges" --set audit.cronJob.enabled=true \
    --set 'audit.cronJob.schedule=59 23 31 12 6' --set audit.cronJob.successfulJobsHistoryLimit=0 \
    --set audit.cronJob.failedJobsHistoryLimit=100 --set audit.cronJob.activeDeadlineSeconds=10
api_reject "audit: a schedule of cron's shape that is not cron (the schema checks the shape)" \
    'CronJob .*schedule' '' --set audit.cronJob.enabled=true --set 'audit.cronJob.schedule=61 * * * *'
api_reject "audit: a memory limit that is not a quantity (free-form in the schema)" \
    'CronJob .*quantit' '' --set audit.cronJob.enabled=true --set audit.resources.limits.memory=lots

# viewer
api_accept "viewer: a Group, a User and a ServiceAccount" --set viewer.enabled=true \
    --set-json 'viewer.subjects=[{"kind":"Group","name":"workshop","apiGroup":"rbac.authorization.k8s.io"},{"kind":"User","name":"alice","apiGroup":"rbac.authorization.k8s.io"},{"kind":"ServiceAccount","name":"ci","namespace":"tools"}]'

# Redis's StatefulSet
api_accept "Redis: its own StorageClass, ReadWriteOncePod, 512Mi, port 6380" \
    --set redis.persistence.storageClass=local-path --set-json 'redis.persistence.accessModes=["ReadWriteOncePod"]' \
    --set redis.persistence.size=512Mi --set redis.port=6380
api_accept "Redis without persistence (an emptyDir)" --set redis.persistence.enabled=false
api_reject "Redis: a StorageClass name that is not one (free-form in the schema)" \
    'StatefulSet .*storageClassName' '' --set redis.persistence.storageClass=Bad_Class
api_reject "Redis: a claim of size 0 (a quantity, as the schema asks)" \
    'StatefulSet .*must be greater than zero' '' --set-string redis.persistence.size=0

# helm's longest release name (53 characters) with every optional object on: every name
# within its kind's limit (a Service's 63, a CronJob's 52)
edge_rel=a2345678901234567890123456789012345678901234567890123 api_accept \
    "a 53-character release name, every optional object on" "${keda[@]}" --set worker.canary.enabled=true \
    --set webui.blueGreen.enabled=true --set audit.cronJob.enabled=true --set viewer.enabled=true \
    --set-json 'viewer.subjects=[{"kind":"Group","name":"workshop"}]' --set webui.ingress.enabled=true \
    --set worker.autoscaling.enabled=true

run_file "$CHART/ci/default-values.yaml"
for f in $(ci_values); do
    [ "$(basename "$f")" = default-values.yaml ] || run_file "$f"
done
echo "# API tests took $((SECONDS - t0))s (harness start included)"
finish

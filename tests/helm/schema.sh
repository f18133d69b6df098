#!/usr/bin/env bash
# values.schema.json rejects bad values with a message that names the value and the
# rule; template-level guards fail with a sentence. Each case asserts on the message.
. "$(dirname "$0")/common.sh"

# reject "description" "expected message (grep -E)" helm-args...
reject() {
    local desc=$1 want=$2 out; shift 2
    if out=$("$HELM" template dockercoins "$CHART" "$@" 2>&1); then
        not_ok "$desc: accepted"
        return
    fi
    if grep -qE -- "$want" <<<"$out"; then
        ok "$desc"
    else
        not_ok "$desc: message does not match /$want/"
        printf '%s\n' "$out" | diag
    fi
}

reject "negative replica count" \
    "at '/worker/replicas': minimum: got -1, want 0" --set worker.replicas=-1
reject "negative hasher replicas from a values file" \
    "at '/hasher/replicas': minimum: got -3, want 0" -f <(printf 'hasher:\n  replicas: -3\n')
reject "wrong type (string for integer)" \
    "at '/worker/replicas': got string, want integer" --set-string worker.replicas=3
reject "wrong type (number for boolean)" \
    "at '/raw': got number, want boolean" --set raw=1
reject "unknown top-level key (typo)" \
    "additional properties 'wroker' not allowed" --set wroker.replicas=2
reject "unknown nested key" \
    "at '/rng': additional properties 'replica' not allowed" --set rng.replica=2
reject "rng.kind outside Deployment|DaemonSet" \
    "at '/rng/kind': value must be one of 'Deployment', 'DaemonSet'" --set rng.kind=StatefulSet
reject "second broker" "at '/broker/replicas': value must be 1" --set broker.replicas=2
reject "batch above 4096" "at '/dispatcher/batch': maximum" --set dispatcher.batch=5000
reject "external Redis without a host" \
    "at '/externalRedis/host': minLength" --set redis.enabled=false
reject "bad-release role that has no readiness to break" \
    "at '/badRelease/roles/0': value must be one of" --set badRelease.roles[0]=redis
reject "HPA on a DaemonSet rng" \
    "rng.autoscaling.enabled needs rng.kind: Deployment" \
    --set rng.kind=DaemonSet --set rng.autoscaling.enabled=true
reject "CURVE key seed shorter than 32 characters" \
    "at '/secret/curveKeySeed': minLength: got 5, want 32" --set secret.curveKeySeed=short
reject "health port out of range" "at '/healthPort': maximum" --set healthPort=70000
reject "priority above the user range" "at '/priority/worker': maximum" --set priority.worker=2000000000
reject "viewer without subjects" "viewer.enabled needs viewer.subjects" --set viewer.enabled=true
reject "viewer subject of an unknown kind" "at '/viewer/subjects/0/kind': value must be one of" \
    --set-json 'viewer.subjects=[{"kind":"Robot","name":"r2"}]'
reject "audit schedule that is not cron syntax" \
    "at '/audit/cronJob/schedule': '30 minutes' does not match pattern" \
    --set audit.cronJob.enabled=true --set "audit.cronJob.schedule=30 minutes"
reject "audit: unknown nested key" \
    "at '/audit/cronJob': additional properties 'enable' not allowed" --set audit.cronJob.enable=true
reject "canary track named stable" "at '/worker/canary/track'" \
    --set worker.canary.enabled=true --set worker.canary.track=stable
reject "canary track with capitals" "at '/worker/canary/track': 'Canary' does not match pattern" \
    --set worker.canary.track=Canary
reject "canary track ending in '-' (not a valid label value or name)" \
    "at '/worker/canary/track': 'v2-' does not match pattern" --set worker.canary.track=v2-
reject "canary track starting with '-'" "at '/worker/canary/track': '-v2' does not match pattern" \
    --set worker.canary.track=-v2
reject "canary track of 17 characters" "at '/worker/canary/track': 'a234567890123456z' does not match pattern" \
    --set worker.canary.track=a234567890123456z
reject "canary image tag with a space" "at '/worker/canary/image/tag': 'a b' does not match pattern" \
    --set "worker.canary.image.tag=a b"
reject "green image tag starting with '.'" "at '/webui/blueGreen/green/image/tag': '.x' does not match pattern" \
    --set webui.blueGreen.green.image.tag=.x
reject "HPA range upside down" "worker.autoscaling: minReplicas 5 is above maxReplicas 2" \
    --set worker.autoscaling.enabled=true --set worker.autoscaling.minReplicas=5 \
    --set worker.autoscaling.maxReplicas=2
reject "KEDA maxReplicas above 1000" "at '/autoscaling/keda/hasher/maxReplicas': maximum" \
    --set autoscaling.keda.hasher.maxReplicas=1001
reject "blue/green active color outside blue|green" \
    "at '/webui/blueGreen/active': value must be one of 'blue', 'green'" --set webui.blueGreen.active=red
reject "KEDA target of 0 per slot" "at '/autoscaling/keda/targetPerSlot': exclusiveMinimum" \
    --set autoscaling.keda.enabled=true --set autoscaling.keda.targetPerSlot=0
reject "KEDA: unknown key" "at '/autoscaling/keda': additional properties 'enable' not allowed" \
    --set autoscaling.keda.enable=true
reject "KEDA range upside down" "autoscaling.keda.rng: minReplicas 5 is above maxReplicas 2" \
    --set autoscaling.keda.enabled=true --set autoscaling.keda.rng.minReplicas=5 \
    --set autoscaling.keda.rng.maxReplicas=2

# And the good neighbours of those values pass.
check "replicas 0 is allowed" "$HELM" template dockercoins "$CHART" --set worker.replicas=0
check "a viewer group" "$HELM" template dockercoins "$CHART" --set viewer.enabled=true \
    --set-json 'viewer.subjects=[{"kind":"Group","name":"workshop","apiGroup":"rbac.authorization.k8s.io"}]'
check "existing PriorityClasses instead of the chart's" "$HELM" template dockercoins "$CHART" \
    --set priority.enabled=false --set priority.existing.worker=low --set priority.existing.pipeline=high
check "external Redis with a host" "$HELM" template dockercoins "$CHART" \
    --set redis.enabled=false --set externalRedis.host=redis.example
check "a canary track of another name" "$HELM" template dockercoins "$CHART" \
    --set worker.canary.enabled=true --set worker.canary.track=v2-rc1
check "audit CronJob every hour (a macro)" "$HELM" template dockercoins "$CHART" \
    --set audit.cronJob.enabled=true --set audit.cronJob.schedule=@hourly
# KEDA on: ScaledObjects for rng and hasher in place of their CPU HPAs (the worker keeps
# its own), their Deployments leave replicas to them, the broker's Service shows /metrics.
keda_on() {
    local out
    out=$("$HELM" template dockercoins "$CHART" --set autoscaling.keda.enabled=true \
        --set rng.autoscaling.enabled=true --set worker.autoscaling.enabled=true) || return 1
    [ "$(grep -A3 '^kind: ScaledObject' <<<"$out" | grep -c 'name: dockercoins-\(rng\|hasher\)$')" = 2 ] &&
        [ "$(grep -A3 '^kind: HorizontalPodAutoscaler' <<<"$out" | grep '  name:')" = "  name: dockercoins-worker" ] &&
        grep -qF 'valueLocation: "dc_broker_service_demand{service=\"rng\"}"' <<<"$out" &&
        grep -qF 'targetValue: "14"' <<<"$out" &&
        sed -n '/^kind: Service$/,/^---/p' <<<"$out" | grep -q 'name: health'
}
check "KEDA: ScaledObjects for rng and hasher, CPU HPA for worker only" keda_on
check "KEDA off by default: no ScaledObject" bash -c '! "$0" template dockercoins "$1" | grep -q "^kind: ScaledObject"' \
    "$HELM" "$CHART"
finish

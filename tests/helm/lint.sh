#!/usr/bin/env bash
# helm lint --strict and helm template, with the defaults and every ci/ values file;
# every values.yaml key documented; and what each rendering must hold (STYLE.md):
# standard labels on every object, no hard-coded namespace, and on every container
# a read-only root, no capabilities, probes; no ServiceAccount token anywhere.
. "$(dirname "$0")/common.sh"

check "every key of values.yaml has a comment" awk -f "$HERE/values-doc.awk" "$CHART/values.yaml"

count() { grep -cE -- "$1" "$2" || true; }
policy() {  # policy MANIFEST
    local m=$1 objs pods images
    objs=$(count '^kind:' "$m")
    pods=$(count '^kind: (Deployment|DaemonSet|StatefulSet|Pod|CronJob|Job)$' "$m")
    images=$(count '^ +image:' "$m")
    [ "$objs" -gt 0 ] || { echo "no objects"; return 1; }
    local k want
    # (name/instance/component also sit in selectors; these four only in metadata.labels,
    # from the same helper)
    for k in 'helm.sh/chart' 'app.kubernetes.io/managed-by: Helm' 'app.kubernetes.io/version' \
             'app.kubernetes.io/part-of'; do
        want=$(count "^    $k" "$m")
        [ "$want" = "$objs" ] || { echo "$k on $want of $objs objects"; return 1; }
    done
    if grep -nE '^ +namespace:' "$m"; then echo "hard-coded namespace"; return 1; fi
    [ "$(count '^ +automountServiceAccountToken: false' "$m")" -ge "$pods" ] \
        || { echo "a pod mounts a ServiceAccount token"; return 1; }
    for k in 'readOnlyRootFilesystem: true' 'allowPrivilegeEscalation: false' '- ALL$' \
             'runAsNonRoot: true'; do
        [ "$(count "^ +$k" "$m")" -ge "$images" ] || { echo "$k missing on a container"; return 1; }
    done
    # every long-running container has liveness and readiness; run-once pods (the helm
    # test Pods, the audit CronJob's) have none: one container each, restartPolicy Never
    local once
    once=$(count '^ +restartPolicy: Never' "$m")
    for k in livenessProbe readinessProbe; do
        [ "$(count "^ +$k:" "$m")" = "$((images - once))" ] || { echo "$k missing"; return 1; }
    done
}

check "helm lint --strict (defaults)" "$HELM" lint --strict "$CHART"
check "helm template (defaults)" "$HELM" template dockercoins "$CHART"
"$HELM" template dockercoins "$CHART" > "$WORK/default.yaml" 2>&1
check "labels, namespace, security, probes (defaults)" policy "$WORK/default.yaml"
for f in $(ci_values); do
    n=ci/$(basename "$f")
    check "helm lint --strict -f $n" "$HELM" lint --strict "$CHART" -f "$f"
    check "helm template -f $n" "$HELM" template dockercoins "$CHART" -f "$f"
    "$HELM" template dockercoins "$CHART" -f "$f" > "$WORK/r.yaml" 2>&1
    check "labels, namespace, security, probes -f $n" policy "$WORK/r.yaml"
done
finish

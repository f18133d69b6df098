#!/usr/bin/env bash
# helm lint --strict and helm template, with the defaults and every ci/ values file.
. "$(dirname "$0")/common.sh"

check "helm lint --strict (defaults)" "$HELM" lint --strict "$CHART"
check "helm template (defaults)" "$HELM" template dockercoins "$CHART"
for f in $(ci_values); do
    n=ci/$(basename "$f")
    check "helm lint --strict -f $n" "$HELM" lint --strict "$CHART" -f "$f"
    check "helm template -f $n" "$HELM" template dockercoins "$CHART" -f "$f"
done
finish

{{/*
Names, labels and the shared pod template of the dockercoins chart.
Every pipeline role (broker, rng, hasher, dispatcher, worker, webui) is the same image
with a different command, so one pod template ("dockercoins.pod") serves them all and
each role only adds its environment ("dockercoins.env.<role>") and ports.
*/}}

{{- define "dockercoins.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Full name prefix: <release>-<chart>, or the release name when it already contains the
chart name. Truncated to leave room for "-dispatcher" within the 63-character limit.
*/}}
{{- define "dockercoins.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "dockercoins.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Selector labels of one component: call with (dict "root" $ "component" "worker"). With
"track" (workers: stable, canary) or "color" (blue/green webui) in the dict, that label
too: each worker or webui Deployment selects only its own pods, while a selector made
without them (PodDisruptionBudget, NetworkPolicy) covers them all.
*/}}
{{- define "dockercoins.selectorLabels" -}}
app.kubernetes.io/name: {{ include "dockercoins.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- with .track }}
track: {{ . | quote }}
{{- end }}
{{- with .color }}
color: {{ . | quote }}
{{- end }}
{{- end }}

{{/* Standard labels of one component: call with (dict "root" $ "component" "worker"). */}}
{{- define "dockercoins.labels" -}}
helm.sh/chart: {{ include "dockercoins.chart" .root }}
{{ include "dockercoins.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: dockercoins
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Name of one component's objects: <fullname>-<component>. */}}
{{- define "dockercoins.componentName" -}}
{{- printf "%s-%s" (include "dockercoins.fullname" .root) .component }}
{{- end }}

{{- /* The PriorityClass of a class ("pipeline" or "worker"): created by the chart
(priorityclass.yaml) or named in priority.existing; empty when neither. */}}
{{- define "dockercoins.priorityClassName" -}}
{{- if .root.Values.priority.enabled }}
{{- printf "%s-%s-%s" .root.Release.Namespace (include "dockercoins.fullname" .root) .class | trunc 253 }}
{{- else }}
{{- index .root.Values.priority.existing .class }}
{{- end }}
{{- end }}

{{- define "dockercoins.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "dockercoins.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The project image: repository:tag, the tag defaulting to the chart's appVersion. */}}
{{- define "dockercoins.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The image of one pod template: its own tag (a canary, a webui color) when set. */}}
{{- define "dockercoins.podImage" -}}
{{- $v := .root.Values }}
{{- printf "%s:%s" $v.image.repository (default (default .root.Chart.AppVersion $v.image.tag) .imageTag) }}
{{- end }}

{{/* Name of one component's Deployment: <fullname>-<component>[-<track>|-<color>]. */}}
{{- define "dockercoins.deploymentName" -}}
{{- $name := include "dockercoins.componentName" . }}
{{- if and .track (ne .track "stable") }}
{{- $name = printf "%s-%s" $name .track }}
{{- end }}
{{- if .color }}
{{- $name = printf "%s-%s" $name .color }}
{{- end }}
{{- $name }}
{{- end }}

{{- define "dockercoins.redisImage" -}}
{{- printf "%s:%s" .Values.redis.image.repository (default (default .Chart.AppVersion .Values.image.tag) .Values.redis.image.tag) }}
{{- end }}

{{/* HOST:PORT of Redis, in-release or external (the schema makes host required then). */}}
{{- define "dockercoins.redisAddr" -}}
{{- if .Values.redis.enabled }}
{{- printf "%s:%d" (include "dockercoins.componentName" (dict "root" . "component" "redis")) (int .Values.redis.port) }}
{{- else }}
{{- if not .Values.externalRedis.host }}
{{- fail "externalRedis.host is required when redis.enabled is false" }}
{{- end }}
{{- printf "%s:%d" .Values.externalRedis.host (int .Values.externalRedis.port) }}
{{- end }}
{{- end }}

{{- define "dockercoins.brokerEndpoint" -}}
{{- printf ">tcp://%s:5555" (include "dockercoins.componentName" (dict "root" . "component" "broker")) }}
{{- end }}

{{/*
Redis AUTH in use: the in-release Redis with security.redisAuth, or an external Redis
whose password is in values or in an existing Secret.
*/}}
{{- define "dockercoins.redisAuth" -}}
{{- if and .Values.security.redisAuth (or .Values.redis.enabled .Values.secret.redisPassword .Values.secret.existingSecret) }}true{{ end }}
{{- end }}

{{/* The Secret is needed for CURVE (the key seed) or Redis AUTH. */}}
{{- define "dockercoins.secretEnabled" -}}
{{- if or .Values.security.curve (include "dockercoins.redisAuth" .) }}true{{ end }}
{{- end }}

{{- define "dockercoins.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- printf "%s-secret" (include "dockercoins.fullname" .) }}
{{- end }}
{{- end }}

{{/* Where the Secret is mounted in the pods. */}}
{{- define "dockercoins.secretDir" -}}/etc/dockercoins/secret{{- end }}

{{/*
Security environment of a role: CURVE for the ZeroMQ roles, the Redis password file for
the Redis clients. Call with (dict "root" $ "component" "broker").
*/}}
{{- define "dockercoins.env.security" -}}
{{- $root := .root }}
{{- $dir := include "dockercoins.secretDir" $root }}
{{- if has .component (list "broker" "rng" "hasher" "dispatcher" "worker") }}
{{- if $root.Values.security.curve }}
- name: DC_KEY_SEED_FILE
  value: {{ printf "%s/curve-key-seed" $dir | quote }}
{{- else }}
- name: DC_INSECURE
  value: "1"
{{- end }}
{{- end }}
{{- if and (has .component (list "broker" "dispatcher" "webui" "audit")) (include "dockercoins.redisAuth" $root) }}
- name: DC_REDIS_PASSWORD_FILE
  value: {{ printf "%s/redis-password" $dir | quote }}
{{- end }}
{{- end }}

{{/*
The Secret's keys a role needs, as a secret volume's items: each pod gets only those (the
webui, the exposed pod, never sees the CURVE seed; rng, hasher and workers never see the
Redis password). Same call as dockercoins.env.security.
*/}}
{{- define "dockercoins.secretItems" -}}
{{- $root := .root }}
{{- if and (has .component (list "broker" "rng" "hasher" "dispatcher" "worker")) $root.Values.security.curve }}
- key: curve-key-seed
  path: curve-key-seed
{{- end }}
{{- if and (has .component (list "broker" "dispatcher" "webui" "audit")) (include "dockercoins.redisAuth" $root) }}
- key: redis-password
  path: redis-password
{{- end }}
{{- end }}

{{/* Environment of each role (docs/runtime.md). */}}
{{- define "dockercoins.env.broker" -}}
- name: DC_BROKER_BIND
  value: "@tcp://*:5555"
- name: DC_REDIS
  value: {{ ternary (include "dockercoins.redisAddr" .) "" .Values.broker.stats | quote }}
- name: DC_HEARTBEAT_MS
  value: {{ .Values.broker.heartbeatMs | quote }}
- name: DC_MAX_QUEUE
  value: {{ .Values.broker.maxQueue | quote }}
- name: DC_MAX_WAIT_MS
  value: {{ .Values.broker.maxWaitMs | quote }}
{{- end }}

{{- define "dockercoins.env.mdpWorker" -}}
- name: DC_BROKER
  value: {{ include "dockercoins.brokerEndpoint" .root | quote }}
- name: DC_DELAY_MS
  value: {{ .cfg.delayMs | quote }}
- name: DC_HEARTBEAT_MS
  value: {{ .cfg.heartbeatMs | quote }}
{{- if .root.Values.raw }}
- name: DC_RAW
  value: "1"
{{- end }}
{{- end }}

{{- define "dockercoins.env.rng" -}}
{{ include "dockercoins.env.mdpWorker" (dict "root" . "cfg" .Values.rng) }}
{{- end }}

{{- define "dockercoins.env.hasher" -}}
{{ include "dockercoins.env.mdpWorker" (dict "root" . "cfg" .Values.hasher) }}
- name: DC_CONCURRENCY
  value: {{ .Values.hasher.concurrency | quote }}
{{- end }}

{{- define "dockercoins.env.dispatcher" -}}
- name: DC_JOBS_BIND
  value: "@tcp://*:5556"
- name: DC_RESULTS_BIND
  value: "@tcp://*:5557"
- name: DC_REDIS
  value: {{ include "dockercoins.redisAddr" . | quote }}
- name: DC_BATCH
  value: {{ .Values.dispatcher.batch | quote }}
- name: DC_JOB_TIMEOUT_MS
  value: {{ .Values.dispatcher.jobTimeoutMs | quote }}
- name: DC_WINDOW
  value: {{ .Values.dispatcher.window | quote }}
{{- end }}

{{- define "dockercoins.env.worker" -}}
{{- $d := include "dockercoins.componentName" (dict "root" . "component" "dispatcher") }}
- name: DC_BROKER
  value: {{ include "dockercoins.brokerEndpoint" . | quote }}
- name: DC_JOBS
  value: {{ printf ">tcp://%s:5556" $d | quote }}
- name: DC_RESULTS
  value: {{ printf ">tcp://%s:5557" $d | quote }}
- name: DC_DELAY_MS
  value: {{ .Values.worker.delayMs | quote }}
- name: DC_TIMEOUT_MS
  value: {{ .Values.worker.timeoutMs | quote }}
{{- if .Values.raw }}
- name: DC_RAW
  value: "1"
{{- end }}
{{- end }}

{{- define "dockercoins.env.webui" -}}
- name: DC_WEBUI_PORT
  value: {{ .Values.webui.port | quote }}
- name: DC_REDIS
  value: {{ include "dockercoins.redisAddr" . | quote }}
{{- end }}

{{/* Container ports of each role besides the health port. */}}
{{- define "dockercoins.ports.broker" -}}
- name: mdp
  containerPort: 5555
  protocol: TCP
{{- end }}
{{- define "dockercoins.ports.dispatcher" -}}
- name: jobs
  containerPort: 5556
  protocol: TCP
- name: results
  containerPort: 5557
  protocol: TCP
{{- end }}
{{- define "dockercoins.ports.webui" -}}
- name: http
  containerPort: {{ .Values.webui.port }}
  protocol: TCP
{{- end }}

{{- define "dockercoins.badRelease" -}}
{{- if and .root.Values.badRelease.enabled (has .component .root.Values.badRelease.roles) }}true{{ end }}
{{- end }}

{{/*
Pod template of a pipeline role. Call with (dict "root" $ "component" "worker").
Readiness is the binary's own /readyz (it answers 200 only once connected to its
peers), so a rollout waits for pods that really work. The "bad release" switch points
readiness at port 9, where nothing listens: the pod runs, is never ready.
*/}}
{{- define "dockercoins.pod" -}}
{{- $root := .root }}
{{- $v := $root.Values }}
{{- $cfg := index $v .component }}
{{- $bad := include "dockercoins.badRelease" . }}
metadata:
  labels:
    {{- include "dockercoins.labels" . | nindent 4 }}
  {{- $ann := merge (dict) $cfg.podAnnotations $v.podAnnotations }}
  {{- if $bad }}
  {{- $_ := set $ann "dockercoins/bad-release" "true" }}
  {{- end }}
  {{- if include "dockercoins.secretEnabled" $root }}
  {{- /* from values only: a generated seed/password is kept across upgrades anyway */}}
  {{- $_ := set $ann "checksum/secret" (toJson $v.secret | sha256sum) }}
  {{- end }}
  {{- with $ann }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
spec:
  serviceAccountName: {{ include "dockercoins.serviceAccountName" $root }}
  automountServiceAccountToken: false
  {{- with include "dockercoins.priorityClassName" (dict "root" $root "class" (ternary "worker" "pipeline" (eq .component "worker"))) }}
  priorityClassName: {{ . }}
  {{- end }}
  enableServiceLinks: false
  terminationGracePeriodSeconds: {{ $v.terminationGracePeriodSeconds }}
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- toYaml $v.podSecurityContext | nindent 4 }}
  containers:
    - name: {{ .component }}
      image: {{ include "dockercoins.podImage" . | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      command: ["dc-{{ .component }}"]
      env:
        - name: DC_HTTP
          value: {{ $v.healthPort | quote }}
        {{- include (printf "dockercoins.env.%s" .component) $root | trim | nindent 8 }}
        {{- with include "dockercoins.env.security" . | trim }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $v.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with .track }}
        - name: DC_TRACK
          value: {{ . | quote }}
        {{- end }}
        {{- with $cfg.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
        {{- with .extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: health
          containerPort: {{ $v.healthPort }}
          protocol: TCP
        {{- if has .component (list "broker" "dispatcher" "webui") }}
        {{- include (printf "dockercoins.ports.%s" .component) $root | trim | nindent 8 }}
        {{- end }}
      {{- /*
      dc-webui differs from the pipeline binaries: it serves no /readyz, and its /healthz
      answers 503 while Redis is unreachable or its snapshot is stale - a readiness
      signal. So webui's readiness asks /healthz, and its startup/liveness only check
      that the listener accepts (restarting the UI would not bring Redis back).
      */}}
      {{- $webui := eq .component "webui" }}
      {{- with $v.probes.startup }}
      {{- if .enabled }}
      startupProbe:
        {{- if $webui }}
        tcpSocket:
          port: health
        {{- else }}
        httpGet:
          path: /healthz
          port: health
        {{- end }}
        periodSeconds: {{ .periodSeconds }}
        failureThreshold: {{ .failureThreshold }}
      {{- end }}
      {{- end }}
      {{- with $v.probes.liveness }}
      {{- if .enabled }}
      livenessProbe:
        {{- if $webui }}
        tcpSocket:
          port: health
        {{- else }}
        httpGet:
          path: /healthz
          port: health
        {{- end }}
        initialDelaySeconds: {{ .initialDelaySeconds }}
        periodSeconds: {{ .periodSeconds }}
        timeoutSeconds: {{ .timeoutSeconds }}
        failureThreshold: {{ .failureThreshold }}
      {{- end }}
      {{- end }}
      {{- if or $v.probes.readiness.enabled $bad }}
      {{- with $v.probes.readiness }}
      readinessProbe:
        httpGet:
          path: {{ ternary "/healthz" "/readyz" $webui }}
          {{- if $bad }}
          # bad release: nothing listens on port 9, so this pod never becomes ready
          port: 9
          {{- else }}
          port: health
          {{- end }}
        initialDelaySeconds: {{ .initialDelaySeconds }}
        periodSeconds: {{ .periodSeconds }}
        timeoutSeconds: {{ .timeoutSeconds }}
        failureThreshold: {{ .failureThreshold }}
      {{- end }}
      {{- end }}
      {{- if gt (int $v.preStopSleepSeconds) 0 }}
      lifecycle:
        preStop:
          sleep:
            seconds: {{ $v.preStopSleepSeconds }}
      {{- end }}
      {{- with $cfg.resources }}
      resources:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml $v.securityContext | nindent 8 }}
      {{- $secret := and (include "dockercoins.secretEnabled" $root) (include "dockercoins.env.security" . | trim) }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if $secret }}
        - name: secret
          mountPath: {{ include "dockercoins.secretDir" $root }}
          readOnly: true
        {{- end }}
  volumes:
    - name: tmp
      emptyDir:
        sizeLimit: 16Mi
    {{- if $secret }}
    - name: secret
      secret:
        secretName: {{ include "dockercoins.secretName" $root }}
        defaultMode: 0440
        items:
          {{- include "dockercoins.secretItems" . | nindent 10 }}
    {{- end }}
  {{- with include "dockercoins.scheduling" (dict "root" $root "cfg" $cfg) | trim }}{{ . | nindent 2 }}{{ end }}
{{- end }}

{{/*
Pod spec of dc-audit, the batch job (docs/runtime.md): the `helm test` hook Pod and the
optional CronJob's Jobs. Read-only on Redis; of the Secret it sees the Redis password
only. Run once: no probes, restartPolicy Never (a failed audit is the answer, not a
crash to restart).
*/}}
{{- define "dockercoins.auditPodSpec" -}}
{{- $v := .Values }}
{{- $ctx := dict "root" . "component" "audit" }}
{{- $secret := and (include "dockercoins.secretEnabled" .) (include "dockercoins.env.security" $ctx | trim) }}
restartPolicy: Never
serviceAccountName: {{ include "dockercoins.serviceAccountName" . }}
automountServiceAccountToken: false
{{- /* a batch job: the workers' class, below the roles everyone shares */}}
{{- with include "dockercoins.priorityClassName" (dict "root" . "class" "worker") }}
priorityClassName: {{ . }}
{{- end }}
enableServiceLinks: false
{{- with $v.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  {{- toYaml $v.podSecurityContext | nindent 2 }}
containers:
  - name: audit
    image: {{ include "dockercoins.image" . | quote }}
    imagePullPolicy: {{ $v.image.pullPolicy }}
    command: ["dc-audit"]
    env:
      - name: DC_REDIS
        value: {{ include "dockercoins.redisAddr" . | quote }}
      {{- with include "dockercoins.env.security" $ctx | trim }}
      {{- . | nindent 6 }}
      {{- end }}
    {{- with $v.audit.resources }}
    resources:
      {{- toYaml . | nindent 6 }}
    {{- end }}
    securityContext:
      {{- toYaml $v.securityContext | nindent 6 }}
    {{- if $secret }}
    volumeMounts:
      - name: secret
        mountPath: {{ include "dockercoins.secretDir" . }}
        readOnly: true
    {{- end }}
{{- if $secret }}
volumes:
  - name: secret
    secret:
      secretName: {{ include "dockercoins.secretName" . }}
      defaultMode: 0440
      items:
        {{- include "dockercoins.secretItems" $ctx | trim | nindent 8 }}
{{- end }}
{{- with include "dockercoins.scheduling" (dict "root" . "cfg" (dict "nodeSelector" (dict))) | trim }}
{{ . }}
{{- end }}
{{- end }}

{{/* nodeSelector (role merged over global), tolerations and affinity (role replaces global). */}}
{{- define "dockercoins.scheduling" -}}
{{- $v := .root.Values }}
{{- with merge (dict) .cfg.nodeSelector $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $v.tolerations .cfg.tolerations) }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $v.affinity .cfg.affinity) }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* Deployment update strategy: Recreate for the single broker/dispatcher. */}}
{{- define "dockercoins.strategy" -}}
{{- if has .component (list "broker" "dispatcher") }}
type: Recreate
{{- else }}
type: RollingUpdate
rollingUpdate:
  maxSurge: {{ .root.Values.rollingUpdate.maxSurge }}
  maxUnavailable: {{ .root.Values.rollingUpdate.maxUnavailable }}
{{- end }}
{{- end }}

{{/*
Names. The StatefulSet, its pods and the client Service carry the full name; the
headless Service that gives every pod its stable DNS name is "<full name>-headless".
*/}}
{{- define "gregor.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "gregor.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gregor.headlessName" -}}
{{- printf "%s-headless" (include "gregor.fullname" . | trunc 54 | trimSuffix "-") }}
{{- end }}

{{- define "gregor.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gregor.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "gregor.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "gregor.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "gregor.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gregor.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/*
The DNS suffix after "<pod>." that makes a pod's stable address.
*/}}
{{- define "gregor.podDomain" -}}
{{- printf "%s.%s.svc.%s" (include "gregor.headlessName" .) .Release.Namespace .Values.clusterDomain }}
{{- end }}

{{/* The port of a "host:port" or "[v6]:port" bind address. */}}
{{- define "gregor.port" -}}
{{- splitList ":" . | last }}
{{- end }}

{{/* A listener name as a Kubernetes port name (lower case, "-", at most 15 characters). */}}
{{- define "gregor.portName" -}}
{{- . | lower | replace "_" "-" | trunc 15 | trimSuffix "-" }}
{{- end }}

{{/*
The listener that carries replication and the Raft quorum when replicas > 1.
*/}}
{{- define "gregor.interBrokerListener" -}}
{{- $cluster := .Values.config.cluster | default dict }}
{{- $cluster.inter_broker_listener | default "INTERNAL" }}
{{- end }}

{{/*
The effective listener list, as JSON (templates can only return strings): the
configured listeners, plus a plaintext INTERNAL listener on 9093 when replicas > 1 and
the configured ones do not already name the inter-broker listener.
*/}}
{{- define "gregor.listeners" -}}
{{- $listeners := deepCopy .Values.config.listeners }}
{{- if gt (int .Values.replicas) 1 }}
{{- $inter := include "gregor.interBrokerListener" . }}
{{- $found := false }}
{{- range $listeners }}
{{- if eq .name $inter }}{{ $found = true }}{{ end }}
{{- end }}
{{- if not $found }}
{{- $listeners = append $listeners (dict "name" $inter "bind" "0.0.0.0:9093" "security" "plaintext") }}
{{- end }}
{{- end }}
{{- toJson $listeners }}
{{- end }}

{{/*
The gregor config file: `.Values.config` with the chart's additions (the INTERNAL
listener and the `cluster:` section when replicas > 1; a single node has no
`cluster:`, whatever `.Values.config.cluster` says). node_id and the advertised
addresses are not in the file: the entrypoint sets them per pod.
Sections come out in the order of config/single-node.yaml; anything unknown is
still rendered, so that gregor rejects it at start rather than the chart hiding it.
*/}}
{{- define "gregor.configFile" -}}
{{- $cfg := deepCopy .Values.config }}
{{- $_ := set $cfg "listeners" (include "gregor.listeners" . | fromJsonArray) }}
{{- $_ := unset $cfg "cluster" }}
{{- if gt (int .Values.replicas) 1 }}
{{- $cluster := deepCopy (.Values.config.cluster | default dict) }}
{{- $inter := include "gregor.interBrokerListener" . }}
{{- $_ := set $cluster "inter_broker_listener" $inter }}
{{- if not $cluster.voters }}
{{- $port := "" }}
{{- range $cfg.listeners }}
{{- if eq .name $inter }}{{ $port = include "gregor.port" .bind }}{{ end }}
{{- end }}
{{- $voters := list }}
{{- $fullname := include "gregor.fullname" . }}
{{- $domain := include "gregor.podDomain" . }}
{{- range $i := until (int .Values.replicas) }}
{{- $voters = append $voters (printf "%d@%s-%d.%s:%s" (add1 $i) $fullname $i $domain $port) }}
{{- end }}
{{- $_ := set $cluster "voters" $voters }}
{{- end }}
{{- $_ := set $cfg "cluster" $cluster }}
{{- end }}
{{- $order := list "data_dir" "listeners" "admin" "limits" "log" "broker" "cluster" "users" "super_users" "acls" "authorizer" }}
{{- range $key := $order }}
{{- if hasKey $cfg $key }}
{{ dict $key (get $cfg $key) | toYaml }}
{{- end }}
{{- end }}
{{- range $key, $value := $cfg }}
{{- if not (has $key $order) }}
{{ dict $key $value | toYaml }}
{{- end }}
{{- end }}
{{- end }}

{{/*
Renders nothing; stops the render with a message when values contradict each other
in ways the schema cannot express.
*/}}
{{- define "gregor.validate" -}}
{{- $v := .Values }}
{{- $mount := trimSuffix "/" $v.persistence.mountPath }}
{{- if not (hasPrefix (printf "%s/" $mount) (toString $v.config.data_dir)) }}
{{- fail (printf "config.data_dir (%s) must lie under persistence.mountPath (%s): the root filesystem is read-only" (toString $v.config.data_dir) $mount) }}
{{- end }}
{{- $drainMs := 10000 }}
{{- if and $v.config.limits (hasKey $v.config.limits "shutdown_drain_ms") }}
{{- $drainMs = int64 $v.config.limits.shutdown_drain_ms }}
{{- end }}
{{- if le (mul (int64 $v.terminationGracePeriodSeconds) 1000) (int64 $drainMs) }}
{{- fail (printf "terminationGracePeriodSeconds (%v) must exceed config.limits.shutdown_drain_ms (%v ms), or pods are killed before the final flush" $v.terminationGracePeriodSeconds $drainMs) }}
{{- end }}
{{- $broker := $v.config.broker | default dict }}
{{- $rf := int (get $broker "default.replication.factor" | default 1) }}
{{- $isr := int (get $broker "min.insync.replicas" | default 1) }}
{{- if gt $rf (int $v.replicas) }}
{{- fail (printf "config.broker default.replication.factor (%d) exceeds replicas (%d): topics created with it would fail" $rf (int $v.replicas)) }}
{{- end }}
{{- if gt $isr $rf }}
{{- fail (printf "config.broker min.insync.replicas (%d) exceeds default.replication.factor (%d): acks=all produce would always fail" $isr $rf) }}
{{- end }}
{{- range $l := $v.config.listeners }}
{{- if and $l.advertised (gt (int $v.replicas) 1) }}
{{- fail (printf "config.listeners %s: advertised is set, so every pod would advertise the same address; leave it out when replicas > 1 (each pod advertises its own DNS name)" $l.name) }}
{{- end }}
{{- if and $l.tls (not $v.tls.existingSecret) (not $v.extraSecretMounts) }}
{{- fail (printf "config.listeners %s has tls: name the Secret with the certificate in tls.existingSecret" $l.name) }}
{{- end }}
{{- end }}
{{- range $u := $v.config.users | default list }}
{{- if and $u.password_file (hasPrefix (printf "%s/" (trimSuffix "/" $v.sasl.mountPath)) (toString $u.password_file)) (not $v.sasl.existingSecret) }}
{{- fail (printf "config.users %s reads %s: name the Secret holding the passwords in sasl.existingSecret" $u.name (toString $u.password_file)) }}
{{- end }}
{{- end }}
{{- end }}

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
The listener followers fetch over when replicas > 1: config.cluster.inter_broker_listener
if set (any security: with TLS or SASL, config.cluster.inter_broker_client says how
followers connect), else the first plaintext listener of config.listeners, else
INTERNAL (which gregor.listeners then adds, plaintext).
*/}}
{{- define "gregor.interBrokerListener" -}}
{{- $cluster := .Values.config.cluster | default dict }}
{{- $name := $cluster.inter_broker_listener | default "" }}
{{- if not $name }}
{{- range .Values.config.listeners }}
{{- if and (not $name) (eq (.security | default "plaintext") "plaintext") }}{{ $name = .name }}{{ end }}
{{- end }}
{{- end }}
{{- $name | default "INTERNAL" }}
{{- end }}

{{/*
"true" when the inter-broker listener carries only replication, so the client Service
leaves it out: the chart added it, or config.cluster.inter_broker_listener names it
and other listeners remain for clients. A plaintext listener the chart merely picked
stays a client listener too.
*/}}
{{- define "gregor.interBrokerOnly" -}}
{{- if gt (int .Values.replicas) 1 }}
{{- $cluster := .Values.config.cluster | default dict }}
{{- $inter := include "gregor.interBrokerListener" . }}
{{- $found := false }}
{{- range .Values.config.listeners }}
{{- if eq .name $inter }}{{ $found = true }}{{ end }}
{{- end }}
{{- if or (not $found) (and $cluster.inter_broker_listener (gt (len .Values.config.listeners) 1)) }}true{{ end }}
{{- end }}
{{- end }}

{{/*
The effective listener list, as JSON (templates can only return strings): the
configured listeners, plus a plaintext listener on 9094 named after the inter-broker
listener when replicas > 1 and config.listeners lacks it (with the default naming:
when none of them is plaintext). It carries replication inside the Kubernetes
network only; the Services never expose it to clients.
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
{{- $listeners = append $listeners (dict "name" $inter "bind" "0.0.0.0:9094" "security" "plaintext") }}
{{- end }}
{{- end }}
{{- toJson $listeners }}
{{- end }}

{{/*
The listeners the client Service exposes, as a JSON list.
*/}}
{{- define "gregor.clientListeners" -}}
{{- $inter := include "gregor.interBrokerListener" . }}
{{- $skip := include "gregor.interBrokerOnly" . }}
{{- $out := list }}
{{- range include "gregor.listeners" . | fromJsonArray }}
{{- if not (and $skip (eq .name $inter)) }}{{ $out = append $out . }}{{ end }}
{{- end }}
{{- toJson $out }}
{{- end }}

{{/*
The gregor config file: `.Values.config` with the chart's additions when replicas > 1
(the internal listener, if needed, and the `cluster:` section: voters = every pod's
DNS name on controllerPort, the controller endpoint bound there on every interface;
a single node has no `cluster:`, whatever `.Values.config.cluster` says). node_id
and the advertised addresses are not in the file: the entrypoint sets them per pod.
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
{{- $_ := set $cluster "controller_bind" (printf "0.0.0.0:%d" (int .Values.controllerPort)) }}
{{- if not $cluster.voters }}
{{- $port := int .Values.controllerPort }}
{{- $voters := list }}
{{- $fullname := include "gregor.fullname" . }}
{{- $domain := include "gregor.podDomain" . }}
{{- range $i := until (int .Values.replicas) }}
{{- $voters = append $voters (printf "%d@%s-%d.%s:%d" (add1 $i) $fullname $i $domain $port) }}
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
{{- /* Container ports: one name and one number each, or the pod cannot start. */}}
{{- $ports := dict }}
{{- $names := dict }}
{{- $open := list }}
{{- range $l := include "gregor.listeners" . | fromJsonArray }}
{{- $open = append $open (list (printf "listener %s" $l.name) (include "gregor.portName" $l.name) (include "gregor.port" $l.bind)) }}
{{- end }}
{{- $open = append $open (list "admin.bind" "admin" (include "gregor.port" $v.config.admin.bind)) }}
{{- if gt (int $v.replicas) 1 }}
{{- $open = append $open (list "controllerPort" "controller" (toString (int $v.controllerPort))) }}
{{- end }}
{{- range $p := $open }}
{{- $what := index $p 0 }}{{ $name := index $p 1 }}{{ $port := index $p 2 }}
{{- if hasKey $ports $port }}
{{- fail (printf "%s and %s both use port %s" (get $ports $port) $what $port) }}
{{- end }}
{{- if hasKey $names $name }}
{{- fail (printf "%s and %s both make the Kubernetes port name %q" (get $names $name) $what $name) }}
{{- end }}
{{- $_ := set $ports $port $what }}
{{- $_ := set $names $name $what }}
{{- end }}
{{- $client := ($v.config.cluster | default dict).inter_broker_client | default dict }}
{{- if gt (int $v.replicas) 1 }}
{{- $inter := include "gregor.interBrokerListener" . }}
{{- range $l := $v.config.listeners }}
{{- $security := $l.security | default "plaintext" }}
{{- if and (eq $l.name $inter) (hasSuffix "ssl" $security) (not $client.tls) }}
{{- fail (printf "config.cluster.inter_broker_listener %s is %s: set config.cluster.inter_broker_client.tls ({ ca: … }, files from a mounted Secret) so that followers can check their leaders' certificates" $inter $security) }}
{{- end }}
{{- if and (eq $l.name $inter) (hasPrefix "sasl" $security) (not $client.sasl) }}
{{- fail (printf "config.cluster.inter_broker_listener %s is %s: set config.cluster.inter_broker_client.sasl ({ mechanism, username, password_file }) for the user followers log in as" $inter $security) }}
{{- end }}
{{- end }}
{{- end }}
{{- with $client.sasl }}
{{- if and .password_file (hasPrefix (printf "%s/" (trimSuffix "/" $v.sasl.mountPath)) (toString .password_file)) (not $v.sasl.existingSecret) }}
{{- fail (printf "config.cluster.inter_broker_client.sasl reads %s: name the Secret holding the passwords in sasl.existingSecret" (toString .password_file)) }}
{{- end }}
{{- end }}
{{- range $u := $v.config.users | default list }}
{{- if and $u.password_file (hasPrefix (printf "%s/" (trimSuffix "/" $v.sasl.mountPath)) (toString $u.password_file)) (not $v.sasl.existingSecret) }}
{{- fail (printf "config.users %s reads %s: name the Secret holding the passwords in sasl.existingSecret" $u.name (toString $u.password_file)) }}
{{- end }}
{{- end }}
{{- end }}

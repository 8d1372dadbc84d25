{{- /*
Names, labels and the values every template derives from (drain timings,
the per-pod ordinals, the session key's Secret), defined once.
*/ -}}

{{- define "tickforge.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* Pod names are "<fullname>-<ordinal>" and name the per-pod Services
too: keep room for "-NNN" under the 63-character limit. */ -}}
{{- define "tickforge.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "tickforge.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tickforge.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "tickforge.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "tickforge.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- /* How many pods can exist: the per-pod Services cover every ordinal. */ -}}
{{- define "tickforge.maxPods" -}}
{{- if .Values.autoscaling.enabled -}}
{{- .Values.autoscaling.maxReplicas | int -}}
{{- else -}}
{{- .Values.replicas | int -}}
{{- end -}}
{{- end -}}

{{- /* Drain delay + shutdown deadline (rounded up) + margin, in seconds. */ -}}
{{- define "tickforge.gracePeriod" -}}
{{- $d := .Values.drain -}}
{{- $deadline := div (add (int $d.shutdownDeadlineMs) 999) 1000 -}}
{{- /* Hand-off: about 20 ms per room (measured), rounded up to 25 ms, plus
     one --handoff-timeout for a peer that does not answer and one for the
     redirected clients to leave. */ -}}
{{- $handoff := add (div (add (mul (int $d.handoffRooms) 25) 999) 1000) (mul 2 (int $d.handoffTimeoutSeconds)) -}}
{{- add (int $d.delaySeconds) $handoff $deadline (int $d.marginSeconds) -}}
{{- end -}}

{{- define "tickforge.sessionKeySecret" -}}
{{- if .Values.sessionKey.existingSecret -}}
{{- .Values.sessionKey.existingSecret -}}
{{- else if .Values.sessionKey.json -}}
{{- printf "%s-session-key" (include "tickforge.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- /* Refuses values that cannot work, with the reason. */ -}}
{{- define "tickforge.validate" -}}
{{- $v := .Values -}}
{{- $readiness := add (mul (int $v.probes.readiness.periodSeconds) (int $v.probes.readiness.failureThreshold)) (int $v.probes.readiness.timeoutSeconds) -}}
{{- if gt (int $readiness) (int $v.drain.delaySeconds) -}}
{{- fail (printf "probes.readiness: periodSeconds × failureThreshold + timeoutSeconds (%d s) must fit within drain.delaySeconds (%d s), or the load balancer still sends joins when the rooms move" (int $readiness) (int $v.drain.delaySeconds)) -}}
{{- end -}}
{{- if lt (int $v.drain.marginSeconds) 1 -}}
{{- fail "drain.marginSeconds must be at least 1" -}}
{{- end -}}
{{- $shared := or $v.redis.url $v.redis.urlSecret.name -}}
{{- if and $shared (not (include "tickforge.sessionKeySecret" .)) -}}
{{- fail "Redis presence needs the cluster's session key: set sessionKey.existingSecret or sessionKey.json (tickforge token keygen)" -}}
{{- end -}}
{{- if and $shared (not $v.cql.url) -}}
{{- fail "Redis presence needs a shared snapshot store: set cql.url (scylla://host:9042/keyspace)" -}}
{{- end -}}
{{- if and (not $shared) (or $v.autoscaling.enabled (gt (int $v.replicas) 1)) -}}
{{- fail "more than one node needs redis.url (presence and room ownership) and cql.url" -}}
{{- end -}}
{{- range $key := list "listen" "admin_listen" "node_id" "public_url" "presence" "snapshots" "session_key_file" "data_dir" "drain_delay" "shutdown_deadline_ms" "config" -}}
{{- if hasKey $v.config $key -}}
{{- fail (printf "config.%s is set by the chart; use the chart's own value for it" $key) -}}
{{- end -}}
{{- end -}}
{{- if and $v.tls.secretName (not (hasPrefix "wss://" $v.perPod.publicUrl)) -}}
{{- fail "tls.secretName: the public listener speaks TLS only, so perPod.publicUrl must be wss://" -}}
{{- end -}}
{{- if not (contains "$(POD_NAME)" $v.perPod.publicUrl) -}}
{{- fail "perPod.publicUrl must contain $(POD_NAME): each pod needs its own address for redirects" -}}
{{- end -}}
{{- end -}}

{{- /* One TOML value of .Values.config. YAML numbers reach templates as
floats: whole ones are written as integers (the server's counts and
milliseconds are integers). Strings are JSON-quoted, which is valid TOML. */ -}}
{{- define "tickforge.tomlValue" -}}
{{- if kindIs "float64" . -}}
{{- if eq . (float64 (int64 .)) -}}{{ int64 . }}{{- else -}}{{ . }}{{- end -}}
{{- else if or (kindIs "int" .) (kindIs "int64" .) (kindIs "bool" .) -}}
{{- . -}}
{{- else if kindIs "string" . -}}
{{- toJson . -}}
{{- else if kindIs "slice" . -}}
[{{- range $i, $item := . }}{{ if $i }}, {{ end }}{{ include "tickforge.tomlValue" $item }}{{ end -}}]
{{- else -}}
{{- fail (printf "config: %v is not a TOML scalar or list (the settings are flat)" .) -}}
{{- end -}}
{{- end -}}

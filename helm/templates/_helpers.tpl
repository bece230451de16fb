{{/* Names, labels and the settings shared by the web and worker pods. */}}

{{/* Fill in the defaults of the rarely changed keys that values.yaml leaves out (radar.hiddenDefaults in
     _defaults.tpl, generated from values.schema.json). A key the admin set is kept, false, 0 and ""
     included, which sprig's `default` would replace; maps are filled key by key, as Helm merges
     values.yaml. Every template starts with it, so no template depends on the order Helm renders them. */}}
{{- define "radar.applyDefaults" -}}
{{- include "radar.fill" (list .Values (fromYaml (include "radar.hiddenDefaults" .))) -}}
{{- end -}}

{{- define "radar.fill" -}}
{{- $values := index . 0 -}}
{{- range $key, $default := index . 1 -}}
{{- if not (hasKey $values $key) -}}
{{- $_ := set $values $key $default -}}
{{- else if and (kindIs "map" $default) (kindIs "map" (index $values $key)) -}}
{{- include "radar.fill" (list (index $values $key) $default) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "radar.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-radar, or just <release> when it already contains the chart name. */}}
{{- define "radar.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "radar.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "radar.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: pass (list $ "web"). */}}
{{- define "radar.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "radar.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "radar.componentLabels" -}}
{{ include "radar.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "radar.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "radar.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "radar.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "radar.redisName" -}}{{ include "radar.fullname" . }}-redis{{- end -}}
{{- define "radar.vllmName" -}}{{ include "radar.fullname" . }}-vllm{{- end -}}

{{/* The app Secret: the admin's existingSecret, or the one this chart renders. */}}
{{- define "radar.secretName" -}}
{{- default (include "radar.fullname" .) .Values.secrets.existingSecret -}}
{{- end -}}

{{- define "radar.redisSecretName" -}}
{{- default (printf "%s-redis" (include "radar.fullname" .)) .Values.redis.auth.existingSecret -}}
{{- end -}}

{{/* The external base URL, https://<ingress.host> unless publicUrl is set. */}}
{{- define "radar.publicUrl" -}}
{{- if .Values.publicUrl -}}
{{- .Values.publicUrl | trimSuffix "/" -}}
{{- else if and .Values.ingress.enabled .Values.ingress.host -}}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host -}}
{{- else -}}
{{- fail "ingress.host is required: EHRs launch the app at https://<host>/launch (or set publicUrl when you bring your own Ingress)" -}}
{{- end -}}
{{- end -}}

{{- define "radar.inferenceUrl" -}}
{{- if .Values.inference.vllm.enabled -}}
{{- printf "http://%s:8000/v1" (include "radar.vllmName" .) -}}
{{- else -}}
{{- .Values.inference.url -}}
{{- end -}}
{{- end -}}

{{/* Does any EHR sign its token requests with the app's private keys (launch or Backend Services)?
     The web pods then serve the public half at /.well-known/jwks.json for the EHR to verify. */}}
{{- define "radar.needsJwks" -}}
{{- range .Values.ehrs -}}{{- if or (eq (default "none" .auth) "private_key_jwt") .backendClientId -}}true{{- end -}}{{- end -}}
{{- end -}}

{{/* Environment variable that carries the client secret of EHR number i. */}}
{{- define "radar.ehrSecretEnv" -}}RADAR_EHR_{{ . }}_CLIENT_SECRET{{- end -}}

{{/* RADAR_EHRS as JSON: secrets appear only as the names of env vars. */}}
{{- define "radar.ehrsJson" -}}
{{- $out := list -}}
{{- range $i, $e := .Values.ehrs -}}
{{- $auth := default "none" $e.auth -}}
{{- $entry := dict "name" (default $e.iss $e.name) "iss" $e.iss "client_id" $e.clientId "auth" $auth "signing_alg" (default "RS384" $e.signingAlg) -}}
{{- if $e.scopes }}{{ $_ := set $entry "scopes" $e.scopes }}{{ end -}}
{{- if $e.redirectUri }}{{ $_ := set $entry "redirect_uri" $e.redirectUri }}{{ end -}}
{{- if $e.backendClientId }}{{ $_ := set $entry "backend_client_id" $e.backendClientId }}{{ end -}}
{{- if $e.backendScopes }}{{ $_ := set $entry "backend_scopes" $e.backendScopes }}{{ end -}}
{{- if has $auth (list "client_secret_basic" "client_secret_post") -}}
{{- $_ := set $entry "secret_env" (include "radar.ehrSecretEnv" $i) -}}
{{- end -}}
{{- $out = append $out $entry -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{- define "radar.cdsClientsJson" -}}
{{- $out := list -}}
{{- range .Values.cds.clients -}}
{{- $entry := dict "iss" .iss -}}
{{- if .jwksUrl }}{{- $_ := set $entry "jwks_url" .jwksUrl -}}{{- end -}}
{{- if .jwks }}{{- $_ := set $entry "jwks" .jwks -}}{{- end -}}
{{- if .jku }}{{- $_ := set $entry "jku" .jku -}}{{- end -}}
{{- if .fhirServers }}{{- $_ := set $entry "fhir_servers" .fhirServers -}}{{- end -}}
{{- $out = append $out $entry -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* The audit sink (RADAR_AUDIT_SINK): a file on the audit claim, or stdout / none. */}}
{{- define "radar.auditDir" -}}/var/lib/radar/audit{{- end -}}
{{- define "radar.auditClaim" -}}
{{- default (printf "%s-audit" (include "radar.fullname" .)) .Values.audit.persistence.existingClaim -}}
{{- end -}}
{{- define "radar.auditSink" -}}
{{- if eq .Values.audit.sink "file" -}}file:{{ include "radar.auditDir" . }}/audit.jsonl{{- else -}}{{ .Values.audit.sink }}{{- end -}}
{{- end -}}

{{/* RADAR_BACKGROUND: the site background in its ConfigMap's mount, or the file in the image; empty = shipped. */}}
{{- define "radar.backgroundPath" -}}
{{- if .Values.background.configMap -}}/etc/radar/background/{{ .Values.background.key }}{{- else -}}{{ .Values.background.file }}{{- end -}}
{{- end -}}

{{/* Checks that need more than the schema; each failure says what to set. */}}
{{- define "radar.validate" -}}
{{- $_ := include "radar.publicUrl" . -}}
{{- $values := .Values.secrets.values -}}
{{- $own := not .Values.secrets.existingSecret -}}
{{- range $i, $e := .Values.ehrs -}}
{{- if has (default "none" $e.auth) (list "client_secret_basic" "client_secret_post") -}}
{{- if not $e.secretKey -}}
{{- fail (printf "ehrs[%d].secretKey: EHR %q uses %s; name the key of the app Secret that holds its client secret" $i (default $e.iss $e.name) $e.auth) -}}
{{- end -}}
{{- if and $own (not (hasKey $values $e.secretKey)) -}}
{{- fail (printf "secrets.values.%s: the client secret of EHR %q is missing; add it, or put it in a Secret you manage and set secrets.existingSecret" $e.secretKey (default $e.iss $e.name)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $own (include "radar.needsJwks" .) (not (hasKey $values .Values.secrets.jwksKey)) -}}
{{- fail (printf "secrets.values.%s: private_key_jwt needs the app's private JWK Set (create it with `radar keys`), or set secrets.existingSecret" .Values.secrets.jwksKey) -}}
{{- end -}}
{{- if and $own .Values.inference.apiKeySecretKey (not (hasKey $values .Values.inference.apiKeySecretKey)) -}}
{{- fail (printf "secrets.values.%s: inference.apiKeySecretKey names this key, but it has no value; add it or set secrets.existingSecret" .Values.inference.apiKeySecretKey) -}}
{{- end -}}
{{- if and (not .Values.redis.enabled) (not .Values.redis.external.url) -}}
{{- fail "redis.external.url is required when redis.enabled=false (e.g. rediss://redis.hospital.example:6380/0)" -}}
{{- end -}}
{{- if and .Values.inference.url .Values.inference.vllm.enabled -}}
{{- fail "inference.url and inference.vllm.enabled are exclusive: the chart points the app at its own vLLM service" -}}
{{- end -}}
{{- if and .Values.background.configMap .Values.background.file -}}
{{- fail "background.configMap and background.file are exclusive: the site background comes from one place" -}}
{{- end -}}
{{- if lt (float64 .Values.cds.warningProbability) (float64 .Values.cds.minProbability) -}}
{{- fail (printf "cds.warningProbability (%v) must not be below cds.minProbability (%v): a warning card is a stronger signal than an info card" .Values.cds.warningProbability .Values.cds.minProbability) -}}
{{- end -}}
{{- end -}}

{{/* Redis env: REDIS_PASSWORD from a Secret, then REDIS_URL referring to it. */}}
{{- define "radar.redisEnv" -}}
{{- $url := ternary (printf "redis://%s:6379/0" (include "radar.redisName" .)) .Values.redis.external.url .Values.redis.enabled -}}
{{- if .Values.redis.auth.enabled -}}
- name: REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "radar.redisSecretName" . }}
      key: {{ .Values.redis.auth.existingSecretPasswordKey }}
{{- $u := urlParse $url }}
- name: REDIS_URL
  value: {{ printf "%s://:$(REDIS_PASSWORD)@%s%s" $u.scheme $u.host $u.path | quote }}
{{- else -}}
- name: REDIS_URL
  value: {{ $url | quote }}
{{- end }}
{{- end -}}

{{/* The pod spec shared by web and worker: pass (dict "root" $ "component" "web" "container" <yaml>). */}}
{{- define "radar.appPod" -}}
{{- $ := .root -}}
serviceAccountName: {{ include "radar.serviceAccountName" $ }}
automountServiceAccountToken: false
{{- with $.Values.imagePullSecrets }}
imagePullSecrets: {{- toYaml . | nindent 2 }}
{{- end }}
securityContext: {{- toYaml $.Values.podSecurityContext | nindent 2 }}
{{- with $.Values.nodeSelector }}
nodeSelector: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.tolerations }}
tolerations: {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $.Values.affinity }}
affinity: {{- toYaml . | nindent 2 }}
{{- end }}
containers:
  - name: {{ .component }}
    image: {{ include "radar.image" $ }}
    imagePullPolicy: {{ $.Values.image.pullPolicy }}
    {{- .container | nindent 4 }}
    envFrom:
      - configMapRef:
          name: {{ include "radar.fullname" $ }}
    env:
      {{- include "radar.redisEnv" $ | nindent 6 }}
      {{- range $i, $e := $.Values.ehrs }}
      {{- if has (default "none" $e.auth) (list "client_secret_basic" "client_secret_post") }}
      - name: {{ include "radar.ehrSecretEnv" $i }}
        valueFrom:
          secretKeyRef:
            name: {{ include "radar.secretName" $ }}
            key: {{ $e.secretKey }}
      {{- end }}
      {{- end }}
      {{- with $.Values.inference.apiKeySecretKey }}
      - name: RADAR_API_KEY
        valueFrom:
          secretKeyRef:
            name: {{ include "radar.secretName" $ }}
            key: {{ . }}
      {{- end }}
      {{- with $.Values.app.extraEnv }}
      {{- toYaml . | nindent 6 }}
      {{- end }}
    securityContext: {{- toYaml $.Values.securityContext | nindent 6 }}
    volumeMounts:
      - {name: tmp, mountPath: /tmp}
      - {name: data, mountPath: /data}
      {{- if include "radar.needsJwks" $ }}
      - {name: jwks, mountPath: /etc/radar/jwks, readOnly: true}
      {{- end }}
      {{- if $.Values.background.configMap }}
      - {name: background, mountPath: /etc/radar/background, readOnly: true}
      {{- end }}
      {{- if eq $.Values.audit.sink "file" }}
      - {name: audit, mountPath: {{ include "radar.auditDir" $ }}}
      {{- end }}
volumes:
  - {name: tmp, emptyDir: {}}
  - {name: data, emptyDir: {}}
  {{- if eq $.Values.audit.sink "file" }}
  - name: audit
    persistentVolumeClaim: {claimName: {{ include "radar.auditClaim" $ }}}
  {{- end }}
  {{- with $.Values.background.configMap }}
  - name: background
    configMap:
      name: {{ . | quote }}
      items:
        - {key: {{ $.Values.background.key | quote }}, path: {{ $.Values.background.key | quote }}}
  {{- end }}
  {{- if include "radar.needsJwks" $ }}
  - name: jwks
    secret:
      secretName: {{ include "radar.secretName" $ }}
      defaultMode: 0440
      items:
        - {key: {{ $.Values.secrets.jwksKey | quote }}, path: jwks.json}
  {{- end }}
{{- end -}}

{{/* Pod annotations that roll the pods when configuration or secrets given in values change
     (a generated Redis password never changes; an existingSecret is the admin's to roll). */}}
{{- define "radar.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include "radar.secretChecksum" . }}
{{- end -}}

{{- define "radar.secretChecksum" -}}
{{- dict "app" .Values.secrets "redis" .Values.redis.auth | toJson | sha256sum -}}
{{- end -}}

{{- define "radar.webContainer" -}}
command: ["gunicorn", "-c", "launch/gunicorn.conf.py", "app:create_app()"]
ports:
  - {name: http, containerPort: 8000, protocol: TCP}
startupProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 5
  failureThreshold: 60
livenessProbe:
  httpGet: {path: /healthz, port: http}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
readinessProbe:
  httpGet: {path: /readyz, port: http}
  periodSeconds: 10
  timeoutSeconds: 5
  failureThreshold: 3
resources: {{- toYaml .Values.web.resources | nindent 2 }}
{{- end -}}

{{- define "radar.workerContainer" -}}
command: ["radar", "worker"]
{{- /* The worker beats every 10 s into /data (radar worker-check reads it); a Redis outage makes it
       unready, never restarted: it reconnects by itself. The startup probe covers loading the knowledge. */}}
startupProbe:
  exec: {command: ["radar", "worker-check"]}
  periodSeconds: 5
  timeoutSeconds: 10
  failureThreshold: 60
livenessProbe:
  exec: {command: ["radar", "worker-check"]}
  periodSeconds: 30
  timeoutSeconds: 10
  failureThreshold: 3
readinessProbe:
  exec: {command: ["radar", "worker-check", "--ready"]}
  periodSeconds: 15
  timeoutSeconds: 10
  failureThreshold: 2
resources: {{- toYaml .Values.worker.resources | nindent 2 }}
{{- end -}}

{{/* NetworkPolicy pieces: DNS, the registered EHRs' addresses, an in-cluster RaDaR of another release and
     the admin's egress list (allowAllHttps: any address on 443); the web and worker pods as peers. */}}
{{- define "radar.egressRules" -}}
{{- $np := .Values.networkPolicy -}}
- ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
{{- with $np.ehrCidrs }}
- to:
    {{- range . }}
    - ipBlock: {cidr: {{ . }}}
    {{- end }}
  ports: [{port: 443, protocol: TCP}]
{{- end }}
{{- if $np.allowAllHttps }}
- to: [{ipBlock: {cidr: 0.0.0.0/0}}]
  ports: [{port: 443, protocol: TCP}]
{{- end }}
{{- with $np.inferencePeers }}
- to: {{- toYaml . | nindent 4 }}
{{- end }}
{{- range $np.egress }}
- to:
    - ipBlock:
        cidr: {{ .cidr }}
        {{- with .except }}
        except: {{- toYaml . | nindent 10 }}
        {{- end }}
  ports:
    {{- range .ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- end }}
{{- end -}}
{{/* The vLLM pod: DNS, and any address on 443 while it may download its weights (vllmDownload). */}}
{{- define "radar.vllmEgressRules" -}}
- ports: [{port: 53, protocol: UDP}, {port: 53, protocol: TCP}]
{{- if or .Values.networkPolicy.vllmDownload .Values.networkPolicy.allowAllHttps }}
- to: [{ipBlock: {cidr: 0.0.0.0/0}}]
  ports: [{port: 443, protocol: TCP}]
{{- end }}
{{- end -}}
{{- define "radar.appPeers" -}}
- podSelector:
    matchLabels: {{- include "radar.selectorLabels" (list . "web") | nindent 6 }}
- podSelector:
    matchLabels: {{- include "radar.selectorLabels" (list . "worker") | nindent 6 }}
{{- end -}}

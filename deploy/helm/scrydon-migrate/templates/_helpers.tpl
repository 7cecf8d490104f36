{{/*
The services that own a schema: values key -> the service name that `scrydon-migrate --service` takes
and the environment variable that carries its database URL. By default Scrydon's five, in the
runbook's order (scrydon_migrate.config.SERVICES); the mapping is explicit: `auth` is platform,
`apiOntology` ontology. When `services` is set, exactly the services it declares, as the image's
scrydon-migrate.toml declares them with [[service]] tables (values_key -> name).
*/}}
{{- define "scrydon-migrate.serviceKeys" -}}
{{- if .Values.services -}}
{{- keys .Values.services | sortAlpha | join " " -}}
{{- else -}}
auth agentic analytics apiOntology cortex
{{- end -}}
{{- end -}}

{{- define "scrydon-migrate.services" -}}
{{- if .Values.services -}}
{{- range $key, $declared := .Values.services }}
{{ $key }}:
  service: {{ $declared.service }}
  urlEnv: {{ default (printf "%s_DATABASE_URL" ($declared.service | snakecase | upper | replace "-" "_")) $declared.urlEnv }}
{{- end }}
{{- else -}}
auth:
  service: platform
  urlEnv: PLATFORM_DATABASE_URL
agentic:
  service: agentic
  urlEnv: AGENTIC_DATABASE_URL
analytics:
  service: analytics
  urlEnv: ANALYTICS_DATABASE_URL
apiOntology:
  service: ontology
  urlEnv: ONTOLOGY_DATABASE_URL
cortex:
  service: cortex
  urlEnv: CORTEX_DATABASE_URL
{{- end -}}
{{- end -}}

{{/*
The values of one service (database, migration, startup, backfill): <key> for the built-in five,
services.<key> over the defaults below for a declared one. Call with (list $root $key); returns YAML.
*/}}
{{- define "scrydon-migrate.own" -}}
{{- $root := index . 0 -}}
{{- $key := index . 1 -}}
{{- if $root.Values.services -}}
{{- $defaults := dict "database" (dict "secretKey" "DATABASE_URL") "migration" (dict "enabled" true "repairTracking" false) "startup" (dict "enabled" false) "backfill" (dict "enabled" false "replicas" 1) -}}
{{- toYaml (mergeOverwrite $defaults (omit (deepCopy (index $root.Values.services $key)) "service" "urlEnv")) -}}
{{- else -}}
{{- toYaml (index $root.Values $key) -}}
{{- end -}}
{{- end -}}

{{/*
Where a service's values live, for the `--set` lines the notes print: <key>, or services.<key>.
*/}}
{{- define "scrydon-migrate.valuesPath" -}}
{{- $root := index . 0 -}}
{{- if $root.Values.services -}}services.{{ index . 1 }}{{- else -}}{{ index . 1 }}{{- end -}}
{{- end -}}

{{/*
The prefix of every resource name: fullnameOverride, else the release name.
*/}}
{{- define "scrydon-migrate.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{/*
A resource name "<prefix>-<suffix>" of at most 63 characters: the prefix is shortened, never the
suffix, so two services' names can never collide. Call with (list $root "migration-platform").
*/}}
{{- define "scrydon-migrate.name" -}}
{{- $root := index . 0 -}}
{{- $suffix := index . 1 -}}
{{- $prefix := include "scrydon-migrate.fullname" $root | trunc (int (sub 62 (len $suffix))) | trimSuffix "-" -}}
{{- printf "%s-%s" $prefix $suffix -}}
{{- end -}}

{{- define "scrydon-migrate.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Selector labels. app.kubernetes.io/name is always "scrydon": the runbook waits on
`kubectl wait --for=condition=complete job -l app.kubernetes.io/name=scrydon`.
Call with (list $root "platform-migration").
*/}}
{{- define "scrydon-migrate.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: scrydon
app.kubernetes.io/instance: {{ $root.Release.Name | quote }}
app.kubernetes.io/component: {{ index . 1 | quote }}
{{- end -}}

{{- define "scrydon-migrate.labels" -}}
{{- $root := index . 0 -}}
{{ include "scrydon-migrate.selectorLabels" . }}
app.kubernetes.io/part-of: scrydon
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ $root.Release.Service | quote }}
helm.sh/chart: {{ include "scrydon-migrate.chart" $root | quote }}
{{- end -}}

{{- define "scrydon-migrate.image" -}}
{{- $image := .Values.image -}}
{{- if $image.digest -}}
{{- printf "%s@%s" $image.repository $image.digest -}}
{{- else -}}
{{- printf "%s:%s" $image.repository (default .Chart.AppVersion $image.tag | toString) -}}
{{- end -}}
{{- end -}}

{{/*
The settings of one service's migration: the shared `migration` block overridden by
<key>.migration (all but enabled/repairTracking, which are per service only).
Call with (list $root $key); returns YAML.
*/}}
{{- define "scrydon-migrate.migrationSettings" -}}
{{- $root := index . 0 -}}
{{- $own := include "scrydon-migrate.own" . | fromYaml -}}
{{- $overrides := omit (deepCopy (default (dict) $own.migration)) "enabled" "repairTracking" -}}
{{- toYaml (mergeOverwrite (deepCopy $root.Values.migration) $overrides) -}}
{{- end -}}

{{/*
The container's environment. Call with
(dict "root" $ "key" $key "service" $service "settings" $settings "repair" bool).
The database URL is read from the service's Secret under the variable the tool looks for first.
*/}}
{{- define "scrydon-migrate.env" -}}
{{- $own := include "scrydon-migrate.own" (list .root .key) | fromYaml -}}
- name: MIGRATE_SERVICE
  value: {{ .service.service | quote }}
- name: {{ .service.urlEnv }}
  valueFrom:
    secretKeyRef:
      name: {{ $own.database.existingSecret | quote }}
      key: {{ $own.database.secretKey | quote }}
{{- with $own.database.migrationSecretKey }}
- name: {{ $.service.urlEnv | replace "_DATABASE_URL" "_MIGRATION_URL" }}
  valueFrom:
    secretKeyRef:
      name: {{ $own.database.existingSecret | quote }}
      key: {{ . | quote }}
{{- end }}
- name: MIGRATE_WAIT_FOR_DB
  value: {{ .settings.waitForDatabaseSeconds | toString | quote }}
- name: MIGRATE_LOCK_WAIT
  value: {{ .settings.lockWaitSeconds | toString | quote }}
- name: MIGRATE_LOG_FORMAT
  value: {{ .settings.logFormat | quote }}
- name: MIGRATE_APPLICATION_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
{{- if .repair }}
- name: MIGRATE_REPAIR_TRACKING
  value: "1"
{{- end }}
{{- with .settings.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/*
The pod-level fields shared by the migration Jobs and the backfill Deployments.
*/}}
{{- define "scrydon-migrate.podSpecCommon" -}}
{{- if .Values.serviceAccountName }}
serviceAccountName: {{ .Values.serviceAccountName | quote }}
{{- end }}
automountServiceAccountToken: false
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/*
The writable /tmp of a read-only root filesystem. Call with (list $root "volume-name").
*/}}
{{- define "scrydon-migrate.volumes" -}}
{{- $root := index . 0 -}}
volumes:
  - name: {{ index . 1 }}
    emptyDir:
      {{- with $root.Values.tmpVolume.sizeLimit }}
      sizeLimit: {{ . }}
      {{- else }} {}
      {{- end }}
{{- end -}}

{{/*
The shared fields of a scrydon-migrate container (everything but name, args, env and resources).
Call with (list $root "tmp-volume-name").
*/}}
{{- define "scrydon-migrate.containerCommon" -}}
{{- $root := index . 0 -}}
image: {{ include "scrydon-migrate.image" $root | quote }}
imagePullPolicy: {{ $root.Values.image.pullPolicy }}
command:
  - scrydon-migrate
securityContext:
  {{- toYaml $root.Values.securityContext | nindent 2 }}
volumeMounts:
  - name: {{ index . 1 }}
    mountPath: /tmp
{{- end -}}

{{/*
The start-up patch of one service: a strategic-merge patch for the service's own Deployment that adds
an init container running `scrydon-migrate up --service <service>` (never with the break-glass
MIGRATE_REPAIR_TRACKING) and the /tmp volume it mounts.
Call with (dict "root" $ "key" $key "service" $service "settings" $settings).
*/}}
{{- define "scrydon-migrate.startupPatch" -}}
# Strategic-merge patch for the {{ .service.service }} service's Deployment (values key {{ .key }}):
# runs `scrydon-migrate up --service {{ .service.service }}` before the service's containers start.
spec:
  template:
    spec:
      initContainers:
        - name: scrydon-migrate
          {{- include "scrydon-migrate.containerCommon" (list .root "scrydon-migrate-tmp") | nindent 10 }}
          args:
            - up
            - --service
            - {{ .service.service }}
          env:
            {{- include "scrydon-migrate.env" (dict "root" .root "key" .key "service" .service "settings" .settings "repair" false) | nindent 12 }}
          resources:
            {{- toYaml (default .root.Values.resources .settings.resources) | nindent 12 }}
      {{- include "scrydon-migrate.volumes" (list .root "scrydon-migrate-tmp") | nindent 6 }}
{{- end -}}

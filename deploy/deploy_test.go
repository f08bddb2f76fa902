package deploy

// These tests check the deployment files offline (no container engine, no
// cluster): each file parses strictly, and the files agree with each other
// and with the code (config.Settings, the subcommands' required settings,
// the pinned OpenFGA version, main.version). TestChecksCatchMistakes breaks
// the files in memory, one mistake at a time, to show each check can fail.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"k8s.io/apimachinery/pkg/util/intstr"
	kyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/caido-cloud/caido-cloud/backup"
	"github.com/caido-cloud/caido-cloud/config"
)

// files holds the text of every file the checks read, by path relative to
// this directory.
type files map[string]string

// sources are the files read besides k8s/*.yaml.
var sources = []string{
	"Dockerfile",
	"compose.yaml",
	"Caddyfile",
	"otel-collector.yaml",
	".env.example",
	"README.md",
	"../.dockerignore",
	"../README.md",
	"../go.mod",
	"../tools/go.mod",
	"../cmd/caido-cloud/main.go",
	"../cmd/caido-cloud/serve.go",
	"../cmd/caido-cloud/backup.go",
}

func readFiles(t testing.TB) files {
	t.Helper()
	manifests, err := filepath.Glob("k8s/*.y*ml")
	if err != nil {
		t.Fatal(err)
	}
	f := files{}
	for _, p := range append(slices.Clone(sources), manifests...) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f[filepath.ToSlash(p)] = string(b)
	}
	return f
}

// problems collects what a check finds wrong, each naming its file.
type problems []string

func (p *problems) add(format string, args ...any) {
	*p = append(*p, fmt.Sprintf(format, args...))
}

var checks = map[string]func(files) problems{
	"dockerfile": checkDockerfile,
	"collector":  checkCollector,
	"compose":    checkCompose,
	"kubernetes": checkKubernetes,
}

func runCheck(t *testing.T, name string) {
	for _, p := range checks[name](readFiles(t)) {
		t.Error(p)
	}
}

func TestDockerfile(t *testing.T)          { runCheck(t, "dockerfile") }
func TestCollectorConfig(t *testing.T)     { runCheck(t, "collector") }
func TestCompose(t *testing.T)             { runCheck(t, "compose") }
func TestKubernetesManifests(t *testing.T) { runCheck(t, "kubernetes") }

// mistakes are edits that each check must catch: the file, the text
// replaced (its first occurrence), its replacement, the check, and a
// fragment of the problem it must report.
var mistakes = []struct {
	file, old, new, check, want string
}{
	// Dockerfile.
	{"Dockerfile", "CGO_ENABLED=0", "CGO_ENABLED=1", "dockerfile", "CGO_ENABLED=0"},
	{"Dockerfile", "-trimpath", "", "dockerfile", "-trimpath"},
	{"Dockerfile", "-X main.version=", "-X main.Version=", "dockerfile", "main.version"},
	{"Dockerfile", "FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:12", "dockerfile", "final stage"},
	{"Dockerfile", "USER 65532:65532", "USER root", "dockerfile", "USER"},
	{"Dockerfile", "USER 65532:65532", "", "dockerfile", "no USER"},
	{"Dockerfile", "nonroot\nCOPY --from=build /out/caido-cloud /caido-cloud", "nonroot", "dockerfile", "multi-stage"},
	{"Dockerfile", "CAIDO_CLOUD_LISTEN_ADDR=0.0.0.0:8080", "CAIDO_CLOUD_LISTEN_ADDRESS=0.0.0.0:8080", "dockerfile", "CAIDO_CLOUD_LISTEN_ADDRESS"},
	{"Dockerfile", "EXPOSE 8080", "EXPOSE 9090", "dockerfile", "EXPOSE"},
	{"Dockerfile", `CMD ["serve"]`, `CMD ["migrate"]`, "dockerfile", "CMD"},
	{"Dockerfile", "ARG GO_VERSION=1.26", "ARG GO_VERSION=1.25", "dockerfile", "go.mod"},
	{"../.dockerignore", ".data/", "", "dockerfile", ".data"},
	{"Dockerfile", "AS backup\n", "AS pgclient\n", "dockerfile", "no stage named backup"},
	{"Dockerfile", "ARG PG_MAJOR=15", "ARG PG_MAJOR=14", "dockerfile", "major 14"},
	{"Dockerfile", "USER 999:999", "USER postgres", "dockerfile", "backup stage USER postgres"},
	{"Dockerfile", "AS backup\n", "AS backup\nENV CAIDO_CLOUD_BACKUP_FOLDER=/backups\n", "dockerfile", "CAIDO_CLOUD_BACKUP_FOLDER"},

	// Collector configuration.
	{"otel-collector.yaml", "exporters: [debug]", "exporters: [otlphttp]", "collector", "otlphttp"},
	{"otel-collector.yaml", "processors: [memory_limiter, batch]", "processors: [memory_limiter, batch/big]", "collector", "batch/big"},
	{"otel-collector.yaml", "receivers: [otlp]", "receivers: []", "collector", "no receivers"},
	{"otel-collector.yaml", "  metrics:\n      receivers", "  logs:\n      receivers", "collector", "metrics"},
	{"otel-collector.yaml", "extensions: [health_check]", "extensions: [pprof]", "collector", "pprof"},
	{"otel-collector.yaml", "endpoint: 0.0.0.0:4318", "endpoint: localhost:4318", "collector", "localhost"},
	{"otel-collector.yaml", "service:", "servce:", "collector", "servce"},

	// compose.yaml.
	{"compose.yaml", "condition: service_completed_successfully\n    openfga:", "condition: service_started\n    openfga:", "compose", "service_completed_successfully"},
	{"compose.yaml", "  caido-cloud-2:\n    <<: *caido-cloud-serve\n", "  caido-cloud-2:\n    <<: *caido-cloud-serve\n    command: [\"migrate\"]\n", "compose", "replicas"},
	{"compose.yaml", "${CAIDO_CLOUD_MASTER_KEY:?set CAIDO_CLOUD_MASTER_KEY (caido-cloud keys master)}", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "compose", "CAIDO_CLOUD_MASTER_KEY"},
	{"compose.yaml", "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD (URL-safe, e.g. openssl rand -hex 32)}", "POSTGRES_PASSWORD: hunter2", "compose", "POSTGRES_PASSWORD"},
	{"compose.yaml", "read_only: true", "readonly: true", "compose", "readonly"},
	{"compose.yaml", "CAIDO_CLOUD_LOG_FORMAT: json", "CAIDO_CLOUD_LOGFORMAT: json", "compose", "CAIDO_CLOUD_LOGFORMAT"},
	{"compose.yaml", "OPENFGA_API_URL: http://openfga:8080", "OPENFGA_API_URL: openfga:8080", "compose", "OPENFGA_API_URL"},
	{"compose.yaml", "  OPENFGA_API_URL: http://openfga:8080\n", "", "compose", "OPENFGA_API_URL is not set"},
	{"compose.yaml", "image: openfga/openfga:v1.22.1", "image: openfga/openfga:v1.21.0", "compose", "tools/go.mod"},
	{"compose.yaml", "image: postgres:15", "image: postgres:14", "compose", "postgres:15"},
	{"compose.yaml", `test: ["CMD", "pg_isready"`, `disable: true
      test: ["CMD", "pg_isready"`, "compose", "healthcheck"},
	{"compose.yaml", "OPENFGA_AUTHN_METHOD: preshared", "OPENFGA_AUTHN_METHOD: none", "compose", "preshared"},
	{"compose.yaml", "  stop_grace_period: 30s\n", "  stop_grace_period: 30s\n  ports: [\"8080:8080\"]\n", "compose", "publishes"},
	{"compose.yaml", "OTEL_EXPORTER_OTLP_ENDPOINT: http://otel-collector:4318", "OTEL_EXPORTER_OTLP_ENDPOINT: http://collector:4318", "compose", "OTEL_EXPORTER_OTLP_ENDPOINT"},
	{"compose.yaml", "  cap_drop: [ALL]\n", "", "compose", "cap_drop"},
	{"Caddyfile", "caido-cloud-2:8080", "caido-cloud-3:8080", "compose", "Caddyfile"},
	{"Caddyfile", "health_uri /readyz", "health_uri /healthz", "compose", "/readyz"},
	{"Caddyfile", "header_up X-Forwarded-For {remote_host}\n", "", "compose", "does not set X-Forwarded-For"},
	{"Caddyfile", "header_up -Forwarded\n", "", "compose", "does not remove Forwarded"},
	{"Caddyfile", "header_up -X-Real-IP\n", "", "compose", "does not remove X-Real-IP"},
	{"compose.yaml", "CAIDO_CLOUD_CLIENT_IP_HEADER: x-forwarded-for", "CAIDO_CLOUD_CLIENT_IP_HEADER: x-real-ip", "compose", "does not set X-Real-IP"},
	{".env.example", "OPENFGA_PRESHARED_KEY=\n", "", "compose", ".env.example"},
	{"compose.yaml", "${CAIDO_CLOUD_BACKUP_IMAGE:-caido-cloud-backup:local}", "${CAIDO_CLOUD_IMAGE:-caido-cloud:local}", "compose", "the server's too"},
	{"compose.yaml", "      target: backup\n", "", "compose", "target backup"},
	{"compose.yaml", "/caido-cloud backup create && /caido-cloud backup prune", "/caido-cloud backup prune; /caido-cloud backup create", "compose", "prune only once"},
	{"compose.yaml", "      - backups:/backups\n", "      - /srv/backups:/backups\n", "compose", "named volume"},
	{"compose.yaml", "CAIDO_CLOUD_BACKUP_KEYSET: ${CAIDO_CLOUD_BACKUP_KEYSET:?set CAIDO_CLOUD_BACKUP_KEYSET (caido-cloud backup keygen)}", "CAIDO_CLOUD_BACKUP_KEYSET: ${CAIDO_CLOUD_BACKUP_KEYSET:-}", "compose", "CAIDO_CLOUD_BACKUP_KEYSET"},

	// Kubernetes manifests.
	{"k8s/deployment.yaml", "path: /readyz", "path: /ready", "kubernetes", "/readyz"},
	{"k8s/deployment.yaml", "path: /healthz\n              port: http\n            periodSeconds: 10", "path: /readyz\n              port: http\n            periodSeconds: 10", "kubernetes", "/healthz"},
	{"k8s/deployment.yaml", "            limits:\n              cpu: \"1\"\n              memory: 1Gi\n", "", "kubernetes", "limit"},
	{"k8s/deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", "kubernetes", "unknown field"},
	{"k8s/deployment.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "kubernetes", "readOnlyRootFilesystem"},
	{"k8s/deployment.yaml", "runAsNonRoot: true\n            allowPrivilegeEscalation", "runAsNonRoot: false\n            allowPrivilegeEscalation", "kubernetes", "runAsNonRoot"},
	{"k8s/deployment.yaml", `drop: ["ALL"]`, `drop: ["NET_RAW"]`, "kubernetes", "ALL"},
	{"k8s/deployment.yaml", "replicas: 2", "replicas: 1", "kubernetes", "replicas"},
	{"k8s/deployment.yaml", "key: master-key", "key: master_key", "kubernetes", "master_key"},
	{"k8s/deployment.yaml", "name: caido-cloud\n                  key: database-url", "name: caido-cloud-db\n                  key: database-url", "kubernetes", "caido-cloud-db"},
	{"k8s/deployment.yaml", "            - name: CAIDO_CLOUD_MASTER_KEY\n              valueFrom:\n                secretKeyRef:\n                  name: caido-cloud\n                  key: master-key\n", "", "kubernetes", "CAIDO_CLOUD_MASTER_KEY is not set"},
	{"k8s/deployment.yaml", "            - name: CAIDO_CLOUD_MASTER_KEY\n              valueFrom:\n                secretKeyRef:\n                  name: caido-cloud\n                  key: master-key\n", "            - name: CAIDO_CLOUD_MASTER_KEY\n              value: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", "kubernetes", "Secret"},
	{"k8s/deployment.yaml", "terminationGracePeriodSeconds: 35", "terminationGracePeriodSeconds: 20", "kubernetes", "terminationGracePeriodSeconds"},
	{"k8s/deployment.yaml", "  name: caido-cloud\n  labels:", "  name: caido-cloud\n  namespace: default\n  labels:", "kubernetes", "namespace"},
	{"k8s/deployment.yaml", "args: [\"serve\"]", "args: [\"migrate\"]", "kubernetes", "serve"},
	{"k8s/configmap.yaml", "CAIDO_CLOUD_LOG_LEVEL:", "CAIDO_CLOUD_LOGLEVEL:", "kubernetes", "CAIDO_CLOUD_LOGLEVEL"},
	{"k8s/configmap.yaml", `CAIDO_CLOUD_LISTEN_ADDR: "0.0.0.0:8080"`, `CAIDO_CLOUD_LISTEN_ADDR: "127.0.0.1:8080"`, "kubernetes", "loopback"},
	{"k8s/configmap.yaml", `CAIDO_CLOUD_LISTEN_ADDR: "0.0.0.0:8080"`, `CAIDO_CLOUD_LISTEN_ADDR: "0.0.0.0:9000"`, "kubernetes", "9000"},
	{"k8s/configmap.yaml", "  OPENFGA_API_URL: \"http://openfga:8080\"\n", "", "kubernetes", "OPENFGA_API_URL is not set"},
	{"k8s/configmap.yaml", `CAIDO_CLOUD_SHUTDOWN_TIMEOUT: "20s"`, `CAIDO_CLOUD_SHUTDOWN_TIMEOUT: "soon"`, "kubernetes", "CAIDO_CLOUD_SHUTDOWN_TIMEOUT"},
	{"k8s/configmap.yaml", "\ndata:\n", "\ndata:\n  OPENFGA_API_TOKEN: \"literal\"\n", "kubernetes", "OPENFGA_API_TOKEN"},
	{"k8s/configmap.yaml", "\ndata:\n", "\ndata:\n  OPENFGA_API_URL: \"http://openfga:8080\"\n", "kubernetes", "already set"},
	{"k8s/configmap.yaml", "  OTEL_SERVICE_NAME: \"caido-cloud\"\n", "  OTEL_SERVICE_NAME: \"caido-cloud\"\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: caido-cloud\nstringData:\n  master-key: abc\n", "kubernetes", "a Secret in the manifests"},
	{"k8s/migrate-job.yaml", `args: ["migrate"]`, `args: ["serve"]`, "kubernetes", "want migrate"},
	{"k8s/migrate-job.yaml", "restartPolicy: Never", "restartPolicy: Always", "kubernetes", "restartPolicy"},
	{"k8s/migrate-job.yaml", "            limits:\n              cpu: \"1\"\n              memory: 512Mi\n", "", "kubernetes", "limit"},
	{"k8s/hpa.yaml", "    name: caido-cloud\n  minReplicas", "    name: caido\n  minReplicas", "kubernetes", "HorizontalPodAutoscaler"},
	{"k8s/hpa.yaml", "apiVersion: autoscaling/v2", "apiVersion: autoscaling/v2beta2", "kubernetes", "autoscaling/v2beta2"},
	{"k8s/pdb.yaml", "      app.kubernetes.io/component: server", "      app.kubernetes.io/component: api", "kubernetes", "PodDisruptionBudget"},
	{"k8s/pdb.yaml", "minAvailable: 1", "minAvailable: 2", "kubernetes", "PodDisruptionBudget"},
	{"k8s/service.yaml", "    app.kubernetes.io/component: server\n  ports", "    app.kubernetes.io/component: api\n  ports", "kubernetes", "Service"},
	{"k8s/service.yaml", "targetPort: http", "targetPort: web", "kubernetes", "targetPort"},
	{"k8s/networkpolicy.yaml", "      app.kubernetes.io/name: caido-cloud\n  policyTypes", "      app.kubernetes.io/name: caido\n  policyTypes", "kubernetes", "NetworkPolicy"},
	{"k8s/networkpolicy.yaml", "        - protocol: UDP\n          port: 53\n", "", "kubernetes", "53"},
	{"k8s/networkpolicy.yaml", "          port: 5432", "          port: 5433", "kubernetes", "5432"},
	{"k8s/networkpolicy.yaml", "          port: 4318", "          port: 4317", "kubernetes", "4318"},
	{"k8s/networkpolicy.yaml", "    - ports:\n        - protocol: TCP\n          port: 8080\n", "    - {}\n", "kubernetes", "ingress"},
	{"k8s/networkpolicy.yaml", "    - Egress\n", "", "kubernetes", "Egress"},
	{"k8s/otel-collector.yaml", "verbosity: basic", "verbosity: detailed", "kubernetes", "otel-collector.yaml"},
	{"k8s/kustomization.yaml", "  - pdb.yaml\n", "", "kubernetes", "kustomization"},
	{"k8s/kustomization.yaml", "  - name: caido-cloud\n", "  - name: caido\n", "kubernetes", "images"},
	{"README.md", "--from-literal=master-key=", "--from-literal=masterkey=", "kubernetes", "master-key"},
	{"README.md", "--from-literal=backup-keyset=", "--from-literal=backupkeyset=", "kubernetes", "backup-keyset"},
	{"k8s/configmap.yaml", "\ndata:\n", "\ndata:\n  CAIDO_CLOUD_BACKUP_DIR: \"/backups\"\n", "kubernetes", "backup scheduler"},
	{"k8s/backup-cronjob.yaml", "concurrencyPolicy: Forbid", "concurrencyPolicy: Allow", "kubernetes", "Forbid"},
	{"k8s/backup-cronjob.yaml", "      backoffLimit: 2\n", "", "kubernetes", "backoffLimit"},
	{"k8s/backup-cronjob.yaml", "image: caido-cloud-backup:latest", "image: caido-cloud:latest", "kubernetes", "no pg_dump"},
	{"k8s/backup-cronjob.yaml", "image: caido-cloud-backup:latest", "image: caido-cloud-backup:1.0.0", "kubernetes", "release"},
	{"k8s/backup-cronjob.yaml", "args: [\"backup\", \"create\"]", "args: [\"backup\", \"list\"]", "kubernetes", "want backup create or backup prune"},
	{"k8s/backup-cronjob.yaml", "claimName: caido-cloud-backups", "claimName: backups", "kubernetes", "PersistentVolumeClaim"},
	{"k8s/backup-cronjob.yaml", "            app.kubernetes.io/name: caido-cloud\n            app.kubernetes.io/component: backup\n        spec:", "            app.kubernetes.io/name: caido-backup\n            app.kubernetes.io/component: backup\n        spec:", "kubernetes", "backup CronJob's pods"},
	{"k8s/backup-cronjob.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false", "kubernetes", "container create: readOnlyRootFilesystem"},
	{"k8s/backup-pvc.yaml", "    requests:\n      storage: 20Gi\n", "    requests: {}\n", "kubernetes", "no storage request"},
	{"k8s/kustomization.yaml", "  - name: caido-cloud-backup\n", "  - name: caido-backup\n", "kubernetes", "caido-cloud-backup"},
}

func TestChecksCatchMistakes(t *testing.T) {
	base := readFiles(t)
	for _, m := range mistakes {
		t.Run(m.check+"/"+m.file+"/"+m.want, func(t *testing.T) {
			if !strings.Contains(base[m.file], m.old) {
				t.Fatalf("%s no longer contains %q: update this case", m.file, m.old)
			}
			f := maps.Clone(base)
			f[m.file] = strings.Replace(f[m.file], m.old, m.new, 1)
			got := checks[m.check](f)
			for _, p := range got {
				if strings.Contains(p, m.want) {
					t.Log(p)
					return
				}
			}
			t.Errorf("replacing %q with %q in %s: the %s check reported %q; want a problem mentioning %q",
				m.old, m.new, m.file, m.check, got, m.want)
		})
	}
}

// ---------------------------------------------------------------------------
// Settings: what the files may set, and what each subcommand needs.

// knownVariable reports whether caido-cloud reads the variable: a setting of
// config.Settings, or an OTEL_ variable of README.md's settings table (the
// OpenTelemetry SDK reads those, not config).
func knownVariable(f files, name string) bool {
	for _, s := range config.Settings {
		if s.Env == name {
			return true
		}
	}
	if !strings.HasPrefix(name, "OTEL_") {
		return false
	}
	return strings.Contains(f["../README.md"], "| `"+name+"` |")
}

func unknownVariable(where, name string) string {
	return fmt.Sprintf("%s: %s is not a setting of config.Settings (nor an OTEL_ variable of README.md's table): caido-cloud ignores it", where, name)
}

// secretVar matches the variables whose values are secrets.
var secretVar = regexp.MustCompile(`(PASSWORD|TOKEN|SECRET|_KEY|_KEYS|_KEYSET)$`)

// commandFiles are the files of cmd/caido-cloud that hold the subcommands'
// functions the deployment files run.
var commandFiles = []string{"../cmd/caido-cloud/serve.go", "../cmd/caido-cloud/backup.go"}

// commandTable maps each subcommand of cmd/caido-cloud/main.go's commands
// ("serve", "backup create") to the name of its function.
func commandTable(f files) (map[string]string, error) {
	file, err := parser.ParseFile(token.NewFileSet(), "main.go", f["../cmd/caido-cloud/main.go"], 0)
	if err != nil {
		return nil, err
	}
	table := map[string]string{}
	ast.Inspect(file, func(n ast.Node) bool {
		lit, ok := n.(*ast.CompositeLit)
		if !ok || len(lit.Elts) != 3 {
			return true
		}
		name, ok1 := lit.Elts[0].(*ast.BasicLit)
		fn, ok2 := lit.Elts[2].(*ast.Ident)
		if ok1 && ok2 && name.Kind == token.STRING {
			s, _ := strconv.Unquote(name.Value)
			table[s] = fn.Name
		}
		return true
	})
	if len(table) == 0 {
		return nil, errors.New("cmd/caido-cloud/main.go: no {\"name\", \"summary\", func} entries in commands (update deploy_test.go's commandTable)")
	}
	return table, nil
}

// subcommand is the subcommand a command line (after the binary) runs, as
// main.go's dispatch matches it: "serve", "backup create". A line that
// matches none comes back whole.
func subcommand(f files, cmd []string) string {
	table, _ := commandTable(f)
	for n := 2; n >= 1; n-- {
		if len(cmd) >= n {
			if _, ok := table[strings.Join(cmd[:n], " ")]; ok {
				return strings.Join(cmd[:n], " ")
			}
		}
	}
	return strings.Join(cmd, " ")
}

// requiredSettings returns the settings a subcommand (serve, migrate, backup
// create, …) requires, read from its function (found through main.go's
// commands) in cmd/caido-cloud/serve.go or backup.go: the first []string
// literal of its body, which it passes to withApp or loadConfig.
func requiredSettings(f files, subcommand string) ([]string, error) {
	table, err := commandTable(f)
	if err != nil {
		return nil, err
	}
	name, ok := table[subcommand]
	if !ok {
		return nil, fmt.Errorf("cmd/caido-cloud/main.go: caido-cloud has no subcommand %q", subcommand)
	}
	for _, path := range commandFiles {
		file, err := parser.ParseFile(token.NewFileSet(), path, f[path], 0)
		if err != nil {
			return nil, err
		}
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Name.Name != name || fn.Recv != nil {
				continue
			}
			var out []string
			found := false
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				lit, ok := n.(*ast.CompositeLit)
				if found || !ok {
					return !found
				}
				if arr, ok := lit.Type.(*ast.ArrayType); !ok || arr.Len != nil || fmt.Sprint(arr.Elt) != "string" {
					return true
				}
				for _, e := range lit.Elts {
					if b, ok := e.(*ast.BasicLit); ok {
						s, _ := strconv.Unquote(b.Value)
						out = append(out, s)
					}
				}
				found = true
				return false
			})
			if found {
				return out, nil
			}
		}
	}
	return nil, fmt.Errorf("cmd/caido-cloud: no []string of required settings in func %s of %s (update deploy_test.go's requiredSettings)", name, subcommand)
}

// checkSettings loads env as the subcommand would and reports every setting
// config rejects or the subcommand misses. It returns the configuration.
func checkSettings(f files, p *problems, where, subcommand string, env map[string]string) config.Config {
	cfg, err := config.Load(func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		p.add("%s: %s", where, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	required, err := requiredSettings(f, subcommand)
	if err != nil {
		p.add("%v", err)
	}
	if err := cfg.Require(required...); err != nil {
		p.add("%s (%s): %s", where, subcommand, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return cfg
}

// listenPort is the port of the listen address; it reports a loopback host,
// which nothing outside the container could reach.
func listenPort(p *problems, where string, cfg config.Config) int {
	host, port, err := net.SplitHostPort(cfg.ListenAddr)
	if err != nil {
		return 0
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		p.add("%s: CAIDO_CLOUD_LISTEN_ADDR %s is a loopback address: nothing outside the container reaches it; want 0.0.0.0:PORT", where, cfg.ListenAddr)
	}
	n, _ := strconv.Atoi(port)
	return n
}

// urlHostPort is the host and port (explicit or the scheme's) of a URL.
func urlHostPort(raw string) (string, int) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0
	}
	port, _ := strconv.Atoi(u.Port())
	if port == 0 {
		switch u.Scheme {
		case "http":
			port = 80
		case "https":
			port = 443
		case "postgres", "postgresql":
			port = 5432
		}
	}
	return u.Hostname(), port
}

// ---------------------------------------------------------------------------
// Dockerfile.

type instruction struct {
	cmd, args string
	line      int
}

type stage struct {
	image, name string
	line        int
	body        []instruction
}

// parseDockerfile splits a Dockerfile into stages of instructions, joining
// continuation lines and expanding the global ARGs in FROM.
func parseDockerfile(src string) []stage {
	var instrs []instruction
	var cur strings.Builder
	start := 0
	for i, line := range strings.Split(src, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		instrs = append(instrs, instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " "), start})
		cur.Reset()
	}
	globals := map[string]string{}
	var stages []stage
	for _, in := range instrs {
		switch {
		case in.cmd == "FROM":
			var fields []string
			for _, w := range strings.Fields(in.args) {
				if !strings.HasPrefix(w, "--") {
					fields = append(fields, w)
				}
			}
			s := stage{line: in.line}
			if len(fields) > 0 {
				s.image = os.Expand(fields[0], func(k string) string { return globals[k] })
			}
			if len(fields) == 3 && strings.EqualFold(fields[1], "AS") {
				s.name = fields[2]
			}
			stages = append(stages, s)
		case len(stages) == 0:
			if in.cmd == "ARG" {
				k, v, _ := strings.Cut(in.args, "=")
				globals[k] = v
			}
		default:
			stages[len(stages)-1].body = append(stages[len(stages)-1].body, in)
		}
	}
	return stages
}

// env is the ENV of a stage.
func (s stage) env() map[string]string {
	env := map[string]string{}
	for _, in := range s.body {
		if in.cmd != "ENV" {
			continue
		}
		fields := strings.Fields(in.args)
		if len(fields) > 0 && !strings.Contains(fields[0], "=") {
			env[fields[0]] = strings.Join(fields[1:], " ") // legacy ENV KEY VALUE
			continue
		}
		for _, kv := range fields {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = strings.Trim(v, `"`)
		}
	}
	return env
}

// last returns the arguments of the stage's last instruction cmd.
func (s stage) last(cmd string) (string, bool) {
	for i := len(s.body) - 1; i >= 0; i-- {
		if s.body[i].cmd == cmd {
			return s.body[i].args, true
		}
	}
	return "", false
}

// backupTarget is the stage of the backup image (docker build --target
// backup): the binary with pg_dump and psql. The server image is the last
// stage, the default target.
const backupTarget = "backup"

// targetStage is the stage `docker build --target target` builds; "" is the
// default target, the last stage.
func targetStage(f files, target string) (stage, bool) {
	stages := parseDockerfile(f["Dockerfile"])
	if len(stages) == 0 {
		return stage{}, false
	}
	if target == "" {
		return stages[len(stages)-1], true
	}
	for _, s := range stages {
		if s.name == target {
			return s, true
		}
	}
	return stage{}, false
}

// imageEnv is the ENV the image of target gives every container.
func imageEnv(f files, target string) map[string]string {
	s, ok := targetStage(f, target)
	if !ok {
		return map[string]string{}
	}
	return s.env()
}

// imageCmd is the default command (CMD) of the image of target.
func imageCmd(f files, target string) []string {
	s, ok := targetStage(f, target)
	if !ok {
		return nil
	}
	args, _ := s.last("CMD")
	var cmd []string
	_ = json.Unmarshal([]byte(args), &cmd)
	return cmd
}

// stageUID is the numeric uid of the stage's last USER, or -1.
func stageUID(s stage) int {
	user, ok := s.last("USER")
	if !ok {
		return -1
	}
	uid, _, _ := strings.Cut(user, ":")
	n, err := strconv.Atoi(uid)
	if err != nil {
		return -1
	}
	return n
}

// pgMajor is the major version of the PostgreSQL client programs of the
// backup stage: of its postgres:N image, or of the postgresql-client-N it
// installs; 0 when it has none.
func pgMajor(s stage) int {
	if m := regexp.MustCompile(`^(?:docker\.io/)?(?:library/)?postgres:(\d+)`).FindStringSubmatch(s.image); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	for _, in := range s.body {
		if m := regexp.MustCompile(`postgresql-client-(\d+)`).FindStringSubmatch(in.args); in.cmd == "RUN" && m != nil {
			n, _ := strconv.Atoi(m[1])
			return n
		}
	}
	return 0
}

// checkRuntimeStage checks what both images share: the exec-form ENTRYPOINT
// of the binary, copied from the stage that builds it, run by a numeric
// non-root user, and ENV of known settings only.
func checkRuntimeStage(p *problems, f files, what string, s stage, builders []string) {
	entry, _ := s.last("ENTRYPOINT")
	var entrypoint []string
	if err := json.Unmarshal([]byte(entry), &entrypoint); err != nil || len(entrypoint) != 1 || entrypoint[0] != "/caido-cloud" {
		p.add("Dockerfile: %s ENTRYPOINT %s; want the exec form [\"/caido-cloud\"]", what, entry)
	}
	copied := false
	for _, in := range s.body {
		fields := strings.Fields(in.args)
		if in.cmd != "COPY" || len(fields) == 0 || fields[len(fields)-1] != "/caido-cloud" {
			continue
		}
		for _, fl := range fields {
			if from, ok := strings.CutPrefix(fl, "--from="); ok && slices.Contains(builders, from) {
				copied = true
			}
		}
	}
	if !copied {
		p.add("Dockerfile: the %s does not COPY --from=<builder> the binary to /caido-cloud (builders: %v): not a multi-stage build of the binary", what, builders)
	}
	if user, ok := s.last("USER"); !ok {
		p.add("Dockerfile: the %s has no USER: the container would run as root", what)
	} else if uid := stageUID(s); uid <= 0 {
		p.add("Dockerfile: %s USER %s; want a numeric non-root uid (as 65532, distroless's nonroot), which runAsNonRoot can verify", what, user)
	}
	env := s.env()
	for _, name := range slices.Sorted(maps.Keys(env)) {
		// PG_BIN_DIR is the backup package's own (README.md, Backups).
		if name == "PG_BIN_DIR" && strings.Contains(f["../README.md"], "PG_BIN_DIR") {
			continue
		}
		if !knownVariable(f, name) {
			p.add("%s", unknownVariable("Dockerfile ENV ("+what+")", name))
		}
	}
}

func checkDockerfile(f files) problems {
	var p problems
	stages := parseDockerfile(f["Dockerfile"])
	if len(stages) < 2 {
		p.add("Dockerfile: %d stage(s); want a multi-stage build (a Go builder, then the runtime image)", len(stages))
		if len(stages) == 0 {
			return p
		}
	}
	final := stages[len(stages)-1]
	if !strings.HasPrefix(final.image, "gcr.io/distroless/static") && final.image != "scratch" {
		p.add("Dockerfile:%d: the final stage is FROM %s; want gcr.io/distroless/static… or scratch", final.line, final.image)
	}

	// The builder: a golang image of go.mod's version, a static, reproducible build.
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(f["../go.mod"])
	var builders []string // what COPY --from= names them by: name, or index
	for i, s := range stages[:len(stages)-1] {
		for _, in := range s.body {
			if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
				continue
			}
			builders = append(builders, strconv.Itoa(i))
			if s.name != "" {
				builders = append(builders, s.name)
			}
			if !strings.HasPrefix(s.image, "golang:") {
				p.add("Dockerfile:%d: go build runs in FROM %s; want a golang: image", in.line, s.image)
			} else if tag := strings.TrimPrefix(s.image, "golang:"); goVersion != nil && tag != goVersion[1] && !strings.HasPrefix(tag, goVersion[1]+".") && !strings.HasPrefix(tag, goVersion[1]+"-") {
				p.add("Dockerfile:%d: builder golang:%s does not match go.mod's go %s", s.line, tag, goVersion[1])
			}
			for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-s -w", "./cmd/caido-cloud"} {
				if !strings.Contains(in.args, want) {
					p.add("Dockerfile:%d: go build without %s", in.line, want)
				}
			}
			if !strings.Contains(in.args, "-X main.version=") {
				p.add("Dockerfile:%d: go build does not set -X main.version=", in.line)
			}
		}
	}
	if len(builders) == 0 {
		p.add("Dockerfile: no stage before the final one runs go build")
	}
	if !regexp.MustCompile(`(?m)^var version = "`).MatchString(f["../cmd/caido-cloud/main.go"]) {
		p.add("Dockerfile: -X main.version= sets nothing: cmd/caido-cloud/main.go has no `var version = \"…\"`")
	}

	// The runtime: the binary copied from the builder, a numeric non-root user.
	checkRuntimeStage(&p, f, "final stage", final, builders)
	if cmd := imageCmd(f, ""); !slices.Equal(cmd, []string{"serve"}) {
		p.add("Dockerfile: final CMD %q; want [\"serve\"]", cmd)
	}
	env := final.env()
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		p.add("Dockerfile ENV: %v", err)
	}
	port := listenPort(&p, "Dockerfile ENV", cfg)
	if expose, _ := final.last("EXPOSE"); !slices.Contains(strings.Fields(expose), strconv.Itoa(port)) {
		p.add("Dockerfile: EXPOSE %s; want the listen port %d (CAIDO_CLOUD_LISTEN_ADDR %s)", expose, port, cfg.ListenAddr)
	}

	// The backup image (--target backup): the same binary next to pg_dump
	// and psql, which backup create and restore run; placed before the
	// server stage, which stays the default target.
	if b, ok := targetStage(f, backupTarget); !ok {
		p.add("Dockerfile: no stage named %s (e.g. FROM postgres:15-bookworm AS %s): backup create needs pg_dump, which the server image lacks", backupTarget, backupTarget)
	} else {
		checkRuntimeStage(&p, f, "backup stage", b, builders)
		if n := pgMajor(b); n < 15 {
			p.add("Dockerfile:%d: the backup stage (FROM %s) has PostgreSQL client programs of major %d; want 15 or later (pg_dump and psql of the server's major version or newer)", b.line, b.image, n)
		}
		if cmd := imageCmd(f, backupTarget); len(cmd) > 0 && !strings.HasPrefix(subcommand(f, cmd), "backup ") {
			p.add("Dockerfile: backup stage CMD %q; want a backup subcommand (e.g. [\"backup\", \"create\"])", cmd)
		}
	}
	if !regexp.MustCompile(`(?m)^/?\.data/?$`).MatchString(f["../.dockerignore"]) {
		p.add("../.dockerignore: .data/ (make run's database, master key and logs) is not excluded from the build context")
	}
	return p
}

// ---------------------------------------------------------------------------
// OpenTelemetry Collector configuration.

type collectorConfig struct {
	Receivers  map[string]any `yaml:"receivers"`
	Processors map[string]any `yaml:"processors"`
	Exporters  map[string]any `yaml:"exporters"`
	Extensions map[string]any `yaml:"extensions"`
	Connectors map[string]any `yaml:"connectors"`
	Service    struct {
		Extensions []string `yaml:"extensions"`
		Pipelines  map[string]struct {
			Receivers  []string `yaml:"receivers"`
			Processors []string `yaml:"processors"`
			Exporters  []string `yaml:"exporters"`
		} `yaml:"pipelines"`
		Telemetry any `yaml:"telemetry"`
	} `yaml:"service"`
}

// parseCollector decodes the collector configuration, unknown top-level
// sections being an error.
func parseCollector(src string) (collectorConfig, error) {
	var c collectorConfig
	dec := yaml.NewDecoder(strings.NewReader(src))
	dec.KnownFields(true)
	err := dec.Decode(&c)
	return c, err
}

// otlpHTTPPort is the port of the otlp receiver's http protocol.
func otlpHTTPPort(c collectorConfig) (string, int) {
	var r struct {
		Protocols struct {
			HTTP *struct {
				Endpoint string `yaml:"endpoint"`
			} `yaml:"http"`
		} `yaml:"protocols"`
	}
	b, _ := yaml.Marshal(c.Receivers["otlp"])
	if yaml.Unmarshal(b, &r) != nil || r.Protocols.HTTP == nil {
		return "", 0
	}
	endpoint := r.Protocols.HTTP.Endpoint
	if endpoint == "" {
		endpoint = "localhost:4318"
	}
	_, port, _ := net.SplitHostPort(endpoint)
	n, _ := strconv.Atoi(port)
	return endpoint, n
}

func checkCollector(f files) problems {
	var p problems
	const file = "otel-collector.yaml"
	c, err := parseCollector(f[file])
	if err != nil {
		p.add("%s: %v", file, err)
		return p
	}
	signals := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(c.Service.Pipelines)) {
		pl := c.Service.Pipelines[name]
		signal, _, _ := strings.Cut(name, "/")
		signals[signal] = true
		if len(pl.Receivers) == 0 {
			p.add("%s: pipeline %s has no receivers", file, name)
		}
		if len(pl.Exporters) == 0 {
			p.add("%s: pipeline %s has no exporters", file, name)
		}
		for _, ref := range []struct {
			kind    string
			ids     []string
			defined []map[string]any
		}{
			{"receiver", pl.Receivers, []map[string]any{c.Receivers, c.Connectors}},
			{"processor", pl.Processors, []map[string]any{c.Processors}},
			{"exporter", pl.Exporters, []map[string]any{c.Exporters, c.Connectors}},
		} {
			for _, id := range ref.ids {
				if !slices.ContainsFunc(ref.defined, func(m map[string]any) bool { _, ok := m[id]; return ok }) {
					p.add("%s: pipeline %s uses %s %s, which is not defined", file, name, ref.kind, id)
				}
			}
		}
	}
	for _, want := range []string{"traces", "metrics"} {
		if !signals[want] {
			p.add("%s: no %s pipeline (caido-cloud pushes traces and metrics)", file, want)
		}
	}
	for _, id := range c.Service.Extensions {
		if _, ok := c.Extensions[id]; !ok {
			p.add("%s: service uses extension %s, which is not defined", file, id)
		}
	}
	endpoint, port := otlpHTTPPort(c)
	if port == 0 {
		p.add("%s: the otlp receiver has no http protocol (caido-cloud pushes OTLP/HTTP)", file)
	} else if host, _, _ := net.SplitHostPort(endpoint); host == "localhost" || strings.HasPrefix(host, "127.") {
		p.add("%s: the otlp receiver listens on %s: other containers cannot reach localhost; want 0.0.0.0:%d", file, endpoint, port)
	}
	return p
}

// ---------------------------------------------------------------------------
// compose.yaml.

// composeSecrets are the variables compose.yaml must take from deploy/.env,
// with the values the test gives them.
var composeSecrets = map[string]string{
	"POSTGRES_PASSWORD":         "pgpassword0test",
	"OPENFGA_PRESHARED_KEY":     "openfgakey0test",
	"CAIDO_CLOUD_MASTER_KEY":    base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
	"CAIDO_CLOUD_BACKUP_KEYSET": testKeyset,
}

// testKeyset is a backup keyset (CAIDO_CLOUD_BACKUP_KEYSET) for the checks.
var testKeyset = func() string {
	ks, err := backup.NewKeyset()
	if err != nil {
		panic(err)
	}
	return ks
}()

// composeRequired are the other variables compose.yaml requires.
var composeRequired = map[string]string{
	"CAIDO_CLOUD_PUBLIC_URL": "https://cloud.example.test",
}

func loadCompose(src string, env map[string]string) (*types.Project, error) {
	dir, err := filepath.Abs(".")
	if err != nil {
		return nil, err
	}
	return loader.LoadWithContext(context.Background(), types.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(dir, "compose.yaml"), Content: []byte(src)}},
		Environment: env,
	})
}

// envOf is a service's environment with unset values dropped.
func envOf(s types.ServiceConfig) map[string]string {
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// commandOf is the subcommand a caido-cloud service of the server image
// runs: its command's, or the image's.
func commandOf(f files, s types.ServiceConfig) string {
	cmd := []string(s.Command)
	if len(cmd) == 0 {
		cmd = imageCmd(f, "")
	}
	return subcommand(f, cmd)
}

func mounts(s types.ServiceConfig, file string) bool {
	for _, v := range s.Volumes {
		if v.Type == types.VolumeTypeBind && filepath.Base(v.Source) == file {
			return true
		}
	}
	return false
}

func checkCompose(f files) problems {
	var p problems
	const file = "compose.yaml"
	env := map[string]string{}
	maps.Copy(env, composeSecrets)
	maps.Copy(env, composeRequired)

	// Secrets and required values come from the environment: without one,
	// compose refuses to start and names it; .env.example lists it.
	for _, name := range slices.Sorted(maps.Keys(env)) {
		without := maps.Clone(env)
		delete(without, name)
		if _, err := loadCompose(f[file], without); err == nil || !strings.Contains(err.Error(), name) {
			p.add("%s: loads without %s (err: %v); want ${%s:?…} so that compose refuses to start without it", file, name, err, name)
		}
		if !regexp.MustCompile(`(?m)^` + name + `=`).MatchString(f[".env.example"]) {
			p.add(".env.example: does not list %s", name)
		}
	}

	project, err := loadCompose(f[file], env)
	if err != nil {
		p.add("%s: %v", file, err)
		return p
	}
	services := project.Services

	// No secret is written in the file: every secret-like value is one the
	// test put in the environment.
	isSecret := func(v string) bool { return slices.Contains(slices.Collect(maps.Values(composeSecrets)), v) }
	for _, name := range slices.Sorted(maps.Keys(services)) {
		for k, v := range envOf(services[name]) {
			if secretVar.MatchString(k) && v != "" && !isSecret(v) {
				p.add("%s: service %s sets %s to a literal value; take it from the environment (${VAR:?…}) instead", file, name, k)
			}
			if u, err := url.Parse(v); err == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && !isSecret(pw) {
					p.add("%s: service %s: %s has a literal password; take it from the environment (${VAR:?…})", file, name, k)
				}
			}
		}
		for dep, d := range services[name].DependsOn {
			target, ok := services[dep]
			if !ok {
				continue
			}
			if d.Condition == types.ServiceConditionHealthy && (target.HealthCheck == nil || target.HealthCheck.Disable || len(target.HealthCheck.Test) == 0) {
				p.add("%s: %s waits for %s to be healthy, but %s has no healthcheck", file, name, dep, dep)
			}
		}
	}

	// Dependencies: PostgreSQL 15 and the pinned OpenFGA, migrated first.
	var postgres, openfgaRun, openfgaMigrate, collector, proxy string
	for _, name := range slices.Sorted(maps.Keys(services)) {
		s := services[name]
		switch {
		case strings.HasPrefix(s.Image, "postgres:"):
			postgres = name
			if !strings.HasPrefix(s.Image, "postgres:15") {
				p.add("%s: %s is %s; want postgres:15", file, name, s.Image)
			}
		case strings.HasPrefix(s.Image, "openfga/openfga:"):
			pinned := regexp.MustCompile(`(?m)^\s*github\.com/openfga/openfga (v\S+)`).FindStringSubmatch(f["../tools/go.mod"])
			if tag := strings.TrimPrefix(s.Image, "openfga/openfga:"); pinned == nil || tag != pinned[1] {
				p.add("%s: %s is %s; want the OpenFGA version pinned in tools/go.mod (%v)", file, name, s.Image, pinned)
			}
			switch cmd := strings.Join(s.Command, " "); cmd {
			case "migrate":
				openfgaMigrate = name
			case "run":
				openfgaRun = name
			default:
				p.add("%s: %s runs openfga %q; want migrate or run", file, name, cmd)
			}
			if e := envOf(s); e["OPENFGA_DATASTORE_ENGINE"] != "postgres" {
				p.add("%s: %s: OPENFGA_DATASTORE_ENGINE %q; want postgres", file, name, e["OPENFGA_DATASTORE_ENGINE"])
			}
		case strings.Contains(s.Image, "opentelemetry-collector"):
			collector = name
		}
		if len(s.Ports) > 0 {
			if proxy != "" {
				p.add("%s: %s and %s both publish ports; only the reverse proxy should", file, proxy, name)
			}
			proxy = name
		}
	}
	if postgres == "" {
		p.add("%s: no postgres:15 service", file)
	} else if h := services[postgres].HealthCheck; h == nil || h.Disable || len(h.Test) == 0 {
		p.add("%s: %s has no healthcheck", file, postgres)
	}
	if openfgaMigrate == "" || openfgaRun == "" {
		p.add("%s: want an openfga migrate service and an openfga run service (have %q, %q)", file, openfgaMigrate, openfgaRun)
	} else {
		run := services[openfgaRun]
		if run.DependsOn[openfgaMigrate].Condition != types.ServiceConditionCompletedSuccessfully {
			p.add("%s: %s must depend on %s with condition service_completed_successfully", file, openfgaRun, openfgaMigrate)
		}
		if services[openfgaMigrate].DependsOn[postgres].Condition != types.ServiceConditionHealthy {
			p.add("%s: %s must depend on %s with condition service_healthy", file, openfgaMigrate, postgres)
		}
		if m := envOf(run)["OPENFGA_AUTHN_METHOD"]; m != "preshared" {
			p.add("%s: %s: OPENFGA_AUTHN_METHOD %q; want preshared", file, openfgaRun, m)
		}
		if h := run.HealthCheck; h == nil || h.Disable || len(h.Test) == 0 {
			p.add("%s: %s has no healthcheck", file, openfgaRun)
		}
	}
	if collector == "" {
		p.add("%s: no OpenTelemetry Collector (otel/opentelemetry-collector-contrib) service", file)
	} else if !mounts(services[collector], "otel-collector.yaml") {
		p.add("%s: %s does not mount otel-collector.yaml", file, collector)
	}

	// caido-cloud: the services built from deploy/Dockerfile, the server
	// image (the default target) or the backup image.
	var replicas, migrations, backups []string
	serverImages := map[string]bool{}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		s := services[name]
		if s.Build == nil || filepath.ToSlash(s.Build.Dockerfile) != "deploy/Dockerfile" {
			continue
		}
		where := fmt.Sprintf("%s: service %s", file, name)
		if !s.ReadOnly {
			p.add("%s: read_only is not true", where)
		}
		if !slices.Contains(s.CapDrop, "ALL") {
			p.add("%s: cap_drop does not drop ALL", where)
		}
		if s.User != "" {
			if uid, _, _ := strings.Cut(s.User, ":"); uid == "0" || uid == "root" {
				p.add("%s: runs as root", where)
			}
		}
		switch s.Build.Target {
		case "":
			serverImages[s.Image] = true
		case backupTarget:
			backups = append(backups, name) // checked below
			continue
		default:
			p.add("%s: build target %q; want none (the server image) or %s", where, s.Build.Target, backupTarget)
			continue
		}
		sub := commandOf(f, s)
		switch sub {
		case "serve":
			replicas = append(replicas, name)
		case "migrate":
			migrations = append(migrations, name)
		default:
			p.add("%s runs %q; want serve or migrate", where, sub)
			continue
		}
		full := imageEnv(f, "")
		maps.Copy(full, envOf(s))
		for _, k := range slices.Sorted(maps.Keys(envOf(s))) {
			if !knownVariable(f, k) {
				p.add("%s", unknownVariable(where, k))
			}
		}
		cfg := checkSettings(f, &p, where, sub, full)
		if sub == "serve" && proxy != "" {
			port := listenPort(&p, where, cfg)
			if !strings.Contains(f["Caddyfile"], name+":"+strconv.Itoa(port)) {
				p.add("Caddyfile: does not proxy to %s:%d", name, port)
			}
			if len(replicas) == 1 { // once: every replica sits behind the one Caddyfile
				checkCaddyClientIP(f, &p, where, cfg.ClientIPHeader)
			}
		}
		if host, _ := urlHostPort(cfg.DatabaseURL); postgres != "" && host != postgres {
			p.add("%s: DATABASE_URL's host %q is not the postgres service %q", where, host, postgres)
		}
		if host, port := urlHostPort(cfg.OpenFGAURL); openfgaRun != "" && (host != openfgaRun || port != 8080) {
			p.add("%s: OPENFGA_API_URL %s is not the OpenFGA HTTP API (http://%s:8080)", where, cfg.OpenFGAURL, openfgaRun)
		}
		if openfgaRun != "" && cfg.OpenFGAToken != envOf(services[openfgaRun])["OPENFGA_AUTHN_PRESHARED_KEYS"] {
			p.add("%s: OPENFGA_API_TOKEN is not %s's OPENFGA_AUTHN_PRESHARED_KEYS", where, openfgaRun)
		}
		if endpoint := full["OTEL_EXPORTER_OTLP_ENDPOINT"]; collector != "" {
			c, _ := parseCollector(f["otel-collector.yaml"])
			_, want := otlpHTTPPort(c)
			if host, port := urlHostPort(endpoint); host != collector || port != want {
				p.add("%s: OTEL_EXPORTER_OTLP_ENDPOINT %q is not the collector's OTLP/HTTP receiver (http://%s:%d)", where, endpoint, collector, want)
			}
		}
	}
	if len(replicas) != 2 {
		p.add("%s: %d caido-cloud replicas running serve (%v); want 2", file, len(replicas), replicas)
	}

	// The backup: serve's own scheduler cannot run in the server image (no
	// pg_dump), so a service of the backup image runs backup create, then
	// prune, in a loop, onto a named volume.
	if len(backups) != 1 {
		p.add("%s: %d services built with target %s (%v); want 1, the daily backup (the server image has no pg_dump for serve's own)", file, len(backups), backupTarget, backups)
	}
	backupStage, _ := targetStage(f, backupTarget)
	for _, name := range backups {
		s := services[name]
		where := fmt.Sprintf("%s: service %s", file, name)
		if serverImages[s.Image] {
			p.add("%s: image %s is the server's too: each build would tag the other target under that name; give the backup image its own (CAIDO_CLOUD_BACKUP_IMAGE)", where, s.Image)
		}
		script := strings.Join(append(slices.Clone([]string(s.Entrypoint)), s.Command...), " ")
		if !regexp.MustCompile(`/caido-cloud backup create\s*&&\s*/caido-cloud backup prune\b`).MatchString(script) {
			p.add("%s: does not run `/caido-cloud backup create && /caido-cloud backup prune` (prune only once a backup succeeded): %q", where, script)
		}
		if !strings.Contains(script, "while") || !strings.Contains(script, "sleep") {
			p.add("%s: backs up once; want a loop (while …; sleep) that backs up daily", where)
		}
		if s.Restart != types.RestartPolicyUnlessStopped && s.Restart != types.RestartPolicyAlways {
			p.add("%s: restart %q; want unless-stopped", where, s.Restart)
		}
		full := imageEnv(f, backupTarget)
		maps.Copy(full, envOf(s))
		for _, k := range slices.Sorted(maps.Keys(envOf(s))) {
			if !knownVariable(f, k) {
				p.add("%s", unknownVariable(where, k))
			}
		}
		var cfg config.Config
		for _, sub := range []string{"backup create", "backup prune"} {
			cfg = checkSettings(f, &p, where, sub, full)
		}
		if host, _ := urlHostPort(cfg.DatabaseURL); postgres != "" && host != postgres {
			p.add("%s: DATABASE_URL's host %q is not the postgres service %q", where, host, postgres)
		}
		dir := strings.TrimSuffix(cfg.BackupDir, "/")
		if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			_, named := project.Volumes[v.Source]
			return v.Type == types.VolumeTypeVolume && named && strings.TrimSuffix(v.Target, "/") == dir && !v.ReadOnly
		}) {
			p.add("%s: CAIDO_CLOUD_BACKUP_DIR %q is not a writable named volume of the project: the backups would go with the container", where, cfg.BackupDir)
		}
		uid := stageUID(backupStage)
		if u, _, _ := strings.Cut(s.User, ":"); s.User != "" && u != strconv.Itoa(uid) {
			p.add("%s: user %s is not the backup image's USER %d, which owns %s in the image (and so the fresh volume)", where, s.User, uid, dir)
		}
		if dir != "" && !slices.ContainsFunc(backupStage.body, func(in instruction) bool {
			return in.cmd == "RUN" && strings.Contains(in.args, dir) && strings.Contains(in.args, strconv.Itoa(uid))
		}) {
			p.add("Dockerfile: the backup stage does not create %s owned by its USER %d: the fresh volume that compose service %s mounts there would be root's, and the backup could not write", dir, uid, name)
		}
		if m := regexp.MustCompile(`^postgres:(\d+)`).FindStringSubmatch(services[postgres].Image); m != nil {
			if server, _ := strconv.Atoi(m[1]); pgMajor(backupStage) < server {
				p.add("%s: the backup image's pg_dump (major %d) is older than %s's server (%s): pg_dump refuses a newer server", where, pgMajor(backupStage), postgres, services[postgres].Image)
			}
		}
		if len(migrations) == 1 && s.DependsOn[migrations[0]].Condition != types.ServiceConditionCompletedSuccessfully {
			p.add("%s: must depend on %s with condition service_completed_successfully", where, migrations[0])
		}
	}
	if len(migrations) != 1 {
		p.add("%s: %d caido-cloud services running migrate (%v); want 1", file, len(migrations), migrations)
		return p
	}
	migrate := services[migrations[0]]
	for _, dep := range []string{postgres, openfgaRun} {
		if dep != "" && migrate.DependsOn[dep].Condition != types.ServiceConditionHealthy {
			p.add("%s: %s must depend on %s with condition service_healthy", file, migrations[0], dep)
		}
	}
	for _, r := range replicas {
		if services[r].DependsOn[migrations[0]].Condition != types.ServiceConditionCompletedSuccessfully {
			p.add("%s: replica %s must depend on %s with condition service_completed_successfully", file, r, migrations[0])
		}
	}

	// The reverse proxy: the only published ports, in front of every replica.
	if proxy == "" {
		p.add("%s: no service publishes a port: want a reverse proxy in front of the replicas", file)
	} else {
		if !mounts(services[proxy], "Caddyfile") {
			p.add("%s: the proxy %s does not mount the Caddyfile", file, proxy)
		}
		for _, r := range replicas {
			if _, ok := services[proxy].DependsOn[r]; !ok {
				p.add("%s: the proxy %s does not depend on %s", file, proxy, r)
			}
		}
		if slices.Contains(replicas, proxy) || slices.Contains([]string{postgres, openfgaRun, collector}, proxy) {
			p.add("%s: %s publishes ports; only the reverse proxy should", file, proxy)
		}
	}
	if !strings.Contains(f["Caddyfile"], "health_uri /readyz") {
		p.add("Caddyfile: the proxy does not check /readyz (health_uri /readyz): a replica that is not ready would get requests")
	}
	return p
}

// checkCaddyClientIP: caido-cloud reads the client's address from the one
// header CAIDO_CLOUD_CLIENT_IP_HEADER names, believed because Caddy is a
// trusted proxy. Caddy passes a client's own headers through, so it must set
// that one itself and remove the others a client could forge.
func checkCaddyClientIP(f files, p *problems, where, header string) {
	caddy := f["Caddyfile"]
	for _, h := range []string{"X-Forwarded-For", "Forwarded", "X-Real-IP"} {
		if strings.EqualFold(h, header) {
			if !regexp.MustCompile(`(?m)^\s*header_up\s+` + h + `\s+\S`).MatchString(caddy) {
				p.add("Caddyfile: does not set %s (header_up %s {remote_host}), which %s reads as CAIDO_CLOUD_CLIENT_IP_HEADER: a client's own would be believed", h, h, where)
			}
			continue
		}
		if !regexp.MustCompile(`(?m)^\s*header_up\s+-` + h + `\s*$`).MatchString(caddy) {
			p.add("Caddyfile: does not remove %s (header_up -%s): a client could send its own", h, h)
		}
	}
}

// ---------------------------------------------------------------------------
// Kubernetes manifests.

// dummySecretValues are what the test puts in each key of the Secret
// deploy/README.md tells operators to create.
var dummySecretValues = map[string]string{
	"database-url":      "postgres://caido:secret@postgres:5432/caido?sslmode=require",
	"openfga-api-token": "token",
	"master-key":        base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32)),
	"assistant-api-key": "key",
	"backup-keyset":     testKeyset,
}

// documentedSecret returns the Secret's name and keys from deploy/README.md's
// `kubectl create secret generic NAME --from-literal=KEY=…` lines.
func documentedSecret(f files) (string, map[string]bool) {
	readme := f["README.md"]
	name := ""
	if m := regexp.MustCompile(`kubectl (?:-n \S+ )?create secret generic ([a-z0-9-]+)`).FindStringSubmatch(readme); m != nil {
		name = m[1]
	}
	keys := map[string]bool{}
	for _, m := range regexp.MustCompile(`--from-literal=([A-Za-z0-9._-]+)=`).FindAllStringSubmatch(readme, -1) {
		keys[m[1]] = true
	}
	return name, keys
}

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
		Digest  string `json:"digest,omitempty"`
	} `json:"images"`
}

type object struct {
	file string
	obj  runtime.Object
}

func (o object) String() string {
	m, _ := meta.Accessor(o.obj)
	return fmt.Sprintf("%s: %s %s", o.file, o.obj.GetObjectKind().GroupVersionKind().Kind, m.GetName())
}

// decodeManifests strictly decodes every document of every k8s/ file but
// kustomization.yaml into its typed k8s.io/api object.
func decodeManifests(f files, p *problems) []object {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		autoscalingv2.AddToScheme, policyv1.AddToScheme, networkingv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			p.add("scheme: %v", err)
		}
	}
	serializer := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Yaml: true, Strict: true})
	var out []object
	for _, file := range slices.Sorted(maps.Keys(f)) {
		if !strings.HasPrefix(file, "k8s/") || file == "k8s/kustomization.yaml" {
			continue
		}
		r := kyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(f[file])))
		for i := 1; ; i++ {
			doc, err := r.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				p.add("%s: document %d: %v", file, i, err)
				break
			}
			if j, err := sigsyaml.YAMLToJSON(doc); err == nil && (string(bytes.TrimSpace(j)) == "null" || len(bytes.TrimSpace(j)) == 0) {
				continue // comments only
			}
			obj, gvk, err := serializer.Decode(doc, nil, nil)
			if err != nil {
				p.add("%s: document %d (%v): %v", file, i, gvk, err)
				continue
			}
			o := object{file, obj}
			if m, err := meta.Accessor(obj); err == nil && m.GetNamespace() != "" {
				p.add("%s: sets namespace %q; the manifests are namespace-free (kubectl -n, or kustomize's namespace)", o, m.GetNamespace())
			}
			out = append(out, o)
		}
	}
	return out
}

// podTemplate is a workload's pod template, for the checks all share.
type podTemplate struct {
	kind, where string
	spec        corev1.PodTemplateSpec
}

func selects(sel *metav1.LabelSelector, podLabels map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return false
	}
	return s.Matches(labels.Set(podLabels))
}

// imageTag is the tag of an image reference ("" without one).
func imageTag(image string) string {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[i+1:]
	}
	return ""
}

func imageName(image string) string {
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[:i]
	}
	return image
}

// containerPort resolves a port (number or name) of a container.
func containerPort(c corev1.Container, port intstr.IntOrString) (int32, bool) {
	for _, cp := range c.Ports {
		if (port.Type == intstr.String && cp.Name == port.StrVal) || (port.Type == intstr.Int && cp.ContainerPort == port.IntVal) {
			return cp.ContainerPort, true
		}
	}
	return 0, false
}

func checkContainer(p *problems, where string, pod corev1.PodSpec, c corev1.Container) {
	where = fmt.Sprintf("%s container %s", where, c.Name)
	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := c.Resources.Requests[res]
		lim, hasLim := c.Resources.Limits[res]
		if !hasReq {
			p.add("%s: no %s request", where, res)
		}
		if !hasLim {
			p.add("%s: no %s limit", where, res)
		}
		if hasReq && hasLim && lim.Cmp(req) < 0 {
			p.add("%s: %s limit %s below its request %s", where, res, lim.String(), req.String())
		}
	}
	sc := c.SecurityContext
	if sc == nil {
		sc = &corev1.SecurityContext{}
	}
	psc := pod.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	nonRoot := psc.RunAsNonRoot != nil && *psc.RunAsNonRoot
	if sc.RunAsNonRoot != nil {
		nonRoot = *sc.RunAsNonRoot
	}
	if !nonRoot {
		p.add("%s: runAsNonRoot is not true", where)
	}
	uid := psc.RunAsUser
	if sc.RunAsUser != nil {
		uid = sc.RunAsUser
	}
	if uid != nil && *uid == 0 {
		p.add("%s: runAsUser 0", where)
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		p.add("%s: readOnlyRootFilesystem is not true", where)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		p.add("%s: allowPrivilegeEscalation is not false", where)
	}
	if sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		p.add("%s: capabilities do not drop ALL", where)
	}
}

func checkKubernetes(f files) problems {
	var p problems
	objects := decodeManifests(f, &p)

	// kustomization.yaml lists every file, and names the image it sets.
	var k kustomization
	if err := sigsyaml.UnmarshalStrict([]byte(f["k8s/kustomization.yaml"]), &k); err != nil {
		p.add("k8s/kustomization.yaml: %v", err)
	}
	var manifestFiles []string
	for file := range f {
		if strings.HasPrefix(file, "k8s/") && file != "k8s/kustomization.yaml" {
			manifestFiles = append(manifestFiles, strings.TrimPrefix(file, "k8s/"))
		}
	}
	slices.Sort(manifestFiles)
	if listed := slices.Sorted(slices.Values(k.Resources)); !slices.Equal(listed, manifestFiles) {
		p.add("k8s/kustomization.yaml: resources %v; want every manifest of k8s/: %v", listed, manifestFiles)
	}

	var (
		deployments = map[string]*appsv1.Deployment{}
		jobs        = map[string]*batchv1.Job{}
		cronJobs    = map[string]*batchv1.CronJob{}
		cronWhere   = map[string]string{}
		claims      = map[string]*corev1.PersistentVolumeClaim{}
		services    = map[string]*corev1.Service{}
		configMaps  = map[string]*corev1.ConfigMap{}
		hpas        []*autoscalingv2.HorizontalPodAutoscaler
		pdbs        []*policyv1.PodDisruptionBudget
		netpols     []*networkingv1.NetworkPolicy
		pods        []podTemplate
	)
	for _, o := range objects {
		switch obj := o.obj.(type) {
		case *appsv1.Deployment:
			deployments[obj.Name] = obj
			pods = append(pods, podTemplate{"Deployment", o.String(), obj.Spec.Template})
			if !selects(obj.Spec.Selector, obj.Spec.Template.Labels) {
				p.add("%s: its selector does not match its pod labels", o)
			}
		case *batchv1.Job:
			jobs[obj.Name] = obj
			pods = append(pods, podTemplate{"Job", o.String(), obj.Spec.Template})
		case *batchv1.CronJob:
			cronJobs[obj.Name] = obj
			cronWhere[obj.Name] = o.String()
			pods = append(pods, podTemplate{"CronJob", o.String(), obj.Spec.JobTemplate.Spec.Template})
		case *corev1.PersistentVolumeClaim:
			claims[obj.Name] = obj
			if _, ok := obj.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
				p.add("%s: no storage request", o)
			}
		case *corev1.Service:
			services[obj.Name] = obj
		case *corev1.ConfigMap:
			configMaps[obj.Name] = obj
		case *autoscalingv2.HorizontalPodAutoscaler:
			hpas = append(hpas, obj)
		case *policyv1.PodDisruptionBudget:
			pdbs = append(pdbs, obj)
		case *networkingv1.NetworkPolicy:
			netpols = append(netpols, obj)
		case *corev1.Secret:
			p.add("%s: a Secret in the manifests: secrets are created with kubectl create secret (deploy/README.md), never committed", o)
		default:
			p.add("%s: unexpected kind", o)
		}
	}
	for _, pt := range pods {
		for _, c := range append(slices.Clone(pt.spec.Spec.InitContainers), pt.spec.Spec.Containers...) {
			checkContainer(&p, pt.where, pt.spec.Spec, c)
		}
	}

	// The images of deploy/Dockerfile, by the target each is built from.
	const image, backupImage = "caido-cloud", "caido-cloud-backup"
	targets := map[string]string{image: "", backupImage: backupTarget}
	tags := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		i := slices.IndexFunc(k.Images, func(i struct {
			Name    string `json:"name"`
			NewName string `json:"newName,omitempty"`
			NewTag  string `json:"newTag,omitempty"`
			Digest  string `json:"digest,omitempty"`
		}) bool {
			return i.Name == name
		})
		if i < 0 {
			p.add("k8s/kustomization.yaml: images does not set %s (the image of the caido-cloud containers built from --target %q)", name, targets[name])
			continue
		}
		tags[name] = k.Images[i].NewTag
	}
	if tags[image] != tags[backupImage] && tags[image] != "" && tags[backupImage] != "" {
		p.add("k8s/kustomization.yaml: images set %s:%s but %s:%s: both come from one build of a release", image, tags[image], backupImage, tags[backupImage])
	}

	secretName, secretKeys := documentedSecret(f)
	if secretName == "" || len(secretKeys) == 0 {
		p.add("README.md: no `kubectl create secret generic NAME --from-literal=KEY=…` documents the Secret")
	}
	for key := range secretKeys {
		if _, ok := dummySecretValues[key]; !ok {
			p.add("README.md documents the Secret key %s, which deploy_test.go's dummySecretValues lacks", key)
		}
	}

	// caido-cloud's containers: the settings they get, checked as config
	// would, with secrets only from the documented Secret.
	type caidoContainer struct {
		kind       string
		owner      string // the workload's pod template (podTemplate.where)
		where      string
		subcommand string
		init       bool
		pod        corev1.PodTemplateSpec
		c          corev1.Container
		env        map[string]string
		cfg        config.Config
	}
	var caido []caidoContainer
	for _, pt := range pods {
		inits := len(pt.spec.Spec.InitContainers)
		for i, c := range append(slices.Clone(pt.spec.Spec.InitContainers), pt.spec.Spec.Containers...) {
			target, ok := targets[imageName(c.Image)]
			if !ok {
				continue
			}
			where := fmt.Sprintf("%s container %s", pt.where, c.Name)
			cmd := append(slices.Clone(c.Command), c.Args...)
			if len(c.Command) == 0 && len(c.Args) == 0 {
				cmd = imageCmd(f, target)
			}
			sub := subcommand(f, cmd)
			if (sub == "backup create" || sub == "backup restore") && target != backupTarget {
				p.add("%s: runs %s from the image %s, which has no pg_dump or psql; want the image %s (--target %s)", where, sub, imageName(c.Image), backupImage, backupTarget)
			}
			env := imageEnv(f, target)
			for _, from := range c.EnvFrom {
				switch {
				case from.ConfigMapRef != nil:
					cm, ok := configMaps[from.ConfigMapRef.Name]
					if !ok {
						p.add("%s: envFrom ConfigMap %s is not in the manifests", where, from.ConfigMapRef.Name)
						continue
					}
					for _, name := range slices.Sorted(maps.Keys(cm.Data)) {
						if !knownVariable(f, from.Prefix+name) {
							p.add("%s", unknownVariable(fmt.Sprintf("%s (ConfigMap %s)", where, cm.Name), from.Prefix+name))
						}
						if secretVar.MatchString(from.Prefix+name) || from.Prefix+name == "DATABASE_URL" {
							p.add("%s: ConfigMap %s holds %s; secrets belong in the Secret %s (secretKeyRef)", where, cm.Name, from.Prefix+name, secretName)
						}
						env[from.Prefix+name] = cm.Data[name]
					}
				case from.SecretRef != nil:
					p.add("%s: envFrom Secret %s: reference each key with secretKeyRef, so that every one is documented and checked", where, from.SecretRef.Name)
				}
			}
			for _, e := range c.Env {
				if !knownVariable(f, e.Name) {
					p.add("%s", unknownVariable(where, e.Name))
				}
				switch {
				case e.ValueFrom == nil:
					if secretVar.MatchString(e.Name) || e.Name == "DATABASE_URL" {
						p.add("%s: %s is a literal value; take it from the Secret %s (secretKeyRef)", where, e.Name, secretName)
					}
					env[e.Name] = e.Value
				case e.ValueFrom.SecretKeyRef != nil:
					ref := e.ValueFrom.SecretKeyRef
					if ref.Name != secretName {
						p.add("%s: %s comes from the Secret %s; README.md documents only %q", where, e.Name, ref.Name, secretName)
					}
					if !secretKeys[ref.Key] {
						p.add("%s: %s comes from the Secret key %s, which README.md's kubectl create secret does not document", where, e.Name, ref.Key)
					}
					if ref.Optional != nil && *ref.Optional {
						continue // may be absent: the settings must hold without it
					}
					env[e.Name] = dummySecretValues[ref.Key]
				case e.ValueFrom.ConfigMapKeyRef != nil:
					ref := e.ValueFrom.ConfigMapKeyRef
					if cm, ok := configMaps[ref.Name]; ok {
						env[e.Name] = cm.Data[ref.Key]
					} else {
						p.add("%s: %s comes from the ConfigMap %s, which is not in the manifests", where, e.Name, ref.Name)
					}
				default:
					env[e.Name] = "1"
				}
			}
			cfg := checkSettings(f, &p, where, sub, env)
			caido = append(caido, caidoContainer{pt.kind, pt.where, where, sub, i < inits, pt.spec, c, env, cfg})
		}
	}

	// The Deployment serving: two replicas, probes, a graceful stop.
	var server *appsv1.Deployment
	var serverPod corev1.PodTemplateSpec
	var serverContainer corev1.Container
	var serverCfg config.Config
	var serverEnv map[string]string
	var migrationPods []corev1.PodTemplateSpec
	var backupContainers []caidoContainer
	for _, c := range caido {
		if want := map[string][]string{"Deployment": {"serve"}, "Job": {"migrate"}, "CronJob": {"backup create", "backup prune"}}[c.kind]; !slices.Contains(want, c.subcommand) {
			p.add("%s: runs %q; want %s (a %s of caido-cloud)", c.where, c.subcommand, strings.Join(want, " or "), c.kind)
			continue
		}
		if c.kind == "CronJob" {
			backupContainers = append(backupContainers, c)
		}
		switch c.subcommand {
		case "serve":
			for _, d := range deployments {
				if d.Spec.Template.Spec.Containers != nil && c.pod.Labels != nil && labels.Equals(d.Spec.Template.Labels, c.pod.Labels) {
					server, serverPod, serverContainer, serverEnv, serverCfg = d, c.pod, c.c, c.env, c.cfg
				}
			}
		case "migrate":
			migrationPods = append(migrationPods, c.pod)
		}
	}
	if server == nil {
		p.add("k8s: no Deployment runs caido-cloud serve")
		return p
	}
	where := "Deployment " + server.Name
	if server.Spec.Replicas == nil || *server.Spec.Replicas != 2 {
		p.add("%s: replicas %d; want 2", where, ptrOr(server.Spec.Replicas, 1))
	}
	if serverCfg.BackupDir != "" {
		p.add("%s: CAIDO_CLOUD_BACKUP_DIR is set (%s): serve's backup scheduler needs pg_dump, which the server image lacks; leave it unset, the backup CronJob backs up", where, serverCfg.BackupDir)
	}
	if ru := server.Spec.Strategy.RollingUpdate; server.Spec.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType || ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.String() != "0" {
		p.add("%s: want a RollingUpdate with maxUnavailable 0 (a new pod serves only once migrated and ready)", where)
	}
	port := listenPort(&p, where, serverCfg)
	httpPort := intstr.FromString("http")
	if n, ok := containerPort(serverContainer, httpPort); !ok || int(n) != port {
		p.add("%s: container port http is %d; want the listen port %d (CAIDO_CLOUD_LISTEN_ADDR)", where, n, port)
	}
	for _, probe := range []struct {
		kind, path string
		probe      *corev1.Probe
	}{
		{"readinessProbe", "/readyz", serverContainer.ReadinessProbe},
		{"livenessProbe", "/healthz", serverContainer.LivenessProbe},
	} {
		if probe.probe == nil || probe.probe.HTTPGet == nil || probe.probe.HTTPGet.Path != probe.path {
			p.add("%s: want a %s GET %s", where, probe.kind, probe.path)
			continue
		}
		if n, ok := containerPort(serverContainer, probe.probe.HTTPGet.Port); !ok || int(n) != port {
			p.add("%s: %s on port %s, not the listen port %d", where, probe.kind, probe.probe.HTTPGet.Port.String(), port)
		}
	}
	grace := int64(30)
	if g := serverPod.Spec.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	var sleep int64
	if l := serverContainer.Lifecycle; l != nil && l.PreStop != nil && l.PreStop.Sleep != nil {
		sleep = l.PreStop.Sleep.Seconds
	}
	if time.Duration(grace)*time.Second <= time.Duration(sleep)*time.Second+serverCfg.ShutdownTimeout {
		p.add("%s: terminationGracePeriodSeconds %d is not above the preStop sleep (%ds) plus CAIDO_CLOUD_SHUTDOWN_TIMEOUT (%s): in-flight requests would be killed", where, grace, sleep, serverCfg.ShutdownTimeout)
	}

	// The migration Job.
	if len(migrationPods) == 0 {
		p.add("k8s: no Job runs caido-cloud migrate")
	}
	for name, j := range jobs {
		for _, c := range j.Spec.Template.Spec.Containers {
			if imageName(c.Image) == image && c.Image != serverContainer.Image {
				p.add("Job %s: image %s differs from the Deployment's %s", name, c.Image, serverContainer.Image)
			}
		}
		if rp := j.Spec.Template.Spec.RestartPolicy; rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure {
			p.add("Job %s: restartPolicy %q; want Never or OnFailure", name, rp)
		}
	}

	// The backup CronJob: daily, one run at a time, bounded, backup create
	// then (an init container before it) prune, from the backup image of
	// the Deployment's release, onto a PersistentVolumeClaim.
	var backupPods []corev1.PodTemplateSpec
	creates := 0
	for _, name := range slices.Sorted(maps.Keys(cronJobs)) {
		cj := cronJobs[name]
		where := "CronJob " + name
		spec := cj.Spec.JobTemplate.Spec
		pod := spec.Template.Spec
		backupPods = append(backupPods, spec.Template)
		if fields := strings.Fields(cj.Spec.Schedule); len(fields) != 5 || fields[2] != "*" || fields[3] != "*" || fields[4] != "*" {
			if cj.Spec.Schedule != "@daily" && cj.Spec.Schedule != "@midnight" {
				p.add("%s: schedule %q; want a daily one (M H * * *)", where, cj.Spec.Schedule)
			}
		}
		if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			p.add("%s: concurrencyPolicy %q; want Forbid (one backup at a time)", where, cj.Spec.ConcurrencyPolicy)
		}
		if cj.Spec.SuccessfulJobsHistoryLimit == nil || cj.Spec.FailedJobsHistoryLimit == nil || *cj.Spec.FailedJobsHistoryLimit < 1 {
			p.add("%s: want successfulJobsHistoryLimit and failedJobsHistoryLimit set (at least one failed Job kept, to read its logs)", where)
		}
		if spec.BackoffLimit == nil || *spec.BackoffLimit > 3 {
			p.add("%s: backoffLimit %d; want a small one, set (at most 3)", where, ptrOr(spec.BackoffLimit, 6))
		}
		if spec.ActiveDeadlineSeconds == nil {
			p.add("%s: no activeDeadlineSeconds: a hung pg_dump would hold the Forbid slot and stop every later backup", where)
		}
		if rp := pod.RestartPolicy; rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure {
			p.add("%s: restartPolicy %q; want Never or OnFailure", where, rp)
		}
		var runs []caidoContainer
		for _, c := range backupContainers {
			if c.owner == cronWhere[name] {
				runs = append(runs, c)
			}
		}
		createIdx := slices.IndexFunc(runs, func(c caidoContainer) bool { return c.subcommand == "backup create" })
		if createIdx < 0 {
			continue
		}
		creates++
		for _, c := range runs {
			if c.subcommand == "backup prune" && (!runs[createIdx].init || c.init) {
				p.add("%s: want backup create as an init container and backup prune as a container, so that prune runs only after a backup succeeded", where)
			}
			if tag, want := imageTag(c.c.Image), imageTag(serverContainer.Image); tag != want {
				p.add("%s: image %s is not of the Deployment's release (%s)", c.where, c.c.Image, serverContainer.Image)
			}
			dir := strings.TrimSuffix(c.cfg.BackupDir, "/")
			mounted := false
			for _, m := range c.c.VolumeMounts {
				if strings.TrimSuffix(m.MountPath, "/") != dir || m.ReadOnly {
					continue
				}
				for _, v := range pod.Volumes {
					if v.Name == m.Name && v.PersistentVolumeClaim != nil {
						if _, ok := claims[v.PersistentVolumeClaim.ClaimName]; ok {
							mounted = true
						}
					}
				}
			}
			if !mounted {
				p.add("%s: CAIDO_CLOUD_BACKUP_DIR %q is not a writable mount of a PersistentVolumeClaim of the manifests: the backups would go with the pod", c.where, c.cfg.BackupDir)
			}
		}
	}
	if creates == 0 {
		p.add("k8s: no CronJob runs caido-cloud backup create (the server image cannot back up: no pg_dump)")
	}

	// Service, HPA, PDB and NetworkPolicy all select the server's pods.
	podLabels := serverPod.Labels
	serviceFound := false
	for name, s := range services {
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(podLabels)) || len(s.Spec.Selector) == 0 {
			continue
		}
		serviceFound = true
		for _, mp := range migrationPods {
			if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(mp.Labels)) {
				p.add("Service %s: its selector also matches the migration Job's pods", name)
			}
		}
		for _, bp := range backupPods {
			if labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(bp.Labels)) {
				p.add("Service %s: its selector also matches the backup CronJob's pods", name)
			}
		}
		for _, sp := range s.Spec.Ports {
			if _, ok := containerPort(serverContainer, sp.TargetPort); !ok {
				p.add("Service %s: targetPort %s is not a port of the caido-cloud container", name, sp.TargetPort.String())
			}
		}
	}
	if !serviceFound {
		p.add("k8s: no Service selects the caido-cloud Deployment's pods (labels %v)", podLabels)
	}
	hpaFound := false
	for _, h := range hpas {
		ref := h.Spec.ScaleTargetRef
		if ref.APIVersion != "apps/v1" || ref.Kind != "Deployment" || ref.Name != server.Name {
			p.add("HorizontalPodAutoscaler %s: scaleTargetRef %s %s %s is not the Deployment apps/v1 %s", h.Name, ref.APIVersion, ref.Kind, ref.Name, server.Name)
			continue
		}
		hpaFound = true
		if h.Spec.MinReplicas == nil || *h.Spec.MinReplicas < 2 || h.Spec.MaxReplicas < *h.Spec.MinReplicas {
			p.add("HorizontalPodAutoscaler %s: want 2 ≤ minReplicas ≤ maxReplicas", h.Name)
		}
	}
	if !hpaFound {
		p.add("k8s: no HorizontalPodAutoscaler targets the Deployment %s", server.Name)
	}
	pdbFound := false
	for _, b := range pdbs {
		if !selects(b.Spec.Selector, podLabels) {
			p.add("PodDisruptionBudget %s: its selector does not match the Deployment's pod labels %v", b.Name, podLabels)
			continue
		}
		pdbFound = true
		if b.Spec.MinAvailable != nil && server.Spec.Replicas != nil && b.Spec.MinAvailable.Type == intstr.Int && b.Spec.MinAvailable.IntVal >= *server.Spec.Replicas {
			p.add("PodDisruptionBudget %s: minAvailable %d with %d replicas blocks every node drain", b.Name, b.Spec.MinAvailable.IntVal, *server.Spec.Replicas)
		}
	}
	if !pdbFound {
		p.add("k8s: no PodDisruptionBudget covers the Deployment's pods")
	}

	// NetworkPolicy: in on the HTTP port only; out to DNS, PostgreSQL,
	// OpenFGA and the collector only.
	var policy *networkingv1.NetworkPolicy
	for _, np := range netpols {
		if selects(&np.Spec.PodSelector, podLabels) {
			policy = np
		}
	}
	if policy == nil {
		p.add("k8s: no NetworkPolicy selects the Deployment's pods (labels %v)", podLabels)
		return p
	}
	where = "NetworkPolicy " + policy.Name
	for _, mp := range migrationPods {
		if !selects(&policy.Spec.PodSelector, mp.Labels) {
			p.add("%s: does not select the migration Job's pods (labels %v), which need the same egress", where, mp.Labels)
		}
	}
	for _, bp := range backupPods {
		if !selects(&policy.Spec.PodSelector, bp.Labels) {
			p.add("%s: does not select the backup CronJob's pods (labels %v), which need its egress to DNS and PostgreSQL", where, bp.Labels)
		}
	}
	for _, want := range []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress} {
		if !slices.Contains(policy.Spec.PolicyTypes, want) {
			p.add("%s: policyTypes lacks %s", where, want)
		}
	}
	if len(policy.Spec.Ingress) == 0 {
		p.add("%s: no ingress rule: the Service could not reach the pods", where)
	}
	for i, rule := range policy.Spec.Ingress {
		if len(rule.Ports) == 0 {
			p.add("%s: ingress rule %d allows every port; want the HTTP port %d only", where, i, port)
		}
		for _, rp := range rule.Ports {
			if n, ok := containerPort(serverContainer, ptrOr(rp.Port, intstr.FromInt32(0))); !ok || int(n) != port {
				p.add("%s: ingress rule %d allows port %v; want the HTTP port %d only", where, i, rp.Port, port)
			}
		}
	}
	for i, rule := range policy.Spec.Egress {
		if len(rule.Ports) == 0 {
			p.add("%s: egress rule %d allows every port", where, i)
		}
	}
	_, dbPort := urlHostPort(dummySecretValues["database-url"])
	_, fgaPort := urlHostPort(serverCfg.OpenFGAURL)
	collectorCM := configMaps["otel-collector-config"]
	var otlpPort int
	if collectorCM != nil {
		c, _ := parseCollector(collectorCM.Data["config.yaml"])
		_, otlpPort = otlpHTTPPort(c)
	}
	if _, endpointPort := urlHostPort(serverEnv["OTEL_EXPORTER_OTLP_ENDPOINT"]); endpointPort != otlpPort {
		p.add("%s: OTEL_EXPORTER_OTLP_ENDPOINT's port %d is not the collector's OTLP/HTTP port %d", where, endpointPort, otlpPort)
	}
	for _, want := range []struct {
		what     string
		protocol corev1.Protocol
		port     int
	}{
		{"DNS", corev1.ProtocolUDP, 53},
		{"PostgreSQL", corev1.ProtocolTCP, dbPort},
		{"OpenFGA (OPENFGA_API_URL)", corev1.ProtocolTCP, fgaPort},
		{"the OTLP collector (OTEL_EXPORTER_OTLP_ENDPOINT)", corev1.ProtocolTCP, otlpPort},
	} {
		rule := egressRule(policy, want.protocol, want.port)
		if rule == nil {
			p.add("%s: no egress rule allows %s %d, for %s", where, want.protocol, want.port, want.what)
			continue
		}
		if want.port == otlpPort {
			if d, ok := deployments["otel-collector"]; ok && !slices.ContainsFunc(rule.To, func(peer networkingv1.NetworkPolicyPeer) bool {
				return peer.NamespaceSelector == nil && peer.PodSelector != nil && selects(peer.PodSelector, d.Spec.Template.Labels)
			}) {
				p.add("%s: the egress rule for port %d does not select the otel-collector pods", where, otlpPort)
			}
		}
	}

	// The collector's ConfigMap is deploy/otel-collector.yaml, verbatim.
	if collectorCM == nil {
		p.add("k8s: no ConfigMap otel-collector-config")
	} else if collectorCM.Data["config.yaml"] != f["otel-collector.yaml"] {
		p.add("k8s/otel-collector.yaml: ConfigMap otel-collector-config's config.yaml differs from deploy/otel-collector.yaml; copy it again")
	}
	if d, ok := deployments["otel-collector"]; ok && !slices.ContainsFunc(d.Spec.Template.Spec.Volumes, func(v corev1.Volume) bool {
		return v.ConfigMap != nil && v.ConfigMap.Name == "otel-collector-config"
	}) {
		p.add("Deployment otel-collector: does not mount the ConfigMap otel-collector-config")
	}
	return p
}

func ptrOr[T any](v *T, def T) T {
	if v == nil {
		return def
	}
	return *v
}

// egressRule returns the policy's egress rule allowing protocol and port.
func egressRule(np *networkingv1.NetworkPolicy, protocol corev1.Protocol, port int) *networkingv1.NetworkPolicyEgressRule {
	for i, rule := range np.Spec.Egress {
		for _, rp := range rule.Ports {
			proto := ptrOr(rp.Protocol, corev1.ProtocolTCP)
			if proto != protocol || rp.Port == nil || rp.Port.Type != intstr.Int {
				continue
			}
			end := rp.Port.IntVal
			if rp.EndPort != nil {
				end = *rp.EndPort
			}
			if int32(port) >= rp.Port.IntVal && int32(port) <= end {
				return &np.Spec.Egress[i]
			}
		}
	}
	return nil
}

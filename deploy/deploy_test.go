// Package deploy_test checks the deployment files the way their tools
// read them: compose files through compose-go (the loader Docker Compose
// uses), Kubernetes manifests rendered by kustomize and decoded strictly
// into the API types, and Grafana dashboards against the metrics the
// binary exports.
package deploy_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// seedEnv is the seed deployment's .env as it would be dropped in: only
// the variables the seed knows.
const seedEnv = `ONPREM_ADMIN_EMAIL=ops@corp.example
ONPREM_ADMIN_PASSWORD=seed-password
BETTER_AUTH_SECRET=seed-secret-0123456789abcdef
DASHSCOPE_API_KEY=sk-dashscope
DEEPSEEK_API_KEY=sk-deepseek
`

func loadCompose(t *testing.T, file, envFile string) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join("compose", file)},
		cli.WithWorkingDirectory("compose"), cli.WithEnvFiles(envFile), cli.WithDotEnv, cli.WithName("tensorgate-test"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%s with %s: %v", file, envFile, err)
	}
	return p
}

func TestComposeFiles(t *testing.T) {
	seed := filepath.Join(t.TempDir(), "seed.env")
	if err := os.WriteFile(seed, []byte(seedEnv), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, envFile := range []string{"compose/.env.example", seed} {
		abs, _ := filepath.Abs(envFile)
		p := loadCompose(t, "docker-compose.yml", abs)
		nodes := []string{"tensorgate-1", "tensorgate-2", "tensorgate-3"}
		for _, name := range append(slices.Clone(nodes), "lb", "postgres", "greptimedb", "grafana") {
			s, ok := p.Services[name]
			if !ok {
				t.Fatalf("no service %s", name)
			}
			if s.HealthCheck == nil || len(s.HealthCheck.Test) == 0 {
				t.Errorf("%s has no healthcheck", name)
			}
		}
		for _, name := range nodes {
			s := p.Services[name]
			if s.DependsOn["postgres"].Condition != "service_healthy" || s.DependsOn["greptimedb"].Condition != "service_healthy" {
				t.Errorf("%s does not wait for healthy Postgres and GreptimeDB: %+v", name, s.DependsOn)
			}
			if len(s.Volumes) != 1 || s.Volumes[0].Target != "/data" || s.Volumes[0].Source != name {
				t.Errorf("%s keeps its state in %+v, want its own volume at /data", name, s.Volumes)
			}
			args := strings.Join(s.Command, " ")
			if !strings.Contains(args, "--node-id "+name) || !strings.Contains(args, "--raft-addr "+name+":7000") || !strings.Contains(args, "--join") {
				t.Errorf("%s command %q", name, args)
			}
			env := s.Environment
			if *env["TENSORGATE_BOOTSTRAP_EXPECT"] != "3" || !strings.Contains(*env["DATABASE_URL"], "@postgres:5432/") ||
				!strings.HasPrefix(*env["GREPTIMEDB_REMOTE_WRITE_UPSTREAM_URL"], "http://greptimedb:4000/") ||
				*env["TENSORGATE_CLUSTER_SECRET"] != *env["BETTER_AUTH_SECRET"] || *env["BETTER_AUTH_SECRET"] == "" {
				t.Errorf("%s environment %v", name, env)
			}
		}
		if envFile == seed {
			// The seed's values pass through unchanged.
			env := p.Services["tensorgate-1"].Environment
			if *env["ONPREM_ADMIN_EMAIL"] != "ops@corp.example" || *env["DASHSCOPE_API_KEY"] != "sk-dashscope" || *env["BETTER_AUTH_SECRET"] != "seed-secret-0123456789abcdef" {
				t.Errorf("the seed's .env did not pass through: %v", env)
			}
		}
		published := func(svc string) []string {
			var out []string
			for _, port := range p.Services[svc].Ports {
				out = append(out, port.Published+"->"+itoa(port.Target))
			}
			return out
		}
		if got := published("lb"); !slices.Equal(got, []string{"3000->3000"}) {
			t.Errorf("load balancer publishes %v, want the console on 3000", got)
		}
		if got := published("grafana"); !slices.Equal(got, []string{"3030->3000"}) {
			t.Errorf("grafana publishes %v, want 3030", got)
		}
		for svc, image := range map[string]string{"postgres": "postgres:16", "greptimedb": "greptime/greptimedb:v1.0.1", "grafana": "grafana/grafana:11.3"} {
			if !strings.HasPrefix(p.Services[svc].Image, image) {
				t.Errorf("%s runs %s, want %s", svc, p.Services[svc].Image, image)
			}
		}
	}
	// The single-node variant.
	abs, _ := filepath.Abs("compose/.env.example")
	p := loadCompose(t, "docker-compose.single.yml", abs)
	if s := p.Services["tensorgate"]; len(s.Ports) != 1 || s.Ports[0].Published != "3000" || s.HealthCheck == nil {
		t.Errorf("single node %+v", s)
	}
	// Without BETTER_AUTH_SECRET the files refuse to load.
	empty := filepath.Join(t.TempDir(), "empty.env")
	_ = os.WriteFile(empty, nil, 0o600)
	opts, _ := cli.NewProjectOptions([]string{"compose/docker-compose.yml"}, cli.WithWorkingDirectory("compose"), cli.WithEnvFiles(empty), cli.WithDotEnv)
	if _, err := opts.LoadProject(context.Background()); err == nil || !strings.Contains(err.Error(), "BETTER_AUTH_SECRET") {
		t.Errorf("a missing BETTER_AUTH_SECRET: %v", err)
	}
}

func itoa(n uint32) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestEnvoyChecksEveryNode: the load balancer health-checks each compose
// node on /api/health.
func TestEnvoyChecksEveryNode(t *testing.T) {
	b, err := os.ReadFile("compose/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		StaticResources struct {
			Clusters []struct {
				Name         string `json:"name"`
				HealthChecks []struct {
					HTTPHealthCheck struct {
						Path string `json:"path"`
					} `json:"http_health_check"`
				} `json:"health_checks"`
				LoadAssignment struct {
					Endpoints []struct {
						LbEndpoints []struct {
							Endpoint struct {
								Address struct {
									SocketAddress struct {
										Address   string `json:"address"`
										PortValue int    `json:"port_value"`
									} `json:"socket_address"`
								} `json:"address"`
							} `json:"endpoint"`
						} `json:"lb_endpoints"`
					} `json:"endpoints"`
				} `json:"load_assignment"`
			} `json:"clusters"`
		} `json:"static_resources"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	cl := cfg.StaticResources.Clusters
	if len(cl) != 1 || len(cl[0].HealthChecks) != 1 || cl[0].HealthChecks[0].HTTPHealthCheck.Path != "/api/health" {
		t.Fatalf("clusters %+v", cl)
	}
	var hosts []string
	for _, e := range cl[0].LoadAssignment.Endpoints[0].LbEndpoints {
		a := e.Endpoint.Address.SocketAddress
		hosts = append(hosts, a.Address+":"+itoa(uint32(a.PortValue)))
	}
	if !slices.Equal(hosts, []string{"tensorgate-1:3000", "tensorgate-2:3000", "tensorgate-3:3000"}) {
		t.Fatalf("endpoints %v", hosts)
	}
}

// render builds a kustomization and decodes every object strictly into
// its API type.
func render(t *testing.T, dir string) (sts *appsv1.StatefulSet, svcs map[string]*corev1.Service, pdb *policyv1.PodDisruptionBudget, secrets map[string]*corev1.Secret) {
	t.Helper()
	rm, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize %s: %v", dir, err)
	}
	svcs, secrets = map[string]*corev1.Service{}, map[string]*corev1.Secret{}
	for _, r := range rm.Resources() {
		y, err := r.AsYAML()
		if err != nil {
			t.Fatal(err)
		}
		var obj any
		switch r.GetKind() {
		case "StatefulSet":
			sts = &appsv1.StatefulSet{}
			obj = sts
		case "Service":
			s := &corev1.Service{}
			svcs[r.GetName()], obj = s, s
		case "PodDisruptionBudget":
			pdb = &policyv1.PodDisruptionBudget{}
			obj = pdb
		case "Secret":
			s := &corev1.Secret{}
			secrets[r.GetName()], obj = s, s
		default:
			t.Fatalf("%s: unexpected kind %s", dir, r.GetKind())
		}
		if err := yaml.UnmarshalStrict(y, obj); err != nil {
			t.Fatalf("%s %s does not decode strictly: %v", r.GetKind(), r.GetName(), err)
		}
	}
	if sts == nil || pdb == nil {
		t.Fatalf("%s lacks a StatefulSet or a PodDisruptionBudget", dir)
	}
	return sts, svcs, pdb, secrets
}

func TestKubernetesManifests(t *testing.T) {
	for dir, want := range map[string]int32{"kubernetes/base": 3, "kubernetes/overlays/five-nodes-three-zones": 5} {
		sts, svcs, pdb, secrets := render(t, dir)
		pod := sts.Spec.Template
		c := pod.Spec.Containers[0]
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
			if e.ValueFrom != nil && e.ValueFrom.FieldRef != nil {
				env[e.Name] = "fieldRef:" + e.ValueFrom.FieldRef.FieldPath
			}
		}
		if *sts.Spec.Replicas != want || env["TENSORGATE_BOOTSTRAP_EXPECT"] != itoa(uint32(want)) {
			t.Errorf("%s: %d replicas, bootstrap-expect %s, want %d", dir, *sts.Spec.Replicas, env["TENSORGATE_BOOTSTRAP_EXPECT"], want)
		}
		headless := svcs[sts.Spec.ServiceName]
		if headless == nil || headless.Spec.ClusterIP != "None" || !headless.Spec.PublishNotReadyAddresses {
			t.Errorf("%s: the StatefulSet's service %q is not headless with not-ready addresses published", dir, sts.Spec.ServiceName)
		}
		if env["POD_NAME"] != "fieldRef:metadata.name" || env["TENSORGATE_NODE_ID"] != "$(POD_NAME)" ||
			!strings.HasPrefix(env["TENSORGATE_RAFT_ADDR"], "$(POD_NAME)."+sts.Spec.ServiceName+".") ||
			!strings.HasPrefix(env["TENSORGATE_JOIN"], sts.Spec.ServiceName+".") {
			t.Errorf("%s: node identity and join %v", dir, env)
		}
		if p := c.ReadinessProbe; p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/api/health" {
			t.Errorf("%s: readiness %+v", dir, c.ReadinessProbe)
		}
		if l := c.Lifecycle; l == nil || l.PreStop == nil || l.PreStop.Exec == nil || !slices.Contains(l.PreStop.Exec.Command, "step-down") {
			t.Errorf("%s: preStop %+v", dir, c.Lifecycle)
		}
		if len(sts.Spec.VolumeClaimTemplates) != 1 || !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
			return m.Name == sts.Spec.VolumeClaimTemplates[0].Name && m.MountPath == "/data"
		}) {
			t.Errorf("%s: no volume per pod at /data", dir)
		}
		if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
			t.Errorf("%s: pods may run as root", dir)
		}
		for _, ef := range c.EnvFrom {
			if ef.SecretRef == nil || secrets[ef.SecretRef.Name] == nil {
				t.Errorf("%s: envFrom %+v names no Secret of the kustomization", dir, ef)
			}
		}
		if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
			t.Errorf("%s: PDB %+v", dir, pdb.Spec)
		}
		if pdb.Spec.Selector == nil || len(pdb.Spec.Selector.MatchLabels) == 0 {
			t.Fatalf("%s: the PDB selects nothing", dir)
		}
		for k, v := range pdb.Spec.Selector.MatchLabels {
			if pod.Labels[k] != v {
				t.Errorf("%s: the PDB selects %s=%s, the pods do not carry it", dir, k, v)
			}
		}
		if http := svcs["tensorgate"]; http == nil || http.Spec.Ports[0].TargetPort.String() != "http" {
			t.Errorf("%s: no HTTP service to the pods' http port", dir)
		}
		for name, svc := range svcs {
			if len(svc.Spec.Selector) == 0 {
				t.Errorf("%s: service %s selects no pods", dir, name)
			}
			for k, v := range svc.Spec.Selector {
				if pod.Labels[k] != v {
					t.Errorf("%s: service %s selects %s=%s, the pods do not carry it", dir, name, k, v)
				}
			}
		}
		zones := slices.ContainsFunc(pod.Spec.TopologySpreadConstraints, func(c corev1.TopologySpreadConstraint) bool {
			return c.TopologyKey == "topology.kubernetes.io/zone" && c.WhenUnsatisfiable == corev1.DoNotSchedule
		})
		if zones != (want == 5) {
			t.Errorf("%s: zone spread %v", dir, zones)
		}
	}
}

// metricRE finds the metric names a PromQL expression reads.
var metricRE = regexp.MustCompile(`\b(tensorgate_[a-z_]+|go_[a-z_]+|process_[a-z_]+)\b`)

// exported lists the metric names the binary's code registers.
func exported(t *testing.T) map[string]bool {
	t.Helper()
	names := map[string]bool{}
	lit := regexp.MustCompile(`"(tensorgate_[a-z_]+)"`)
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "deploy") {
			return filepath.SkipDir
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range lit.FindAllSubmatch(b, -1) {
			names[string(m[1])] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestGrafanaDashboardsQueryRealMetrics(t *testing.T) {
	names := exported(t)
	files, _ := filepath.Glob("grafana/dashboards/*.json")
	if len(files) != 3 {
		t.Fatalf("dashboards %v, want gateway, cluster and pipeline", files)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d struct {
			UID    string `json:"uid"`
			Title  string `json:"title"`
			Panels []struct {
				Title   string `json:"title"`
				Targets []struct {
					Expr   string `json:"expr"`
					RawSQL string `json:"rawSql"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(b, &d); err != nil || d.UID == "" || len(d.Panels) == 0 {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range d.Panels {
			if len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", f, p.Title)
			}
			for _, q := range p.Targets {
				if q.RawSQL != "" {
					if !strings.Contains(q.RawSQL, "FROM tensorgate_requests") {
						t.Errorf("%s: panel %q reads a table the GreptimeDB sink does not write: %s", f, p.Title, q.RawSQL)
					}
					continue
				}
				for _, m := range metricRE.FindAllString(q.Expr, -1) {
					base := m
					for _, suf := range []string{"_bucket", "_sum", "_count"} {
						if b, ok := strings.CutSuffix(m, suf); ok && names[b] {
							base = b
						}
					}
					if !names[base] {
						t.Errorf("%s: panel %q queries %s, which the binary does not export", f, p.Title, m)
					}
				}
			}
		}
	}
	// The datasources the dashboards name are provisioned.
	b, err := os.ReadFile("grafana/provisioning/datasources/greptimedb.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var ds struct {
		Datasources []struct{ UID, Type, URL string }
	}
	if err := yaml.Unmarshal(b, &ds); err != nil || len(ds.Datasources) != 2 {
		t.Fatalf("datasources: %v %+v", err, ds)
	}
	for _, d := range ds.Datasources {
		if !strings.Contains(d.URL, "greptimedb:400") {
			t.Errorf("datasource %s points at %s", d.UID, d.URL)
		}
	}
}

// TestDockerfile checks the image's promises: a multi-stage build of a
// static binary, a non-root user, a healthcheck, version labels.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, want := range []string{"AS build", "CGO_ENABLED=0", "FROM gcr.io/distroless/static", "USER 65532", "HEALTHCHECK",
		`"/tensorgate", "health"`, "org.opencontainers.image.version", "VOLUME"} {
		if !strings.Contains(s, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if n := strings.Count(s, "\nFROM "); n != 2 {
		t.Errorf("%d stages, want 2", n)
	}
}

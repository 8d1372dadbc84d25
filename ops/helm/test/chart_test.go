// Checks on the rendered manifests alone: ports and probes, drain timings,
// per-pod redirect addresses, the admin port kept off every Service, the
// session key, monitoring and autoscaling; and values the chart must refuse.

package helmtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// podNameLabel is the label the StatefulSet controller puts on each pod.
const podNameLabel = "statefulset.kubernetes.io/pod-name"

// envValue is the literal value of a container variable, and whether it is set.
func envValue(c *corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// podEnv is the container's environment as the kubelet gives it to pod
// `pod`: downward-API fields filled in, $(VAR) references to earlier
// variables expanded. Variables from Secrets are returned as "secret:NAME/KEY".
func podEnv(t *testing.T, c *corev1.Container, pod string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = envRef.ReplaceAllStringFunc(e.Value, func(ref string) string {
				if v, ok := env[ref[2:len(ref)-1]]; ok {
					return v
				}
				return ref
			})
		case e.ValueFrom.FieldRef != nil:
			switch e.ValueFrom.FieldRef.FieldPath {
			case "metadata.name":
				env[e.Name] = pod
			case "metadata.namespace":
				env[e.Name] = namespace
			default:
				t.Fatalf("%s: field %s not modelled by the test", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
		case e.ValueFrom.SecretKeyRef != nil:
			env[e.Name] = "secret:" + e.ValueFrom.SecretKeyRef.Name + "/" + e.ValueFrom.SecretKeyRef.Key
		default:
			t.Fatalf("%s: valueFrom not modelled by the test", e.Name)
		}
	}
	return env
}

// containerPort resolves a probe's or Service's target (name or number)
// to a container port of c.
func containerPort(c *corev1.Container, target intstr.IntOrString) (corev1.ContainerPort, bool) {
	for _, p := range c.Ports {
		if (target.Type == intstr.String && p.Name == target.StrVal) ||
			(target.Type == intstr.Int && p.ContainerPort == target.IntVal) {
			return p, true
		}
	}
	return corev1.ContainerPort{}, false
}

// listenPort is the port of a TICKFORGE_*LISTEN address.
func listenPort(t *testing.T, c *corev1.Container, name string) (host string, port int32) {
	t.Helper()
	v, ok := envValue(c, name)
	if !ok {
		t.Fatalf("%s is not set: the chart must name the listener's port", name)
	}
	h, p, err := net.SplitHostPort(v)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%s=%q: %v", name, v, err)
	}
	return h, int32(n)
}

// drainTimings are the drain settings the pod runs with.
type drainTimings struct {
	delay, deadline, handoff, grace time.Duration
}

func podDrainTimings(t *testing.T, m *Manifests) drainTimings {
	t.Helper()
	c := m.container(t)
	d, ok := envValue(c, "TICKFORGE_DRAIN_DELAY")
	if !ok {
		t.Fatal("TICKFORGE_DRAIN_DELAY is not set: the grace period must be computed from the delay the pod uses")
	}
	delay, err := time.ParseDuration(d)
	if err != nil {
		t.Fatalf("TICKFORGE_DRAIN_DELAY=%q: %v", d, err)
	}
	ms, ok := envValue(c, "TICKFORGE_SHUTDOWN_DEADLINE_MS")
	if !ok {
		t.Fatal("TICKFORGE_SHUTDOWN_DEADLINE_MS is not set")
	}
	n, err := strconv.Atoi(ms)
	if err != nil {
		t.Fatalf("TICKFORGE_SHUTDOWN_DEADLINE_MS=%q: %v", ms, err)
	}
	h, ok := envValue(c, "TICKFORGE_HANDOFF_TIMEOUT")
	if !ok {
		t.Fatal("TICKFORGE_HANDOFF_TIMEOUT is not set: the grace period must be computed from the hand-off timeout the pod uses")
	}
	handoff, err := time.ParseDuration(h)
	if err != nil {
		t.Fatalf("TICKFORGE_HANDOFF_TIMEOUT=%q: %v", h, err)
	}
	spec := m.statefulSet(t).Spec.Template.Spec
	if spec.TerminationGracePeriodSeconds == nil {
		t.Fatal("terminationGracePeriodSeconds is not set (Kubernetes' 30 s default is not derived from the drain)")
	}
	return drainTimings{
		delay:    delay,
		deadline: time.Duration(n) * time.Millisecond,
		handoff:  handoff,
		grace:    time.Duration(*spec.TerminationGracePeriodSeconds) * time.Second,
	}
}

// probeWindow is how long a probe takes at most to see a failure.
func probeWindow(p *corev1.Probe) time.Duration {
	return time.Duration(p.PeriodSeconds*p.FailureThreshold+p.TimeoutSeconds) * time.Second
}

// maxPods is how many pods the StatefulSet can have.
func maxPods(t *testing.T, m *Manifests) int {
	t.Helper()
	if len(m.HPAs) > 0 {
		return int(m.HPAs[0].Spec.MaxReplicas)
	}
	sts := m.statefulSet(t)
	if sts.Spec.Replicas == nil {
		t.Fatal("replicas is unset without an HPA")
	}
	return int(*sts.Spec.Replicas)
}

func selects(t *testing.T, sel *metav1.LabelSelector, podLabels map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Fatal(err)
	}
	return !s.Empty() && s.Matches(labels.Set(podLabels))
}

// podLabels are the labels of pod `pod` of the StatefulSet.
func podLabels(t *testing.T, m *Manifests, pod string) map[string]string {
	t.Helper()
	l := map[string]string{podNameLabel: pod}
	for k, v := range m.statefulSet(t).Spec.Template.Labels {
		l[k] = v
	}
	return l
}

func forEachCase(t *testing.T, check func(t *testing.T, m *Manifests)) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) { check(t, render(t, c)) })
	}
}

func TestListenersAreOnTheNamedContainerPorts(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		c := m.container(t)
		for env, name := range map[string]string{"TICKFORGE_LISTEN": "public", "TICKFORGE_ADMIN_LISTEN": "admin"} {
			host, port := listenPort(t, c, env)
			p, ok := containerPort(c, intstr.FromString(name))
			if !ok || p.ContainerPort != port {
				t.Errorf("%s port %d is not the container port named %q (%v)", env, port, name, p)
			}
			if host != "0.0.0.0" && host != "::" {
				t.Errorf("%s binds %s: the kubelet and Prometheus reach the pod's address", env, host)
			}
		}
	})
}

func TestProbesUseReadyzAndHealthzOnAListenerThatServesThem(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		c := m.container(t)
		_, public := listenPort(t, c, "TICKFORGE_LISTEN")
		_, admin := listenPort(t, c, "TICKFORGE_ADMIN_LISTEN")
		for _, p := range []struct {
			name  string
			probe *corev1.Probe
			path  string
		}{
			{"readiness", c.ReadinessProbe, "/readyz"},
			{"liveness", c.LivenessProbe, "/healthz"},
			{"startup", c.StartupProbe, "/healthz"},
		} {
			if p.probe == nil || p.probe.HTTPGet == nil {
				t.Errorf("%s probe: want an HTTP GET of %s", p.name, p.path)
				continue
			}
			get := p.probe.HTTPGet
			if get.Path != p.path {
				t.Errorf("%s probe path %q, want %q", p.name, get.Path, p.path)
			}
			port, ok := containerPort(c, get.Port)
			if !ok || (port.ContainerPort != public && port.ContainerPort != admin) {
				t.Errorf("%s probe port %s is neither listener (%d, %d)", p.name, get.Port.String(), public, admin)
			}
			if port.ContainerPort == admin && get.Scheme != "" && get.Scheme != corev1.URISchemeHTTP {
				t.Errorf("%s probe: the admin listener speaks plain HTTP, not %s", p.name, get.Scheme)
			}
		}
	})
}

func TestGracePeriodCoversDrainDelayHandOffAndShutdownDeadline(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		d := podDrainTimings(t, m)
		// A drain waits out the delay, then at most one hand-off timeout for
		// a silent peer and one for the redirected clients, then stops
		// within the shutdown deadline.
		if need := d.delay + 2*d.handoff + d.deadline + time.Second; d.grace < need {
			t.Errorf("terminationGracePeriodSeconds %v < drain delay %v + 2 x hand-off timeout %v + shutdown deadline %v + 1 s", d.grace, d.delay, d.handoff, d.deadline)
		}
		t.Logf("drain delay %v, hand-off timeout %v, shutdown deadline %v, grace %v", d.delay, d.handoff, d.deadline, d.grace)
	})
}

func TestReadinessNoticesADrainWithinTheDrainDelay(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		d := podDrainTimings(t, m)
		r := m.container(t).ReadinessProbe
		if w := probeWindow(r); w > d.delay {
			t.Errorf("readiness sees a 503 only after up to %v (period %d s × %d + timeout %d s), later than the drain delay %v: rooms would move while the load balancer still sends joins",
				w, r.PeriodSeconds, r.FailureThreshold, r.TimeoutSeconds, d.delay)
		}
		if r.SuccessThreshold > 1 {
			t.Errorf("readiness successThreshold %d delays a new pod", r.SuccessThreshold)
		}
	})
}

func TestPreStopHookStartsTheDrainOnTheAdminPort(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		c := m.container(t)
		if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
			t.Skip("no preStop hook in this install: SIGTERM starts the drain")
		}
		hook := c.Lifecycle.PreStop
		if hook.Exec == nil || len(hook.Exec.Command) != 3 || hook.Exec.Command[0] != "/bin/bash" {
			t.Fatalf("preStop: want [/bin/bash SCRIPT ADMIN_PORT], got %+v", hook)
		}
		cmd := hook.Exec.Command
		_, admin := listenPort(t, c, "TICKFORGE_ADMIN_LISTEN")
		if cmd[2] != strconv.Itoa(int(admin)) {
			t.Errorf("preStop hook's port argument %q is not the admin port %d", cmd[2], admin)
		}
		vol, key := mountedFile(t, m, cmd[1])
		if vol.ConfigMap == nil {
			t.Fatalf("preStop script %s is not from the chart's ConfigMap", cmd[1])
		}
		script := m.configMap(vol.ConfigMap.Name).Data[key]
		if !strings.Contains(script, "POST /admin/drain") {
			t.Errorf("preStop script %s does not POST /admin/drain", cmd[1])
		}
		// The hook returns when the drain delay is over, and its time counts
		// in the grace period: SIGTERM then leaves the shutdown deadline.
		d := podDrainTimings(t, m)
		if d.grace-d.delay < d.deadline+time.Second {
			t.Errorf("grace %v leaves less than the shutdown deadline %v + 1 s after the hook's %v", d.grace, d.deadline, d.delay)
		}
	})
}

func TestNoServiceExposesTheAdminPort(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		c := m.container(t)
		_, admin := listenPort(t, c, "TICKFORGE_ADMIN_LISTEN")
		_, public := listenPort(t, c, "TICKFORGE_LISTEN")
		for _, s := range m.Services {
			for _, p := range s.Spec.Ports {
				target := p.TargetPort
				if target.Type == intstr.Int && target.IntVal == 0 {
					target = intstr.FromInt32(p.Port)
				}
				port, ok := containerPort(c, target)
				if !ok {
					t.Errorf("Service %s port %d targets %s, not a container port", s.Name, p.Port, target.String())
					continue
				}
				if port.ContainerPort == admin || port.ContainerPort != public {
					t.Errorf("Service %s (%s) exposes container port %d; only the public listener (%d) may be on a Service",
						s.Name, s.Spec.Type, port.ContainerPort, public)
				}
			}
		}
	})
}

func TestEveryPodHasItsOwnRedirectAddress(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		sts := m.statefulSet(t)
		c := m.container(t)
		n := maxPods(t, m)
		if n < 1 {
			t.Fatal("no pods")
		}
		urls := map[string]bool{}
		for i := 0; i < n; i++ {
			pod := fmt.Sprintf("%s-%d", sts.Name, i)
			env := podEnv(t, c, pod)
			if id := env["TICKFORGE_NODE_ID"]; !regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`).MatchString(id) {
				t.Errorf("pod %s: node id %q is not a valid presence node id", pod, id)
			}
			raw := env["TICKFORGE_PUBLIC_URL"]
			u, err := url.Parse(raw)
			if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Path != "/ws" {
				t.Fatalf("pod %s: public URL %q is not ws(s)://host[:port]/ws (%v)", pod, raw, err)
			}
			if urls[raw] {
				t.Errorf("pod %s: public URL %q is shared with another pod", pod, raw)
			}
			urls[raw] = true
			svc := m.service(pod)
			if svc == nil {
				t.Fatalf("pod %s has no per-pod Service", pod)
			}
			sel := &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}
			if svc.Spec.Selector[podNameLabel] != pod || !selects(t, sel, podLabels(t, m, pod)) {
				t.Errorf("Service %s does not select pod %s alone: %v", pod, pod, svc.Spec.Selector)
			}
			if !svc.Spec.PublishNotReadyAddresses {
				t.Errorf("Service %s drops its pod while it drains: resumes and late redirects would be refused", pod)
			}
			port := u.Port()
			if port == "" {
				port = map[string]string{"ws": "80", "wss": "443"}[u.Scheme]
			}
			if len(svc.Spec.Ports) != 1 || strconv.Itoa(int(svc.Spec.Ports[0].Port)) != port {
				t.Errorf("pod %s: URL port %s is not its Service's port %v", pod, port, svc.Spec.Ports)
			}
			if _, tls := envValue(c, "TICKFORGE_TLS_CERT"); tls && u.Scheme != "wss" {
				t.Errorf("pod %s: the public listener speaks TLS only, but its URL is %q", pod, raw)
			}
			host := u.Hostname()
			inCluster := host == pod || strings.HasPrefix(host, pod+"."+namespace+".svc")
			external := svc.Annotations["external-dns.alpha.kubernetes.io/hostname"] == host &&
				(svc.Spec.Type == corev1.ServiceTypeLoadBalancer)
			if !inCluster && !external {
				t.Errorf("pod %s: URL host %q is neither its Service's cluster name nor the DNS name of its load balancer", pod, host)
			}
		}
		// The governing Service of the StatefulSet exists and is headless.
		if gov := m.service(sts.Spec.ServiceName); gov == nil || gov.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("serviceName %q: want a headless Service", sts.Spec.ServiceName)
		}
	})
}

func TestThePublicServiceSelectsEveryPod(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		sts := m.statefulSet(t)
		svc := m.service(sts.Name)
		if svc == nil {
			t.Fatalf("no public Service %q", sts.Name)
		}
		if _, ok := svc.Spec.Selector[podNameLabel]; ok {
			t.Errorf("public Service selects one pod: %v", svc.Spec.Selector)
		}
		if !selects(t, &metav1.LabelSelector{MatchLabels: svc.Spec.Selector}, podLabels(t, m, sts.Name+"-0")) {
			t.Errorf("public Service selector %v does not select the pods", svc.Spec.Selector)
		}
		if !selects(t, sts.Spec.Selector, sts.Spec.Template.Labels) {
			t.Errorf("StatefulSet selector does not select its own template")
		}
	})
}

// mountedFile finds the volume mount holding path: its volume and the path
// inside it.
func mountedFile(t *testing.T, m *Manifests, path string) (corev1.Volume, string) {
	t.Helper()
	c := m.container(t)
	for _, vm := range c.VolumeMounts {
		if rel, ok := strings.CutPrefix(path, vm.MountPath+"/"); ok {
			for _, v := range m.statefulSet(t).Spec.Template.Spec.Volumes {
				if v.Name == vm.Name {
					return v, rel
				}
			}
			t.Fatalf("mount %s names no volume %q", vm.MountPath, vm.Name)
		}
	}
	t.Fatalf("%s is on no volume mount", path)
	return corev1.Volume{}, ""
}

func TestTheConfigFileComesFromTheChartsConfigMap(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		path, ok := envValue(m.container(t), "TICKFORGE_CONFIG")
		if !ok {
			t.Fatal("TICKFORGE_CONFIG not set")
		}
		vol, key := mountedFile(t, m, path)
		if vol.ConfigMap == nil {
			t.Fatalf("%s: volume %s is not a ConfigMap", path, vol.Name)
		}
		cm := m.configMap(vol.ConfigMap.Name)
		if cm == nil || cm.Data[key] == "" {
			t.Fatalf("ConfigMap %s has no %s", vol.ConfigMap.Name, key)
		}
		if _, err := tomlKeys(cm.Data[key]); err != nil {
			t.Error(err)
		}
	})
}

// tomlKeys are the top-level keys of the chart's flat TOML file.
func tomlKeys(doc string) ([]string, error) {
	var keys []string
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, ok := strings.Cut(line, "=")
		if !ok || strings.HasPrefix(line, "[") {
			return nil, fmt.Errorf("config file line %q: settings are flat key = value pairs", line)
		}
		keys = append(keys, strings.TrimSpace(k))
	}
	return keys, nil
}

func TestSharedStateHasTheSessionKeyFromASecret(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		c := m.container(t)
		env := podEnv(t, c, m.statefulSet(t).Name+"-0")
		presence := env["TICKFORGE_PRESENCE"]
		if presence == "" || presence == "local" {
			if maxPods(t, m) > 1 {
				t.Fatal("several pods with in-process presence: rooms and players would not be shared")
			}
			return
		}
		if !strings.HasPrefix(presence, "redis://") && !strings.HasPrefix(presence, "secret:") {
			t.Errorf("TICKFORGE_PRESENCE=%q is not a redis:// endpoint", presence)
		}
		if s := env["TICKFORGE_SNAPSHOTS"]; !strings.HasPrefix(s, "scylla://") {
			t.Errorf("TICKFORGE_SNAPSHOTS=%q: nodes sharing presence need the shared CQL store", s)
		}
		path := env["TICKFORGE_SESSION_KEY_FILE"]
		if path == "" {
			t.Fatal("Redis presence without TICKFORGE_SESSION_KEY_FILE: the node refuses to start")
		}
		vol, key := mountedFile(t, m, path)
		if vol.Secret == nil {
			t.Fatalf("session key volume %s is not a Secret", vol.Name)
		}
		item := ""
		for _, it := range vol.Secret.Items {
			if it.Path == key {
				item = it.Key
			}
		}
		if item == "" {
			t.Fatalf("Secret volume %s does not project %s", vol.Name, key)
		}
		if vol.Secret.DefaultMode == nil || *vol.Secret.DefaultMode&0o004 != 0 {
			t.Errorf("session key readable by other users (mode %v)", vol.Secret.DefaultMode)
		}
		if fsGroup := m.statefulSet(t).Spec.Template.Spec.SecurityContext.FSGroup; fsGroup == nil ||
			*vol.Secret.DefaultMode&0o040 == 0 {
			t.Errorf("session key not readable by the pod's group (the node runs as non-root)")
		}
		if s := m.secret(vol.Secret.SecretName); s != nil {
			if len(s.Data[item]) == 0 {
				t.Errorf("Secret %s has no %s", s.Name, item)
			}
		} else {
			t.Logf("session key from the existing Secret %s (key %s)", vol.Secret.SecretName, item)
		}
	})
}

func TestDisruptionBudgetTakesOneNodeAtATime(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		if len(m.PDBs) != 1 {
			t.Fatalf("want one PodDisruptionBudget, got %d", len(m.PDBs))
		}
		pdb := m.PDBs[0]
		if !selects(t, pdb.Spec.Selector, podLabels(t, m, m.statefulSet(t).Name+"-0")) {
			t.Error("PodDisruptionBudget does not select the pods")
		}
		if mu := pdb.Spec.MaxUnavailable; mu == nil || mu.String() != "1" {
			t.Errorf("maxUnavailable %v, want 1 (one node drains at a time)", mu)
		}
	})
}

func TestAutoscalingScalesDownOneDrainAtATime(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		if len(m.HPAs) == 0 {
			if m.statefulSet(t).Spec.Replicas == nil {
				t.Error("no HPA and no replicas")
			}
			t.Skip("no autoscaling in this install")
		}
		hpa := m.HPAs[0]
		sts := m.statefulSet(t)
		if sts.Spec.Replicas != nil {
			t.Error("StatefulSet sets replicas while an HPA owns them: every upgrade would reset the scale")
		}
		ref := hpa.Spec.ScaleTargetRef
		if ref.Kind != "StatefulSet" || ref.Name != sts.Name || ref.APIVersion != "apps/v1" {
			t.Errorf("HPA targets %+v", ref)
		}
		if len(hpa.Spec.Metrics) != 1 || hpa.Spec.Metrics[0].Pods == nil {
			t.Fatalf("want one per-pod metric, got %+v", hpa.Spec.Metrics)
		}
		if name := hpa.Spec.Metrics[0].Pods.Metric.Name; name != connectedPlayersMetric {
			t.Errorf("HPA metric %q, want %q (connected players)", name, connectedPlayersMetric)
		}
		grace := podDrainTimings(t, m).grace
		down := hpa.Spec.Behavior.ScaleDown
		if down == nil || len(down.Policies) == 0 {
			t.Fatal("no scale-down policy: the HPA could remove many draining pods at once")
		}
		for _, p := range down.Policies {
			if p.Type != "Pods" || p.Value != 1 || time.Duration(p.PeriodSeconds)*time.Second < grace {
				t.Errorf("scale-down policy %+v: want 1 pod per period of at least the grace %v", p, grace)
			}
		}
	})
}

// connectedPlayersMetric is the server's gauge of open WebSocket sessions
// (server/src/metrics/mod.rs, CONNECTIONS); server_test.go checks that the
// running server exports it.
const connectedPlayersMetric = "tickforge_connections"

func TestPodMonitorScrapesTheAdminPort(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		if len(m.PodMonitors) == 0 {
			t.Skip("monitoring off in this install")
		}
		c := m.container(t)
		_, admin := listenPort(t, c, "TICKFORGE_ADMIN_LISTEN")
		pm := m.PodMonitors[0]
		if !selects(t, &pm.Spec.Selector, podLabels(t, m, m.statefulSet(t).Name+"-0")) {
			t.Error("PodMonitor does not select the pods")
		}
		for _, e := range pm.Spec.PodMetricsEndpoints {
			p, ok := containerPort(c, intstr.FromString(e.Port))
			if !ok || p.ContainerPort != admin || e.Path != "/metrics" {
				t.Errorf("PodMonitor endpoint %+v: want /metrics on the admin port %d", e, admin)
			}
		}
	})
}

func TestDashboardConfigMapIsTheRepositoryDashboard(t *testing.T) {
	source, err := os.ReadFile(filepath.Join(repoRoot(), "ops", "grafana", "dashboards", "tickforge.json"))
	if err != nil {
		t.Fatal(err)
	}
	forEachCase(t, func(t *testing.T, m *Manifests) {
		cm := m.configMap(m.statefulSet(t).Name + "-dashboard")
		if cm == nil {
			t.Skip("dashboard off in this install")
		}
		if cm.Labels["grafana_dashboard"] != "1" {
			t.Error("dashboard ConfigMap lacks the grafana_dashboard label the Grafana sidecar looks for")
		}
		got := cm.Data["tickforge.json"]
		var parsed map[string]any
		if err := json.Unmarshal([]byte(got), &parsed); err != nil {
			t.Fatalf("dashboard is not JSON: %v", err)
		}
		if strings.Contains(got, `"tickforge-prom"`) {
			t.Error("dashboard still names the compose stack's datasource uid")
		}
		// The datasource uid is the one uid of the ConfigMap that the source
		// does not have.
		uids := regexp.MustCompile(`"uid": "([^"]+)"`)
		known := map[string]bool{}
		for _, u := range uids.FindAllStringSubmatch(string(source), -1) {
			known[u[1]] = true
		}
		datasource := ""
		for _, u := range uids.FindAllStringSubmatch(got, -1) {
			if !known[u[1]] {
				datasource = u[1]
			}
		}
		if datasource == "" {
			t.Fatal("no datasource uid of the cluster's Grafana in the dashboard")
		}
		want := strings.ReplaceAll(string(source), `"uid": "tickforge-prom"`, `"uid": "`+datasource+`"`)
		if strings.TrimSpace(got) != strings.TrimSpace(want) {
			t.Error("dashboard ConfigMap differs from ops/grafana/dashboards/tickforge.json beyond the datasource uid")
		}
	})
}

func TestPodRunsAsNonRootOnAReadOnlyRoot(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		spec := m.statefulSet(t).Spec.Template.Spec
		sc := m.container(t).SecurityContext
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			t.Error("pod may run as root")
		}
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("container: want a read-only root and no privilege escalation")
		}
		if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
			t.Error("the node needs no Kubernetes API token")
		}
	})
}

func TestChartRefusesValuesThatBreakTheDrainOrTheCluster(t *testing.T) {
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"readiness slower than the drain delay", []string{"--set", "probes.readiness.periodSeconds=5"}, "must fit within drain.delaySeconds"},
		{"two nodes without Redis", []string{"--set", "replicas=2"}, "needs redis.url"},
		{"Redis without a session key", []string{"--set", "redis.url=redis://r:6379/0", "--set", "cql.url=scylla://c:9042/k"}, "session key"},
		{"Redis without a CQL store", []string{"--set", "redis.url=redis://r:6379/0", "--set", "sessionKey.existingSecret=k"}, "cql.url"},
		{"a chart-owned setting in config", []string{"--set", "config.admin_listen=0.0.0.0:7701"}, "config.admin_listen is set by the chart"},
		{"one address for every pod", []string{"--set", "perPod.publicUrl=ws://play.example.com/ws"}, "$(POD_NAME)"},
		{"TLS on the nodes with ws:// addresses", []string{"--set", "tls.secretName=cert"}, "must be wss://"},
		{"a misspelt value (values.schema.json)", []string{"--set", "drain.delaySecond=5"}, "'delaySecond' not allowed"},
		{"a nested server setting", []string{"--set", "config.presence_opts.ttl=1"}, "at '/config/presence_opts'"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := helmTemplate(c.args...)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want helm template to fail with %q, got %v", c.want, err)
			}
		})
	}
}

func TestTLSCertificateAndKeyComeFromASecret(t *testing.T) {
	forEachCase(t, func(t *testing.T, m *Manifests) {
		c := m.container(t)
		cert, ok := envValue(c, "TICKFORGE_TLS_CERT")
		if !ok {
			t.Skip("plain WebSocket on the public listener in this install")
		}
		key, _ := envValue(c, "TICKFORGE_TLS_KEY")
		for _, path := range []string{cert, key} {
			if vol, _ := mountedFile(t, m, path); vol.Secret == nil || *vol.Secret.DefaultMode&0o004 != 0 {
				t.Errorf("%s: want a Secret volume not readable by other users", path)
			}
		}
	})
}

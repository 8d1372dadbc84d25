// Checks against the real server ($TICKFORGE_BIN): every variable and
// config key the chart sets is one of its settings, and the binary started
// the way the pod starts it (the container's command, environment, config
// file and mounted secret, with its ports mapped to free loopback ports)
// answers the probes on the ports they name, exports the autoscaling metric,
// and drains through the preStop hook or SIGTERM within the grace period.

package helmtest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// tickforgeBin is $TICKFORGE_BIN (relative paths from the repository root),
// or "" when unset.
var tickforgeBin string

// sessionKeyFile is a session key made by `tickforge token keygen` (a
// placeholder without the binary), given to the chart inline and standing
// in for an existing Secret.
var sessionKeyFile string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tickforge-helm-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	key := []byte(`{"placeholder": "stands in for tickforge token keygen"}`)
	if bin := os.Getenv("TICKFORGE_BIN"); bin != "" {
		if !filepath.IsAbs(bin) {
			bin = filepath.Join(repoRoot(), bin)
		}
		tickforgeBin = bin
		key, err = exec.Command(bin, "token", "keygen").Output()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s token keygen: %v\n", bin, err)
			return 1
		}
	}
	sessionKeyFile = filepath.Join(dir, "session-key.json")
	if err := os.WriteFile(sessionKeyFile, key, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func needServer(t *testing.T) {
	t.Helper()
	if tickforgeBin == "" {
		t.Skip("TICKFORGE_BIN is not set (ops/test.sh sets it)")
	}
}

var (
	helpOnce sync.Once
	helpText string
	helpErr  error
)

// serverHelp is `tickforge --help`.
func serverHelp(t *testing.T) string {
	t.Helper()
	helpOnce.Do(func() {
		var out []byte
		out, helpErr = exec.Command(tickforgeBin, "--help").Output()
		helpText = string(out)
	})
	if helpErr != nil {
		t.Fatalf("tickforge --help: %v", helpErr)
	}
	return helpText
}

func TestEveryVariableAndConfigKeyIsASettingOfTheServer(t *testing.T) {
	needServer(t)
	help := serverHelp(t)
	envs := map[string]bool{}
	for _, m := range regexp.MustCompile(`\[env: (TICKFORGE_[A-Z0-9_]+)=`).FindAllStringSubmatch(help, -1) {
		envs[m[1]] = true
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+--([a-z0-9-]+)`).FindAllStringSubmatch(help, -1) {
		flags[m[1]] = true
	}
	for _, want := range []string{"TICKFORGE_DRAIN_DELAY", "TICKFORGE_SHUTDOWN_DEADLINE_MS", "TICKFORGE_PUBLIC_URL"} {
		if !envs[want] {
			t.Fatalf("the server's --help lists no %s: the chart's drain timings and redirects rely on it", want)
		}
	}
	forEachCase(t, func(t *testing.T, m *Manifests) {
		for _, e := range m.container(t).Env {
			if strings.HasPrefix(e.Name, "TICKFORGE_") && !envs[e.Name] {
				t.Errorf("%s is not a variable of the server", e.Name)
			}
		}
		keys, err := tomlKeys(configFile(t, m))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if !flags[strings.ReplaceAll(k, "_", "-")] {
				t.Errorf("config key %q is not a setting of the server (no --%s)", k, strings.ReplaceAll(k, "_", "-"))
			}
		}
	})
}

// configFile is the TOML file the pod's TICKFORGE_CONFIG names.
func configFile(t *testing.T, m *Manifests) string {
	t.Helper()
	path, _ := envValue(m.container(t), "TICKFORGE_CONFIG")
	vol, key := mountedFile(t, m, path)
	return m.configMap(vol.ConfigMap.Name).Data[key]
}

// podProcess is the server started as pod 0 of an install.
type podProcess struct {
	cmd    *exec.Cmd
	output *bytes.Buffer
	// local loopback port of each container port.
	ports map[int32]int
	// mount path → local directory.
	mounts map[string]string
	exited chan struct{}
	err    error
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// answers reports whether something accepts TCP connections at addr.
func answers(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// startRedis runs a redis-server on a free loopback port for the test.
func startRedis(t *testing.T) int {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("no redis-server on the PATH (ops/test.sh installs it): the production install needs Redis")
	}
	port := freePort(t)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	for deadline := time.Now().Add(10 * time.Second); !answers(fmt.Sprintf("127.0.0.1:%d", port)); {
		if time.Now().After(deadline) {
			t.Fatal("redis-server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return port
}

// cqlAddr is the test command's CQL node (ops/cassandra/start.sh: port
// $TICKFORGE_CQL_PORT, default 9042).
func cqlAddr() string {
	port := os.Getenv("TICKFORGE_CQL_PORT")
	if port == "" {
		port = "9042"
	}
	return "127.0.0.1:" + port
}

// startPod starts the server as pod 0 of the install, on loopback.
func startPod(t *testing.T, m *Manifests) *podProcess {
	t.Helper()
	sts := m.statefulSet(t)
	c := m.container(t)
	pod := sts.Name + "-0"
	p := &podProcess{output: &bytes.Buffer{}, ports: map[int32]int{}, mounts: map[string]string{}, exited: make(chan struct{})}
	env := podEnv(t, c, pod)

	// Volumes: the ConfigMap's and Secret's files, empty directories for the rest.
	root := t.TempDir()
	volumes := map[string]corev1.Volume{}
	for _, v := range sts.Spec.Template.Spec.Volumes {
		volumes[v.Name] = v
	}
	for _, vm := range c.VolumeMounts {
		dir := filepath.Join(root, vm.Name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		p.mounts[vm.MountPath] = dir
		v, ok := volumes[vm.Name]
		switch {
		case ok && v.ConfigMap != nil:
			cm := m.configMap(v.ConfigMap.Name)
			if cm == nil {
				t.Fatalf("volume %s: no ConfigMap %s in the install", v.Name, v.ConfigMap.Name)
			}
			for k, data := range cm.Data {
				writeFile(t, filepath.Join(dir, k), []byte(data))
			}
		case ok && v.Secret != nil:
			s := m.secret(v.Secret.SecretName)
			for _, it := range v.Secret.Items {
				var data []byte
				switch {
				case s != nil:
					data = s.Data[it.Key]
				case it.Path == "session-key.json":
					// An existing Secret, made by the operator with tickforge token keygen.
					data = readFile(t, sessionKeyFile)
				case it.Key == "tls.crt" || it.Key == "tls.key":
					// An existing kubernetes.io/tls Secret: a certificate of the test's own.
					cert, key := selfSignedCertificate(t)
					data = map[string][]byte{"tls.crt": cert, "tls.key": key}[it.Key]
				default:
					t.Fatalf("volume %s: Secret %s is not in the install and not modelled by the test", v.Name, v.Secret.SecretName)
				}
				writeFile(t, filepath.Join(dir, it.Path), data)
			}
		case ok && v.EmptyDir != nil:
		case !ok && hasClaimTemplate(sts.Spec.VolumeClaimTemplates, vm.Name):
		default:
			t.Fatalf("volume mount %s: volume kind not modelled by the test", vm.Name)
		}
	}
	for name, value := range env {
		for path, dir := range p.mounts {
			if value == path || strings.HasPrefix(value, path+"/") {
				env[name] = dir + strings.TrimPrefix(value, path)
			}
		}
	}
	// Ports: each listener on a free loopback port.
	for _, name := range []string{"TICKFORGE_LISTEN", "TICKFORGE_ADMIN_LISTEN"} {
		_, port := listenPort(t, c, name)
		local := freePort(t)
		p.ports[port] = local
		env[name] = fmt.Sprintf("127.0.0.1:%d", local)
	}
	// Redis and the CQL store: the same URLs, pointed at loopback.
	if presence := env["TICKFORGE_PRESENCE"]; strings.HasPrefix(presence, "redis://") {
		u, err := url.Parse(presence)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = fmt.Sprintf("127.0.0.1:%d", startRedis(t))
		env["TICKFORGE_PRESENCE"] = u.String()
	} else if presence != "" && presence != "local" {
		t.Fatalf("TICKFORGE_PRESENCE=%q not modelled by the test", presence)
	}
	if snapshots := env["TICKFORGE_SNAPSHOTS"]; strings.HasPrefix(snapshots, "scylla://") {
		if !answers(cqlAddr()) {
			t.Skipf("no CQL node on %s (ops/test.sh starts one): the production install needs it", cqlAddr())
		}
		u, err := url.Parse(snapshots)
		if err != nil {
			t.Fatal(err)
		}
		u.Host = cqlAddr()
		u.Path = "/helm_chart_test" // a keyspace of this test's own
		env["TICKFORGE_SNAPSHOTS"] = u.String()
	}

	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(argv) == 0 || filepath.Base(argv[0]) != "tickforge" {
		t.Fatalf("container command %q does not run tickforge", argv)
	}
	p.cmd = exec.Command(tickforgeBin, argv[1:]...)
	p.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + root}
	for k, v := range env {
		p.cmd.Env = append(p.cmd.Env, k+"="+v)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.output, p.output
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("server output:\n%s", p.output.String())
		}
	})
	return p
}

func hasClaimTemplate(claims []corev1.PersistentVolumeClaim, name string) bool {
	for _, c := range claims {
		if c.Name == name {
			return true
		}
	}
	return false
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// probeURL is where the kubelet's HTTP GET would go, on loopback.
func (p *podProcess) probeURL(t *testing.T, c *corev1.Container, get *corev1.HTTPGetAction) string {
	t.Helper()
	port, ok := containerPort(c, get.Port)
	if !ok {
		t.Fatalf("probe port %s is no container port", get.Port.String())
	}
	scheme := "http"
	if get.Scheme == corev1.URISchemeHTTPS {
		scheme = "https"
	}
	return fmt.Sprintf("%s://127.0.0.1:%d%s", scheme, p.ports[port.ContainerPort], get.Path)
}

// client trusts the test's own certificate (the public listener with TLS).
var client = &http.Client{
	Timeout:   time.Second,
	Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}},
}

var (
	certOnce        sync.Once
	certPEM, keyPEM []byte
)

// selfSignedCertificate is a certificate and key for 127.0.0.1 (PEM),
// standing in for the install's TLS Secret.
func selfSignedCertificate(t *testing.T) (cert, key []byte) {
	t.Helper()
	certOnce.Do(func() {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1),
			Subject:      pkix.Name{CommonName: "tickforge chart test"},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore:    time.Now().Add(-time.Hour),
			NotAfter:     time.Now().Add(24 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
		if err != nil {
			t.Fatal(err)
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			t.Fatal(err)
		}
		certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
		keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	})
	if certPEM == nil {
		t.Fatal("no test certificate")
	}
	return certPEM, keyPEM
}

// status GETs url: the HTTP status and body, or 0 when nothing answers.
func status(url string) (int, string) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitFor polls url until it answers want, for at most `within`.
func waitFor(t *testing.T, p *podProcess, url string, want int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		code, body := status(url)
		if code == want {
			return
		}
		select {
		case <-p.exited:
			t.Fatalf("server exited (%v) while waiting for %d from %s", p.err, want, url)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s answered %d %q, not %d, within %v", url, code, body, want, within)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServerStartedLikeThePodAnswersProbesAndDrainsWithinTheGrace(t *testing.T) {
	needServer(t)
	for _, vc := range cases() {
		t.Run(vc.name, func(t *testing.T) {
			t.Parallel()
			m := render(t, vc)
			c := m.container(t)
			d := podDrainTimings(t, m)
			p := startPod(t, m)

			// Start-up within what the startup probe allows, then ready and live.
			startup := c.StartupProbe
			waitFor(t, p, p.probeURL(t, c, startup.HTTPGet), http.StatusOK,
				time.Duration(startup.PeriodSeconds*startup.FailureThreshold)*time.Second)
			waitFor(t, p, p.probeURL(t, c, c.ReadinessProbe.HTTPGet), http.StatusOK, 5*time.Second)
			if _, shared := envValue(c, "TICKFORGE_PRESENCE"); shared {
				// The node serves before Redis answers (degraded), then connects.
				for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					_, body := status(p.probeURL(t, c, c.ReadinessProbe.HTTPGet))
					if strings.Contains(body, "presence: connected") {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("readiness with Redis presence: %q, want presence: connected", body)
					}
				}
			}
			if code, body := status(p.probeURL(t, c, c.LivenessProbe.HTTPGet)); code != http.StatusOK {
				t.Fatalf("liveness: %d %q", code, body)
			}

			// The public port (the only one on Services) serves the game, not
			// the operators' endpoints.
			_, public := listenPort(t, c, "TICKFORGE_LISTEN")
			_, admin := listenPort(t, c, "TICKFORGE_ADMIN_LISTEN")
			scheme := "http"
			if _, tls := envValue(c, "TICKFORGE_TLS_CERT"); tls {
				scheme = "https"
			}
			if code, _ := status(fmt.Sprintf("%s://127.0.0.1:%d/healthz", scheme, p.ports[public])); code != http.StatusOK {
				t.Errorf("public /healthz (%s): %d", scheme, code)
			}
			if code, _ := status(fmt.Sprintf("%s://127.0.0.1:%d/metrics", scheme, p.ports[public])); code != http.StatusNotFound {
				t.Errorf("public /metrics answered %d: metrics must stay on the admin port", code)
			}

			// Prometheus' scrape and the autoscaling metric.
			code, metrics := status(fmt.Sprintf("http://127.0.0.1:%d/metrics", p.ports[admin]))
			if code != http.StatusOK || !regexp.MustCompile(`(?m)^`+connectedPlayersMetric+`[{ ]`).MatchString(metrics) {
				t.Errorf("admin /metrics (%d) does not export %s", code, connectedPlayersMetric)
			}
			for _, pm := range m.PodMonitors {
				for _, e := range pm.Spec.PodMetricsEndpoints {
					get := &corev1.HTTPGetAction{Path: e.Path, Port: intstr.FromString(e.Port)}
					if code, _ := status(p.probeURL(t, c, get)); code != http.StatusOK {
						t.Errorf("PodMonitor endpoint %s on %s: %d", e.Path, e.Port, code)
					}
				}
			}

			// The drain, as the kubelet starts it when the pod is deleted.
			readiness := p.probeURL(t, c, c.ReadinessProbe.HTTPGet)
			began := time.Now()
			if c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
				runPreStop(t, p, m, c, d, readiness)
			}
			if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !strings.Contains(err.Error(), "finished") {
				t.Fatal(err)
			}
			if c.Lifecycle == nil || c.Lifecycle.PreStop == nil {
				waitFor(t, p, readiness, http.StatusServiceUnavailable, time.Second)
			}
			select {
			case <-p.exited:
			case <-time.After(d.grace - time.Since(began)):
				t.Fatalf("server still running %v after the drain began: past terminationGracePeriodSeconds, the kubelet's SIGKILL", d.grace)
			}
			if p.err != nil {
				t.Errorf("server exit: %v", p.err)
			}
			t.Logf("drain to exit: %v (delay %v, deadline %v, grace %v)", time.Since(began).Round(time.Millisecond), d.delay, d.deadline, d.grace)
		})
	}
}

// runPreStop runs the pod's preStop command as the kubelet would (the
// mounted script from its local directory): the node turns not ready at
// once, and the hook returns when the drain delay is over, within the grace.
func runPreStop(t *testing.T, p *podProcess, m *Manifests, c *corev1.Container, d drainTimings, readiness string) {
	t.Helper()
	_, admin := listenPort(t, c, "TICKFORGE_ADMIN_LISTEN")
	argv := append([]string{}, c.Lifecycle.PreStop.Exec.Command...)
	for i, a := range argv {
		for path, dir := range p.mounts {
			if strings.HasPrefix(a, path+"/") {
				argv[i] = dir + strings.TrimPrefix(a, path)
			}
		}
		if a == strconv.Itoa(int(admin)) {
			argv[i] = strconv.Itoa(p.ports[admin])
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), d.grace)
	defer cancel()
	hook := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out bytes.Buffer
	hook.Stdout, hook.Stderr = &out, &out
	start := time.Now()
	if err := hook.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, p, readiness, http.StatusServiceUnavailable, time.Second)
	if err := hook.Wait(); err != nil {
		t.Fatalf("preStop hook failed: %v\n%s", err, out.String())
	}
	took := time.Since(start)
	t.Logf("preStop hook: %s (%v)", strings.TrimSpace(out.String()), took.Round(time.Millisecond))
	if took < d.delay-500*time.Millisecond || took > d.delay+2*time.Second {
		t.Errorf("preStop hook took %v: want the drain delay %v (SIGTERM must come when the rooms move, not before)", took, d.delay)
	}
}

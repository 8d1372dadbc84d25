// Rendering the chart with helm and decoding every manifest strictly into
// its Kubernetes API type (or, for the Prometheus Operator's PodMonitor, a
// strict struct of the fields the chart uses).

package helmtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// release and namespace the chart is rendered as.
const (
	release   = "tickforge"
	namespace = "games"
)

// valuesCase is one way of installing the chart.
type valuesCase struct {
	name string
	// helm arguments after the chart (values files, --set).
	args []string
}

// cases are the installs every check runs on.
func cases() []valuesCase {
	return []valuesCase{
		{name: "default"},
		{name: "production", args: []string{"-f", filepath.Join(helmDir(), "values-production.yaml")}},
		// The production install with the session key given inline (the
		// chart then makes the Secret) and the preStop hook off.
		{name: "production-inline-key", args: []string{
			"-f", filepath.Join(helmDir(), "values-production.yaml"),
			"--set", "sessionKey.existingSecret=",
			"--set-file", "sessionKey.json=" + sessionKeyFile,
			"--set", "drain.preStopHook=false",
		}},
	}
}

// PodMonitor is the part of the Prometheus Operator's PodMonitor
// (monitoring.coreos.com/v1) that the chart writes; decoding it strictly
// refuses any other field.
type PodMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              PodMonitorSpec `json:"spec"`
}

// PodMonitorSpec selects pods and names their metrics endpoints.
type PodMonitorSpec struct {
	Selector            metav1.LabelSelector `json:"selector"`
	PodMetricsEndpoints []PodMetricsEndpoint `json:"podMetricsEndpoints"`
}

// PodMetricsEndpoint is one scrape target of each selected pod.
type PodMetricsEndpoint struct {
	Port        string       `json:"port"`
	Path        string       `json:"path"`
	Interval    string       `json:"interval"`
	Relabelings []Relabeling `json:"relabelings,omitempty"`
}

// Relabeling is a Prometheus relabel rule.
type Relabeling struct {
	SourceLabels []string `json:"sourceLabels,omitempty"`
	TargetLabel  string   `json:"targetLabel,omitempty"`
}

// Manifests is one rendered install, decoded by kind.
type Manifests struct {
	StatefulSets []appsv1.StatefulSet
	Services     []corev1.Service
	ConfigMaps   []corev1.ConfigMap
	Secrets      []corev1.Secret
	PDBs         []policyv1.PodDisruptionBudget
	HPAs         []autoscalingv2.HorizontalPodAutoscaler
	PodMonitors  []PodMonitor
}

// repoRoot is the repository's top directory (this file is in ops/helm/test).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

func helmDir() string  { return filepath.Join(repoRoot(), "ops", "helm") }
func chartDir() string { return filepath.Join(helmDir(), "tickforge") }

// helmBin is $HELM, or helm on the PATH.
func helmBin() string {
	if h := os.Getenv("HELM"); h != "" {
		return h
	}
	return "helm"
}

// helmTemplate runs `helm template` and returns the manifests, or helm's
// error output.
func helmTemplate(args ...string) (string, error) {
	full := append([]string{"template", release, chartDir(), "--namespace", namespace}, args...)
	cmd := exec.Command(helmBin(), full...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("helm %s: %v\n%s", strings.Join(full, " "), err, stderr.String())
	}
	return stdout.String(), nil
}

var (
	renderedMu sync.Mutex
	rendered   = map[string]*Manifests{}
)

// render renders and decodes one case (once per test run).
func render(t *testing.T, c valuesCase) *Manifests {
	t.Helper()
	renderedMu.Lock()
	defer renderedMu.Unlock()
	if m, ok := rendered[c.name]; ok {
		return m
	}
	out, err := helmTemplate(c.args...)
	if err != nil {
		t.Fatal(err)
	}
	m, err := decodeAll(out)
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	rendered[c.name] = m
	return m
}

// decodeAll splits a YAML stream into documents and decodes each strictly
// by its apiVersion and kind; an unknown kind is an error too.
func decodeAll(stream string) (*Manifests, error) {
	m := &Manifests{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(stream)))
	for i := 0; ; i++ {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return m, nil
		}
		if err != nil {
			return nil, fmt.Errorf("document %d: %w", i, err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		if err := decodeOne(doc, m); err != nil {
			return nil, fmt.Errorf("document %d: %w\n%s", i, err, doc)
		}
	}
}

// stripComments drops whole-line YAML comments (helm's "# Source:" lines).
func stripComments(doc []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func decodeOne(doc []byte, m *Manifests) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	strict := func(into any) error { return yaml.UnmarshalStrict(doc, into) }
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 StatefulSet":
		var o appsv1.StatefulSet
		if err := strict(&o); err != nil {
			return err
		}
		m.StatefulSets = append(m.StatefulSets, o)
	case "v1 Service":
		var o corev1.Service
		if err := strict(&o); err != nil {
			return err
		}
		m.Services = append(m.Services, o)
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		if err := strict(&o); err != nil {
			return err
		}
		m.ConfigMaps = append(m.ConfigMaps, o)
	case "v1 Secret":
		var o corev1.Secret
		if err := strict(&o); err != nil {
			return err
		}
		m.Secrets = append(m.Secrets, o)
	case "policy/v1 PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		if err := strict(&o); err != nil {
			return err
		}
		m.PDBs = append(m.PDBs, o)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		var o autoscalingv2.HorizontalPodAutoscaler
		if err := strict(&o); err != nil {
			return err
		}
		m.HPAs = append(m.HPAs, o)
	case "monitoring.coreos.com/v1 PodMonitor":
		var o PodMonitor
		if err := strict(&o); err != nil {
			return err
		}
		m.PodMonitors = append(m.PodMonitors, o)
	default:
		return fmt.Errorf("unexpected kind %q %q: add it to decodeOne and to the checks", tm.APIVersion, tm.Kind)
	}
	return nil
}

// statefulSet is the install's one StatefulSet.
func (m *Manifests) statefulSet(t *testing.T) *appsv1.StatefulSet {
	t.Helper()
	if len(m.StatefulSets) != 1 {
		t.Fatalf("want one StatefulSet, got %d", len(m.StatefulSets))
	}
	return &m.StatefulSets[0]
}

// container is the tickforge container of the pod template.
func (m *Manifests) container(t *testing.T) *corev1.Container {
	t.Helper()
	sts := m.statefulSet(t)
	for i := range sts.Spec.Template.Spec.Containers {
		if c := &sts.Spec.Template.Spec.Containers[i]; c.Name == "tickforge" {
			return c
		}
	}
	t.Fatal("no container named tickforge")
	return nil
}

func (m *Manifests) service(name string) *corev1.Service {
	for i := range m.Services {
		if m.Services[i].Name == name {
			return &m.Services[i]
		}
	}
	return nil
}

func (m *Manifests) configMap(name string) *corev1.ConfigMap {
	for i := range m.ConfigMaps {
		if m.ConfigMaps[i].Name == name {
			return &m.ConfigMaps[i]
		}
	}
	return nil
}

func (m *Manifests) secret(name string) *corev1.Secret {
	for i := range m.Secrets {
		if m.Secrets[i].Name == name {
			return &m.Secrets[i]
		}
	}
	return nil
}

func TestEveryManifestDecodesStrictlyIntoItsKubernetesType(t *testing.T) {
	for _, c := range cases() {
		t.Run(c.name, func(t *testing.T) {
			m := render(t, c)
			t.Logf("%d StatefulSet, %d Services, %d ConfigMaps, %d Secrets, %d PDB, %d HPA, %d PodMonitor",
				len(m.StatefulSets), len(m.Services), len(m.ConfigMaps), len(m.Secrets),
				len(m.PDBs), len(m.HPAs), len(m.PodMonitors))
		})
	}
}

func TestStrictDecodingRefusesAnUnknownField(t *testing.T) {
	doc := "apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n    - port: 1\n      targetPrt: public\n"
	if _, err := decodeAll(doc); err == nil || !strings.Contains(err.Error(), "targetPrt") {
		t.Fatalf("a misspelt field must be refused, got %v", err)
	}
}

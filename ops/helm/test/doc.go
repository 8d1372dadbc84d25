// Package helmtest checks the tickforge Helm chart (ops/helm/tickforge):
// it renders the chart with helm for the default and the production values,
// decodes every manifest strictly into the Kubernetes API types (unknown
// fields fail), checks the invariants the drain and the redirects rely on,
// and runs the real tickforge binary the way the pod would, on loopback.
//
//	HELM=$(go env GOPATH)/bin/helm TICKFORGE_BIN=target/debug/tickforge go test ./...
//
// render_test.go renders and decodes; chart_test.go holds the checks on the
// manifests alone; server_test.go the checks against the running server.
package helmtest

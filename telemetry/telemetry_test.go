package telemetry

import "testing"

func TestPathTemplateHidesIDs(t *testing.T) {
	for path, want := range map[string]string{
		"/stores":             "/stores",
		"/stores/01ABC/check": "/stores/{id}/check",
		"/stores/01ABC/authorization-models/01DEF": "/stores/{id}/authorization-models/{id}",
		"/stores/01ABC/authorization-models":       "/stores/{id}/authorization-models",
		"/healthz":                                 "/healthz",
	} {
		if got := pathTemplate(path); got != want {
			t.Errorf("pathTemplate(%q) = %q, want %q", path, got, want)
		}
	}
}

package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

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

// TestOTLPExportWhenConfigured: with OTEL_EXPORTER_OTLP_ENDPOINT set, spans
// and metrics are pushed over OTLP/HTTP to it (here a receiver on loopback
// that records what arrives); without it, nothing is sent anywhere.
func TestOTLPExportWhenConfigured(t *testing.T) {
	var mu sync.Mutex
	got := map[string]string{}
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got[r.URL.Path] = r.Header.Get("Content-Type") + " " + strconv.Itoa(len(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer receiver.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.URL)

	ctx := context.Background()
	p, err := Setup(ctx, "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer.Tracer("test").Start(ctx, "exported")
	span.End()
	counter, _ := p.Meter.Meter("test").Int64Counter("exported_total")
	counter.Add(ctx, 1)
	if err := p.Shutdown(ctx); err != nil { // flushes both
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, path := range []string{"/v1/traces", "/v1/metrics"} {
		if !strings.HasPrefix(got[path], "application/x-protobuf ") || strings.HasSuffix(got[path], " 0") {
			t.Errorf("%s received %q, want a protobuf body", path, got[path])
		}
	}
}

func TestNoOTLPExportByDefault(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "")
	if otlpConfigured("TRACES") || otlpConfigured("METRICS") {
		t.Fatal("OTLP export configured with no endpoint set")
	}
}

// TestSpansRecordedOnlyWhenReceived: with no exporter and no processor, spans
// are not recorded (no work for nobody), yet trace context still flows; with
// a processor they are.
func TestSpansRecordedOnlyWhenReceived(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
	ctx := context.Background()
	p, err := Setup(ctx, "test", Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(ctx)
	_, span := p.Tracer.Tracer("test").Start(ctx, "unseen")
	if span.IsRecording() || !span.SpanContext().IsValid() {
		t.Errorf("with nothing receiving spans: recording %v, valid context %v; want false, true",
			span.IsRecording(), span.SpanContext().IsValid())
	}
	span.End()

	rec := tracetest.NewSpanRecorder()
	p, err = Setup(ctx, "test", Options{SpanProcessors: []sdktrace.SpanProcessor{rec}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Shutdown(ctx)
	_, span = p.Tracer.Tracer("test").Start(ctx, "seen")
	span.End()
	if len(rec.Ended()) != 1 {
		t.Errorf("with a processor: %d spans ended, want 1", len(rec.Ended()))
	}
}

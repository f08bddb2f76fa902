// Package telemetry sets up OpenTelemetry: a tracer provider and a meter
// provider for the whole process. Metrics are always served as Prometheus
// exposition (/metrics); traces and metrics are also pushed over OTLP/HTTP
// when OTEL_EXPORTER_OTLP_ENDPOINT (or a signal-specific variant) is set.
package telemetry

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// Providers are the process's telemetry pipelines.
type Providers struct {
	Tracer   *sdktrace.TracerProvider
	Meter    *sdkmetric.MeterProvider
	registry *prometheus.Registry
}

// Options add exporters, for tests that read spans back.
type Options struct {
	SpanProcessors []sdktrace.SpanProcessor
}

// Setup builds the providers and installs them as the global ones (the
// OpenFGA SDK reports its own metrics through the global meter provider).
func Setup(ctx context.Context, version string, opts Options) (*Providers, error) {
	res, err := resource.Merge(resource.Default(), resource.NewSchemaless(
		semconv.ServiceName(serviceName()),
		semconv.ServiceVersion(version),
	))
	if err != nil {
		return nil, err
	}
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	promExporter, err := otelprom.New(otelprom.WithRegisterer(registry))
	if err != nil {
		return nil, err
	}
	meterOpts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promExporter)}
	traceOpts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	for _, sp := range opts.SpanProcessors {
		traceOpts = append(traceOpts, sdktrace.WithSpanProcessor(sp))
	}
	if otlpConfigured("TRACES") {
		exp, err := otlptracehttp.New(ctx) // endpoint, headers and TLS from OTEL_EXPORTER_OTLP_*
		if err != nil {
			return nil, err
		}
		traceOpts = append(traceOpts, sdktrace.WithBatcher(exp))
	} else if len(opts.SpanProcessors) == 0 {
		// Nothing receives spans: recording them (attributes, events, on
		// every request and query) would be work thrown away. Trace context
		// still passes through, unsampled.
		traceOpts = append(traceOpts, sdktrace.WithSampler(sdktrace.NeverSample()))
	}
	if otlpConfigured("METRICS") {
		exp, err := otlpmetrichttp.New(ctx)
		if err != nil {
			return nil, err
		}
		meterOpts = append(meterOpts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(30*time.Second))))
	}
	p := &Providers{
		Tracer:   sdktrace.NewTracerProvider(traceOpts...),
		Meter:    sdkmetric.NewMeterProvider(meterOpts...),
		registry: registry,
	}
	otel.SetTracerProvider(p.Tracer)
	otel.SetMeterProvider(p.Meter)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return p, nil
}

func serviceName() string {
	if v := os.Getenv("OTEL_SERVICE_NAME"); v != "" {
		return v
	}
	return "caido-cloud"
}

func otlpConfigured(signal string) bool {
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
}

// MetricsHandler serves the Prometheus exposition of every metric.
func (p *Providers) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(p.registry, promhttp.HandlerOpts{})
}

// HTTPClient returns a client whose requests are client spans, for calls to
// OpenFGA and other dependencies.
func (p *Providers) HTTPClient(peer string) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: otelhttp.NewTransport(http.DefaultTransport,
			otelhttp.WithTracerProvider(p.Tracer),
			otelhttp.WithMeterProvider(p.Meter),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string {
				return peer + " " + r.Method + " " + pathTemplate(r.URL.Path)
			})),
	}
}

// TracerProvider and MeterProvider as the interfaces instrumented code takes.
func (p *Providers) TracerProvider() trace.TracerProvider { return p.Tracer }
func (p *Providers) MeterProvider() metric.MeterProvider  { return p.Meter }

// Shutdown flushes pending spans and metrics.
func (p *Providers) Shutdown(ctx context.Context) error {
	return errors.Join(p.Tracer.Shutdown(ctx), p.Meter.Shutdown(ctx))
}

// pathTemplate replaces the ids in an OpenFGA path (/stores/ID/check) with
// {id}, so span names stay few.
func pathTemplate(path string) string {
	parts := strings.Split(path, "/")
	for i := 1; i < len(parts); i++ {
		switch parts[i-1] {
		case "stores", "authorization-models", "assertions":
			parts[i] = "{id}"
		}
	}
	return strings.Join(parts, "/")
}

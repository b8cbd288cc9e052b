package portal

import (
	"errors"
	"net/http"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/julienschmidt/httprouter"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Listener names used as the "listener" label of the HTTP metrics.
const (
	ListenerPublic   = "public"
	ListenerInternal = "internal"
)

// Route labels for requests that matched no registered pattern. Use them with
// InstrumentHandler on the router's NotFound and MethodNotAllowed handlers so a
// scan of random paths adds no series (the raw path is never a label).
const (
	RouteNotFound         = "not_found"
	RouteMethodNotAllowed = "method_not_allowed"
)

// metricsCodeClasses are the only values of the "code" label.
var metricsCodeClasses = [...]string{"2xx", "3xx", "4xx", "5xx"}

// metricsPreparedMethods are the methods whose series InstrumentHandler exports at 0
// for each route before the first request (PM-2). The portal only serves these.
var metricsPreparedMethods = [...]string{http.MethodGet, http.MethodPost}

// NewRegistry returns a fresh registry holding mypt_build_info (version as
// given; "devel" or the module version when empty), the Go runtime collector
// and the process collector. Each call builds a new, independent registry, so
// tests and repeated start-ups never collide (PM-1). Components register their
// own metrics on it; serve it with MetricsHandler.
func NewRegistry(version string) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		NewBuildInfoCollector(version),
	)
	return reg
}

// NewBuildInfoCollector returns the mypt_build_info gauge, always 1, labelled
// with the version and the Go version the binary was built with. An empty
// version falls back to the main module's version from the build info.
func NewBuildInfoCollector(version string) prometheus.Collector {
	if version == "" {
		version = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			version = bi.Main.Version
		}
	}
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "mypt_build_info",
		Help:        "Build information of the running mypt binary; always 1.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	g.Set(1)
	return g
}

// MetricsHandler serves g in the Prometheus exposition format. A collector
// that fails is reported in the response and the rest is still served, so one
// broken collector never hides every metric.
func MetricsHandler(g prometheus.Gatherer) http.Handler {
	return promhttp.HandlerFor(g, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 4,
		Timeout:             10 * time.Second,
	})
}

// HTTPMetrics counts and times requests on both listeners
// (mypt_http_requests_total, mypt_http_request_duration_seconds). Build one per
// registry and share it between the public and the internal router.
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTPMetrics registers the HTTP metrics on reg. If reg already holds them
// (the same registry handed to a second router, or a component rebuilt after a
// reconnect), the registered ones are reused instead of panicking (PM-1).
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mypt_http_requests_total",
		Help: "HTTP requests answered, by listener, route pattern, method and status class.",
	}, []string{"listener", "route", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mypt_http_request_duration_seconds",
		Help:    "Time to answer an HTTP request, by listener and route pattern.",
		Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
	}, []string{"listener", "route"})
	return &HTTPMetrics{
		requests: registerOrReuse(reg, requests),
		duration: registerOrReuse(reg, duration),
	}
}

// registerOrReuse registers c on reg and returns it, or returns the collector
// reg already holds under the same descriptors. Any other registration error
// (a same-named metric with different labels) is a programming error caught by
// the first test that builds the component, so it panics like MustRegister.
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// InstrumentHandler wraps h so each request it answers is counted and timed
// under listener ("public" or "internal") and route, which must be the pattern
// h is registered under (e.g. "/students/:id/attendance"), never the request's
// path. The method label is the request method for the standard methods and
// "other" for anything else, and the code label is the status class, so label
// values stay bounded whatever clients send. The GET and POST series of the
// route are exported at 0 straight away (PM-2).
func (m *HTTPMetrics) InstrumentHandler(listener, route string, h http.Handler) http.Handler {
	for _, method := range metricsPreparedMethods {
		for _, code := range metricsCodeClasses {
			m.requests.WithLabelValues(listener, route, method, code)
		}
	}
	observer := m.duration.WithLabelValues(listener, route)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &metricsStatusWriter{ResponseWriter: w}
		defer func() {
			// Count the request even if h panics: net/http answers 500 then.
			code := sw.status
			if p := recover(); p != nil {
				m.requests.WithLabelValues(listener, route, metricsMethod(r.Method), "5xx").Inc()
				observer.Observe(time.Since(start).Seconds())
				panic(p)
			}
			if code == 0 {
				code = http.StatusOK
			}
			m.requests.WithLabelValues(listener, route, metricsMethod(r.Method), metricsCodeClass(code)).Inc()
			observer.Observe(time.Since(start).Seconds())
		}()
		h.ServeHTTP(sw, r)
	})
}

// Handle registers h on router under method and path, instrumented with path
// as the route label, so the label is the registered pattern by construction.
// It exports that method's series at 0 as well (InstrumentHandler prepares GET
// and POST only).
func (m *HTTPMetrics) Handle(router *httprouter.Router, listener, method, path string, h http.Handler) {
	for _, code := range metricsCodeClasses {
		m.requests.WithLabelValues(listener, path, metricsMethod(method), code)
	}
	router.Handler(method, path, m.InstrumentHandler(listener, path, h))
}

// metricsMethod maps a request method to a bounded label value.
func metricsMethod(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
		http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return method
	}
	return "other"
}

// metricsCodeClass maps a status code to "2xx".."5xx"; informational and invalid
// codes count with their nearest class so the label has four values only.
func metricsCodeClass(code int) string {
	switch {
	case code < 300:
		return "2xx"
	case code < 400:
		return "3xx"
	case code < 500:
		return "4xx"
	}
	return "5xx"
}

// metricsStatusWriter records the first status code written.
type metricsStatusWriter struct {
	http.ResponseWriter
	status int
}

func (w *metricsStatusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *metricsStatusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush, deadlines and hijacking.
func (w *metricsStatusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

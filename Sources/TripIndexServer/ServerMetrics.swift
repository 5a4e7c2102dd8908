import Hummingbird
import Metrics
import Prometheus
import TripIndex

/// The server's metrics in Prometheus's text format (`GET /metrics`): requests and their
/// latency per route and status (swift-metrics counters and timers recorded into this
/// server's own registry), writes, and gauges of the store (items, dimension) and its index
/// settings, read when scraped.
final class ServerMetrics: Sendable {
  let registry = PrometheusCollectorRegistry()
  let factory: PrometheusMetricsFactory
  /// Items written or deleted.
  let writes: Metrics.Counter

  init() {
    var factory = PrometheusMetricsFactory(registry: registry)
    factory.defaultDurationHistogramBuckets = [
      .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1),
      .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(20),
      .milliseconds(50), .milliseconds(100), .milliseconds(250), .seconds(1),
    ]
    self.factory = factory
    writes = Metrics.Counter(label: "tripindex_item_writes_total", factory: factory)
  }

  /// The route a path belongs to, as a metric label.
  static func route(of request: Request) -> String {
    let path = request.uri.path
    if path.hasPrefix("/items/") { return "/items/{name}" }
    switch path {
    case "/query", "/info", "/health", "/metrics": return path
    default: return "other"
    }
  }

  /// Counts and times every request.
  struct Middleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServerMetrics

    func handle(
      _ request: Request, context: Context,
      next: (Request, Context) async throws -> Response
    ) async throws -> Response {
      let started = ContinuousClock.now
      var status = 500
      defer {
        let dimensions = [
          ("method", request.method.rawValue), ("route", ServerMetrics.route(of: request)),
          ("status", String(status)),
        ]
        Metrics.Counter(
          label: "tripindex_http_requests_total", dimensions: dimensions, factory: metrics.factory
        )
        .increment()
        let elapsed = started.duration(to: .now)
        let nanoseconds =
          elapsed.components.seconds * 1_000_000_000
          + elapsed.components.attoseconds / 1_000_000_000
        Metrics.Timer(
          label: "tripindex_http_request_duration_seconds",
          dimensions: Array(dimensions.prefix(2)), factory: metrics.factory
        ).recordNanoseconds(nanoseconds)
      }
      do {
        let response = try await next(request, context)
        status = Int(response.status.code)
        return response
      } catch let error as any HTTPResponseError {
        status = Int(error.status.code)
        throw error
      }
    }
  }

  /// The text of `GET /metrics`, with the store's gauges read now.
  func exposition(of session: SearchSession) throws -> String {
    let info = try session.info()
    func gauge(_ subsystem: String, _ name: String, _ help: String, labels: [(String, String)] = [])
      -> Prometheus.Gauge
    {
      registry.makeGauge(
        descriptor: MetricNameDescriptor(
          namespace: "tripindex", subsystem: subsystem, metricName: name, unitName: "",
          helpText: help),
        labels: labels)
    }
    gauge("store", "items", "Live items in the store.").set(to: Double(info.count))
    gauge("store", "dimension", "The store's vector dimension.").set(to: Double(info.dimension))
    gauge("store", "data_bytes", "Bytes of the store's data file.").set(
      to: Double(info.dataBytes))
    if let index = info.index {
      gauge(
        "index", "info", "1 for the store's LSH index, labelled with its settings.",
        labels: [("settings", index.configuration.summary)]
      ).set(to: 1.0)
    }
    return registry.emitToString()
  }
}

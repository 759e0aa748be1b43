import NIOCore

/// `http-request use-service prometheus-exporter`: the metrics in Prometheus' text
/// format, with HAProxy 2.6's names, answered by proxyd itself instead of a server.
final class PrometheusService: @unchecked Sendable {
    /// The statistics to render; set once by the control plane at start-up, before any
    /// listener accepts, and read-only afterwards.
    var context: StatsContext?

    func response() -> ByteBuffer {
        guard let context else { return ErrorPages.builtin(503) }
        let body = PrometheusExposition.render(context)
        var out = ByteBuffer()
        out.writeString("HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\n"
                        + "content-length: \(body.utf8.count)\r\n\r\n")
        out.writeString(body)
        return out
    }
}

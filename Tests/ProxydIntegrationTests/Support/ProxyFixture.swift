import Foundation
import XCTest

/// Builds configs the way an operator writes them, with fresh ports, for the
/// integration tests.
enum ProxyFixture {
    /// A `global` + `defaults` preamble with short timeouts, one thread so that balancing
    /// order is deterministic.
    static func preamble(mode: String = "http", extraDefaults: String = "") -> String {
        """
        global
            nbthread 1

        defaults
            mode \(mode)
            timeout connect 2s
            timeout client 10s
            timeout server 10s
        \(extraDefaults)

        """
    }

    static func serverLines(_ backends: [TestBackend], options: String = "") -> String {
        backends.map { "    server \($0.name) 127.0.0.1:\($0.port) \(options)" }.joined(separator: "\n")
    }

    /// Sends one request on a new connection and returns the response.
    static func get(port: Int, path: String = "/", headers: String = "") throws -> HTTPTestResponse {
        let connection = try TCP.Connection(port: port)
        try connection.send("GET \(path) HTTP/1.1\r\nHost: test\r\n\(headers)\r\n")
        return try connection.receiveResponse()
    }
}

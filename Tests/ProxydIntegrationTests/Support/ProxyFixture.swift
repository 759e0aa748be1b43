import Foundation
import XCTest

/// Builds configs the way an operator writes them, with fresh ports, for the
/// integration tests.
enum ProxyFixture {
    /// A `global` + `defaults` preamble with short timeouts, one thread unless `threads`
    /// says otherwise (the balancing tests compare thread counts).
    static func preamble(mode: String = "http", extraDefaults: String = "", threads: Int = 1,
                         extraGlobal: String = "") -> String {
        // Extra global lines go after nbthread without moving later lines when absent.
        """
        global
            nbthread \(threads)\(extraGlobal.isEmpty ? "" : "\n    " + extraGlobal)

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

    /// Starts proxyd on the preamble and one frontend `fe`, on a fresh port, sending
    /// everything to backend `app` made of `servers` plus `backend` lines; `frontend`
    /// lines go in the frontend. Returns the process and the port.
    static func start(servers: [TestBackend] = [], backend: String = "", frontend: String = "",
                      defaults: String = "", mode: String = "http", threads: Int = 1,
                      global: String = "", launcher: [String] = []) throws -> (ProxydProcess, Int) {
        let port = TCP.freePort()
        let indent = { (text: String) in
            text.split(separator: "\n", omittingEmptySubsequences: true).map { "    " + $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "\n")
        }
        let config = preamble(mode: mode, extraDefaults: defaults.isEmpty ? "" : indent(defaults), threads: threads,
                              extraGlobal: global) + """
            frontend fe
                bind 127.0.0.1:\(port)
            \(indent(frontend))
                default_backend app
            backend app
            \(indent(backend))
            \(serverLines(servers))

            """
        return (try ProxydProcess(config: config, waitForPorts: [port], launcher: launcher), port)
    }

    /// Sends one request on a new connection and returns the response.
    static func get(port: Int, path: String = "/", headers: String = "") throws -> HTTPTestResponse {
        let connection = try TCP.Connection(port: port)
        try connection.send("GET \(path) HTTP/1.1\r\nHost: test\r\n\(headers)\r\n")
        return try connection.receiveResponse()
    }
}

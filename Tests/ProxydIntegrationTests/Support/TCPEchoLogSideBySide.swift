import XCTest

/// `mode tcp` side by side with HAProxy, for what a connection leaves in the log: an echo
/// server, HAProxy and proxyd each on the config `config` makes for it (its frontend
/// port, its log socket's path, the echo server's port), one "ping" through each, and
/// the line both must log.
enum TCPEchoLogSideBySide {
    static func assertBothLog(_ expected: String,
                              config: (_ port: Int, _ logPath: String, _ echoPort: Int) -> String,
                              file: StaticString = #filePath, line: UInt = #line) throws {
        let echo = try TestBackend(name: "echo", behaviour: .tcpEcho)
        defer { echo.stop() }
        let haproxyLog = try LogReceiver(), proxydLog = try LogReceiver()
        defer { haproxyLog.stop(); proxydLog.stop() }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let reference = try ReferenceHAProxy(config: config(haproxyPort, haproxyLog.path, echo.port),
                                             waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort, proxydLog.path, echo.port), waitForPorts: [proxydPort])
        defer { proxy.stop() }
        for port in [haproxyPort, proxydPort] {
            let client = try TCP.Connection(port: port, timeout: 3)
            try client.send("ping")
            XCTAssertEqual(client.receive(count: 4), Array("ping".utf8), "port \(port)", file: file, line: line)
            client.close()
        }
        XCTAssertNotNil(haproxyLog.wait(for: expected), "HAProxy: \(haproxyLog.messages)", file: file, line: line)
        XCTAssertNotNil(proxydLog.wait(for: expected), "proxyd: \(proxydLog.messages)", file: file, line: line)
    }
}

import Foundation
import XCTest

/// What an operator's state change prints (`disable|enable server`, `set server … state`),
/// side by side with HAProxy 2.6: the same sentences on standard error, in the same order.
final class ServerStateSentencesTests: XCTestCase {
    func testStateChangesAreAnnouncedAsHAProxyDoes() throws {
        let web = try TestBackend(name: "web")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ss-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        func config(_ port: Int, _ socket: String) -> String {
            ProxyFixture.preamble(extraGlobal: "stats socket \(socket) level admin") + """
            frontend fe
                bind 127.0.0.1:\(port)
                default_backend app
            backend app
                server s1 127.0.0.1:\(web.port)
                server s2 127.0.0.1:\(web.port) backup
            """
        }
        let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
        let haproxySocket = directory.appendingPathComponent("h.sock").path
        let proxydSocket = directory.appendingPathComponent("p.sock").path
        let reference = try ReferenceHAProxy(config: config(haproxyPort, haproxySocket), waitForPorts: [haproxyPort])
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPort, proxydSocket), waitForPorts: [proxydPort])
        defer { proxy.stop() }
        let commands = ["disable server app/s1", "disable server app/s2", "enable server app/s2", "enable server app/s1",
                        "set server app/s1 state drain", "set server app/s1 state drain", "set server app/s1 state ready",
                        "set server app/s2 state maint", "set server app/s2 state ready"]
        for socket in [proxydSocket, haproxySocket] {
            for command in commands { XCTAssertEqual(try ControlClient.socat(command, socket: socket), "\n", command) }
        }
        /// The lines after the start-up notices, without the pid.
        func sentences(_ text: String) -> [String] {
            text.split(separator: "\n").filter { !$0.contains("[NOTICE]") }
                .map { $0.replacingOccurrences(of: #"\(\d+\)"#, with: "(PID)", options: .regularExpression) }
        }
        usleep(200_000)
        let expected = sentences(reference.stderrText())
        proxy.stop()
        XCTAssertEqual(sentences(proxy.stderrText()), expected)
        XCTAssertTrue(expected.contains { $0.hasSuffix("Server app/s1 is going DOWN for maintenance. 0 active and 1 backup servers left. Running on backup. 0 sessions active, 0 requeued, 0 remaining in queue.") },
                      expected.joined(separator: "\n"))
    }
}

import Foundation
import XCTest

/// Debian's HAProxy 2.6 and proxyd on one config template, each with its own syslog
/// receiver and the same echoing server: what the client gets (the server's echo of the
/// request head shows what the server got) and what each logs, side by side.
/// The template's `PORT` and `LOG` are filled in per side, `SERVER` with the echo's port,
/// and each of `extraPorts`' placeholders with that side's port.
final class SideBySideHTTP {
    let haproxyPort = TCP.freePort(), proxydPort = TCP.freePort()
    let haproxyLog: LogReceiver, proxydLog: LogReceiver
    let server: TestBackend
    private var reference: ReferenceHAProxy?
    private var proxy: ProxydProcess?

    init(_ template: String, extraPorts: [String: (haproxy: Int, proxyd: Int)] = [:]) throws {
        server = try TestBackend(name: "echo", behaviour: .echo)
        haproxyLog = try LogReceiver()
        proxydLog = try LogReceiver()
        func config(_ port: Int, _ log: LogReceiver) -> String {
            var text = template
            for (placeholder, ports) in extraPorts {
                text = text.replacingOccurrences(of: placeholder, with: "\(port == haproxyPort ? ports.haproxy : ports.proxyd)")
            }
            return text.replacingOccurrences(of: "PORT", with: "\(port)")
                .replacingOccurrences(of: "LOG", with: log.path)
                .replacingOccurrences(of: "SERVER", with: "\(server.port)")
        }
        do {
            reference = try ReferenceHAProxy(config: config(haproxyPort, haproxyLog),
                                             waitForPorts: [haproxyPort] + extraPorts.values.map(\.haproxy))
            proxy = try ProxydProcess(config: config(proxydPort, proxydLog),
                                      waitForPorts: [proxydPort] + extraPorts.values.map(\.proxyd))
        } catch {
            stop()
            throw error
        }
    }

    func stop() {
        proxy?.stop()
        reference?.stop()
        haproxyLog.stop()
        proxydLog.stop()
        server.stop()
    }

    /// Sends `requests` on one connection to each side; returns each side's answers,
    /// normalised (header names in lower case, no date or connection header; the echoed
    /// head in lower case, as HAProxy writes header names so).
    func exchange(_ requests: [String]) throws -> (haproxy: [String], proxyd: [String]) {
        (try exchange(requests, port: haproxyPort), try exchange(requests, port: proxydPort))
    }

    private func exchange(_ requests: [String], port: Int) throws -> [String] {
        let client = try TCP.Connection(port: port, timeout: 3)
        var answers: [String] = []
        for request in requests {
            try client.send(request)
            guard let response = try? client.receiveResponse() else { answers.append("(no response)"); break }
            let headers = response.headers
                .map { ($0.0.lowercased(), $0.1) }
                .filter { !["date", "connection", "content-length"].contains($0.0) }
                .map { "\($0.0): \($0.1)" }
            let echoed = response.bodyText.lowercased().components(separatedBy: "\r\n")
                .filter { !$0.hasPrefix("host:") && !$0.hasPrefix("connection:") }
            answers.append((["\(response.status)"] + headers + echoed).joined(separator: "\n"))
        }
        return answers
    }

    /// The log lines starting with `prefix`, `count` of them from each side (bounded wait).
    func logs(prefix: String, count: Int) -> (haproxy: [String], proxyd: [String]) {
        func lines(_ log: LogReceiver) -> [String] {
            let deadline = Date().addingTimeInterval(5)
            var found: [String] = []
            while Date() < deadline {
                found = log.messages.filter { $0.hasPrefix(prefix) }
                if found.count >= count { break }
                usleep(20_000)
            }
            return found
        }
        return (lines(haproxyLog), lines(proxydLog))
    }
}

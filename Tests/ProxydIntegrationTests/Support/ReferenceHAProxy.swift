import Foundation
import XCTest

/// The real HAProxy 2.6 run on a config, to set proxyd's behaviour beside it in a test.
final class ReferenceHAProxy {
    static let path = "/usr/sbin/haproxy"
    private let process = Process()
    private let file: URL
    private let errors: URL

    /// Skips the test when haproxy is not installed; fails when it does not listen.
    /// `arguments` follow the config file (`-L NAME` for a peer's name).
    init(config: String, waitForPorts: [Int], arguments: [String] = []) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.path) else {
            throw XCTSkip("haproxy is not installed (scripts/install-deps installs it)")
        }
        file = FileManager.default.temporaryDirectory.appendingPathComponent("haproxy-\(UUID().uuidString.prefix(8)).cfg")
        try (config.hasSuffix("\n") ? config : config + "\n").write(to: file, atomically: true, encoding: .utf8)
        process.executableURL = URL(fileURLWithPath: Self.path)
        process.arguments = ["-db", "-f", file.path] + arguments
        process.standardOutput = FileHandle.nullDevice
        errors = file.appendingPathExtension("stderr")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        for port in waitForPorts where !TCP.waitUntilListening(port: port, timeout: 10) {
            let text = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            stop()
            throw TestFailure("haproxy did not listen on \(port): \(text)")
        }
    }

    var pid: Int32 { process.processIdentifier }

    /// What HAProxy printed on standard error so far.
    func stderrText() -> String { (try? String(contentsOf: errors, encoding: .utf8)) ?? "" }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: file)
        try? FileManager.default.removeItem(at: errors)
    }

    deinit { stop() }
}

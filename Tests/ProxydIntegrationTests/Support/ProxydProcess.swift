import Foundation
import XCTest

/// The built `proxyd` binary, started on a temporary config as an operator would.
final class ProxydProcess {
    let process = Process()
    let directory: URL
    let configPath: String
    /// The config as written to `configPath`.
    private(set) var configText = ""
    private let stderrPipe = Pipe()
    private let stdoutPipe = Pipe()

    /// Where `swift build` put the binaries: next to the test bundle.
    static var binaryDirectory: URL {
        var url = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        // xctest bundles on Linux are executables in the build directory itself.
        if url.lastPathComponent.hasSuffix(".xctest") { url.deleteLastPathComponent() }
        return url
    }

    static var proxydPath: String { binaryDirectory.appendingPathComponent("proxyd").path }

    /// Writes `config` (with `{DIR}` replaced by the temp directory) and starts proxyd,
    /// through `launcher` (a command that execs its arguments) when one is given.
    init(config: String, extraArguments: [String] = [], waitForPorts: [Int] = [], launcher: [String] = []) throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("proxyd-test-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        configPath = directory.appendingPathComponent("proxyd.cfg").path
        var text = config.replacingOccurrences(of: "{DIR}", with: directory.path)
        // Like HAProxy, proxyd refuses a file whose last line has no LF (a truncated file).
        if !text.hasSuffix("\n") { text += "\n" }
        configText = text
        try text.write(toFile: configPath, atomically: true, encoding: .utf8)
        if let first = launcher.first {
            process.executableURL = URL(fileURLWithPath: first)
            process.arguments = launcher.dropFirst() + [Self.proxydPath, "-f", configPath] + extraArguments
        } else {
            process.executableURL = URL(fileURLWithPath: Self.proxydPath)
            process.arguments = ["-f", configPath] + extraArguments
        }
        process.standardError = stderrPipe
        process.standardOutput = stdoutPipe
        try process.run()
        for port in waitForPorts {
            guard TCP.waitUntilListening(port: port, timeout: 10) else {
                stop()
                throw TestFailure("proxyd did not listen on \(port): \(stderrText())")
            }
        }
        // proxyd binds its stats sockets just after its frontends: a test that waited for a
        // port and then talks to a socket would race it (by ~50 ms under ThreadSanitizer).
        if !waitForPorts.isEmpty {
            for path in Self.statsSocketPaths(in: text) {
                let deadline = Date().addingTimeInterval(10)
                while !FileManager.default.fileExists(atPath: path), process.isRunning, Date() < deadline {
                    usleep(5_000)
                }
            }
        }
    }

    /// The Unix `stats socket` paths of a config (`ipv4@…` and other addresses are not files).
    static func statsSocketPaths(in config: String) -> [String] {
        config.split(separator: "\n").compactMap { line in
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard words.count >= 3, words[0] == "stats", words[1] == "socket", words[2].hasPrefix("/") else { return nil }
            return String(words[2])
        }
    }

    var pid: Int32 { process.processIdentifier }

    func signal(_ sig: Int32) { kill(process.processIdentifier, sig) }

    /// Waits (bounded) for the process to exit; returns its status or nil on timeout.
    @discardableResult
    func waitForExit(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        return process.isRunning ? nil : process.terminationStatus
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            if waitForExit(timeout: 5) == nil { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    func stderrText() -> String {
        if process.isRunning { return "(still running)" }
        return String(decoding: stderrPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    }

    /// Resident set size in KiB, from /proc.
    func residentKiB(field: String = "VmRSS") -> Int {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        for line in text.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) ?? 0
        }
        return 0
    }

    deinit { stop() }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

import Foundation
import XCTest

/// What proxyd.service relies on: proxyd says READY=1 on $NOTIFY_SOCKET once it serves,
/// also when its config chroots it away from the socket's path, and a process asked to
/// finish (SIGUSR1, what `-sf` sends on a reload) never says STOPPING=1, which systemd
/// would take for the whole service stopping.
final class SystemdNotifyTests: XCTestCase {
    func testReadyReachesSystemdFromAChrootAndASoftStopSaysNothing() throws {
        guard getuid() == 0 else { throw XCTSkip("chroot needs root") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("jail"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let socketPath = dir.appendingPathComponent("notify.sock").path
        let listener = try NotifyListener(path: socketPath)
        defer { listener.close() }

        let port = TCP.freePort()
        let config = dir.appendingPathComponent("proxyd.cfg").path
        try """
            global
                chroot \(dir.path)/jail
            defaults
                mode http
                timeout connect 1s
                timeout client 5s
                timeout server 5s
            frontend web
                bind 127.0.0.1:\(port)
                http-request return status 200 content-type text/plain string "hello"

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ProxydProcess.proxydPath)
        process.arguments = ["-db", "-f", config]
        var environment = ProcessInfo.processInfo.environment
        environment["NOTIFY_SOCKET"] = socketPath
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }

        let ready = listener.receive(timeout: 10)
        XCTAssertEqual(ready, ["READY=1"], "proxyd in a chroot did not tell systemd it was ready")
        XCTAssertTrue(TCP.waitUntilListening(port: port, timeout: 5))

        kill(process.processIdentifier, SIGUSR1)
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        XCTAssertFalse(process.isRunning, "proxyd did not finish after SIGUSR1")
        let after = listener.receive(timeout: 0.3)
        XCTAssertFalse(after.contains { $0.contains("STOPPING=1") }, "a soft-stopping proxyd said \(after)")
    }
}

/// A datagram socket standing in for systemd's notify socket.
private final class NotifyListener {
    let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard status == 0 else { throw TestFailure("bind \(path): \(errno)") }
    }

    /// The messages that arrive within `timeout` seconds (returns at the first one).
    func receive(timeout: TimeInterval) -> [String] {
        var messages: [String] = []
        var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        var wait = Int32(timeout * 1000)
        while poll(&pfd, 1, wait) > 0 {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { break }
            messages.append(String(decoding: buffer[0..<n], as: UTF8.self))
            wait = 0
        }
        return messages
    }

    func close() { _ = Glibc.close(fd) }
}

import Foundation
import XCTest

/// proxyd asked for io_uring (`PROXYD_IO=uring`) where it is forbidden, as in a container
/// under Docker's default seccomp profile: a real seccomp filter (python3-seccomp) makes
/// `io_uring_setup` fail with EPERM before proxyd starts.
final class IOBackendFallbackTests: XCTestCase {
    /// Installs the filter, then execs its arguments with PROXYD_IO=uring.
    private static let forbidIoUring = """
        import errno, os, seccomp, sys
        f = seccomp.SyscallFilter(seccomp.ALLOW)
        f.add_rule(seccomp.ERRNO(errno.EPERM), "io_uring_setup")
        f.load()
        os.execve(sys.argv[1], sys.argv[1:], dict(os.environ, PROXYD_IO="uring"))
        """

    func testForbiddenIoUringFallsBackToEpollAndSaysWhy() throws {
        let python = "/usr/bin/python3"
        try XCTSkipUnless(Sandbox.runProcess(python, ["-c", "import seccomp"], timeout: 10).status == 0,
                          "python3-seccomp is missing (scripts/install-deps)")
        let backend = try TestBackend(name: "app")
        defer { backend.stop() }
        let (proxy, port) = try ProxyFixture.start(servers: [backend], launcher: [python, "-c", Self.forbidIoUring])
        // Served, on epoll.
        XCTAssertEqual(try ProxyFixture.get(port: port).bodyText, "app")
        let client = try TCP.Connection(port: port)
        for _ in 0..<3 {
            try client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            XCTAssertEqual(try client.receiveResponse().status, 200)
        }
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(proxy.pid)/fd")
            .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(proxy.pid)/fd/\($0)") }
        XCTAssertFalse(descriptors.contains("anon_inode:[io_uring]"), "an io_uring was set up: \(descriptors)")
        XCTAssertTrue(descriptors.contains("anon_inode:[eventpoll]"), "no epoll: \(descriptors)")
        proxy.stop()
        XCTAssertTrue(proxy.stderrText().contains("io_uring not used, the data path runs on epoll: io_uring_setup failed: Operation not permitted"),
                      proxy.stderrText())
    }

    /// The same start without the filter: the reactors run on io_uring.
    func testAllowedIoUringIsUsed() throws {
        let python = "/usr/bin/python3"
        let backend = try TestBackend(name: "app")
        defer { backend.stop() }
        let (proxy, port) = try ProxyFixture.start(
            servers: [backend],
            launcher: [python, "-c", "import os, sys; os.execve(sys.argv[1], sys.argv[1:], dict(os.environ, PROXYD_IO='uring'))"])
        defer { proxy.stop() }
        XCTAssertEqual(try ProxyFixture.get(port: port).bodyText, "app")
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(proxy.pid)/fd")
            .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(proxy.pid)/fd/\($0)") }
        XCTAssertTrue(descriptors.contains("anon_inode:[io_uring]"), "no io_uring: \(descriptors)")
    }

    /// io_uring allowed but `io_uring_register` forbidden (no probe, no buffer ring): the
    /// reactors keep io_uring as a poller, reads and sends stay calls, and the log says so.
    func testRefusedBufferRingKeepsIoUringAsAPollerAndSaysWhy() throws {
        let python = "/usr/bin/python3"
        try XCTSkipUnless(Sandbox.runProcess(python, ["-c", "import seccomp"], timeout: 10).status == 0,
                          "python3-seccomp is missing (scripts/install-deps)")
        let forbidRegister = Self.forbidIoUring.replacingOccurrences(of: "\"io_uring_setup\"", with: "\"io_uring_register\"")
        let backend = try TestBackend(name: "app")
        defer { backend.stop() }
        let (proxy, port) = try ProxyFixture.start(servers: [backend], launcher: [python, "-c", forbidRegister])
        let client = try TCP.Connection(port: port)
        for _ in 0..<3 {
            try client.send("GET / HTTP/1.1\r\nHost: test\r\n\r\n")
            XCTAssertEqual(try client.receiveResponse().bodyText, "app")
        }
        let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(proxy.pid)/fd")
            .compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(proxy.pid)/fd/\($0)") }
        XCTAssertTrue(descriptors.contains("anon_inode:[io_uring]"), "no io_uring: \(descriptors)")
        proxy.stop()
        XCTAssertTrue(proxy.stderrText().contains("io_uring used as a poller only, reads and sends stay system calls: the kernel lacks an opcode"),
                      proxy.stderrText())
    }
}

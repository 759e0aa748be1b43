import Foundation
import XCTest

/// Master-worker mode (-W, issue 12): the master holds the listeners and reloads without
/// closing them; a configuration or worker that fails leaves the old worker serving; the
/// master CLI (-S) shows the processes as HAProxy 2.6's `show proc` does.
final class MasterWorkerTests: XCTestCase {
    static func config(port: Int, backend: TestBackend, global: String = "") -> String {
        """
        global
            nbthread 1
        \(global)

        defaults
            mode http
            timeout connect 2s
            timeout client 10s
            timeout server 10s

        frontend fe
            bind 127.0.0.1:\(port)
            default_backend app

        backend app
        \(ProxyFixture.serverLines([backend]))

        """
    }

    /// A master CLI path of its own (short: Unix socket paths are limited).
    static func masterSocket() -> String { "/tmp/mw-\(UUID().uuidString.prefix(8)).sock" }

    /// Starts `proxyd -W -S SOCKET` and waits until it serves.
    static func startMaster(_ config: String, port: Int, socket: String, extra: [String] = []) throws -> ProxydProcess {
        try ProxydProcess(config: config, extraArguments: ["-W", "-S", socket] + extra, waitForPorts: [port])
    }

    func testMasterServesAndSIGUSR2ReloadsIntoANewWorker() throws {
        let first = try TestBackend(name: "first")
        let second = try TestBackend(name: "second")
        let port = TCP.freePort()
        let socket = Self.masterSocket()
        let master = try Self.startMaster(Self.config(port: port, backend: first), port: port, socket: socket)
        defer { master.stop() }
        XCTAssertEqual(try HTTPProbe.body(port: port), "first")
        let before = try MasterCLIClient.workers(socket)
        XCTAssertEqual(before.count, 1)
        XCTAssertNotEqual(before.first, master.pid, "the master does not serve itself")

        try Self.config(port: port, backend: second).write(toFile: master.configPath, atomically: true, encoding: .utf8)
        master.signal(SIGUSR2)
        XCTAssertTrue(waitUntil(5) { (try? HTTPProbe.body(port: port)) == "second" }, "the new configuration serves")
        let after = try MasterCLIClient.workers(socket)
        XCTAssertEqual(after.count, 1)
        XCTAssertNotEqual(after.first, before.first, "a new worker answers")
        XCTAssertTrue(waitUntil(5) { kill(before[0], 0) != 0 }, "the old worker exits")
        XCTAssertNotNil(master.process.isRunning ? master.pid : nil, "the master stays")
        let table = try MasterCLIClient.ask(socket, "show proc")
        XCTAssertTrue(table.contains("master          1 [failed: 0]"), table)
    }

    func testBrokenConfigurationKeepsTheOldWorkerAndTheMasterSaysWhy() throws {
        let backend = try TestBackend(name: "web")
        let port = TCP.freePort()
        let socket = Self.masterSocket()
        let config = Self.config(port: port, backend: backend)
        let master = try Self.startMaster(config, port: port, socket: socket)
        defer { master.stop() }
        let worker = try MasterCLIClient.workers(socket)
        try (config + "    bogus-keyword on\n").write(toFile: master.configPath, atomically: true, encoding: .utf8)

        let answer = try MasterCLIClient.ask(socket, "reload")
        XCTAssertTrue(answer.hasPrefix("Success=0\n--\n"), answer)
        XCTAssertTrue(answer.contains("unknown keyword 'bogus-keyword'"), answer)
        XCTAssertEqual(try HTTPProbe.body(port: port), "web", "the old worker still serves")
        XCTAssertEqual(try MasterCLIClient.workers(socket), worker)
        XCTAssertTrue(try MasterCLIClient.ask(socket, "show proc").contains("1 [failed: 1]"))

        // A configuration that loads but whose worker cannot start (its stats socket's
        // directory is missing): the same, with the worker's own reason.
        try config.replacingOccurrences(of: "    nbthread 1", with: "    nbthread 1\n    stats socket /nonexistent-dir/x.sock")
            .write(toFile: master.configPath, atomically: true, encoding: .utf8)
        let failed = try MasterCLIClient.ask(socket, "reload")
        XCTAssertTrue(failed.hasPrefix("Success=0\n--\n"), failed)
        XCTAssertTrue(failed.contains("cannot bind UNIX socket (No such file or directory) [/nonexistent-dir/x.sock]"), failed)
        XCTAssertEqual(try HTTPProbe.body(port: port), "web")
        XCTAssertEqual(try MasterCLIClient.workers(socket), worker)

        // Fixed again: the next reload works.
        try config.write(toFile: master.configPath, atomically: true, encoding: .utf8)
        XCTAssertTrue(try MasterCLIClient.ask(socket, "reload").hasPrefix("Success=1\n--\n"))
        XCTAssertNotEqual(try MasterCLIClient.workers(socket), worker)
        master.stop()
        XCTAssertTrue(master.stderrText().contains("Loading failure!"), master.stderrText())
    }

    /// HAProxy 2.6's table, old workers (kept by `grace`) apart; `mworker-max-reloads 1`
    /// stops a worker that outlived more reloads than that.
    func testShowProcListsOldWorkersAndMaxReloadsStopsThem() throws {
        let backend = try TestBackend(name: "web")
        let port = TCP.freePort()
        let socket = Self.masterSocket()
        let config = Self.config(port: port, backend: backend, global: "    grace 20s\n    mworker-max-reloads 1")
        let master = try Self.startMaster(config, port: port, socket: socket)
        defer { master.stop() }
        let first = try MasterCLIClient.workers(socket)[0]
        XCTAssertTrue(try MasterCLIClient.ask(socket, "reload").hasPrefix("Success=1"))
        let second = try MasterCLIClient.workers(socket)[0]
        var table = try MasterCLIClient.ask(socket, "show proc")
        let lines = table.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        XCTAssertEqual(lines[0], "#<PID>          <type>          <reloads>       <uptime>        <version>      ")
        XCTAssertTrue(lines[1].hasPrefix("\(master.pid)".padding(toLength: 16, withPad: " ", startingAt: 0) + "master          1 [failed: 0]   0d00h00m0"), table)
        XCTAssertEqual(lines[2], "# workers")
        XCTAssertTrue(lines[3].hasPrefix("\(second)".padding(toLength: 16, withPad: " ", startingAt: 0) + "worker          0               0d00h00m0"), table)
        XCTAssertEqual(lines[4], "# old workers")
        XCTAssertTrue(lines[5].hasPrefix("\(first)".padding(toLength: 16, withPad: " ", startingAt: 0) + "worker          1  "), table)
        XCTAssertEqual(Array(lines[6...]), ["# programs", "", ""], table)

        // Commands forwarded to a worker's runtime API: the current one, or any by pid.
        XCTAssertTrue(try MasterCLIClient.ask(socket, "@1 show info").contains("\nPid: \(second)\n"))
        let oldInfo = try MasterCLIClient.ask(socket, "@!\(first) show info")
        XCTAssertTrue(oldInfo.contains("\nPid: \(first)\n") && oldInfo.contains("\nStopping: 1\n"), oldInfo)
        XCTAssertEqual(try MasterCLIClient.ask(socket, "@!1 show info"), "Can't find the target PID matching the prefix '@!1'\n")

        XCTAssertTrue(try MasterCLIClient.ask(socket, "reload").hasPrefix("Success=1"))
        XCTAssertTrue(waitUntil(5) { kill(first, 0) != 0 }, "two reloads > mworker-max-reloads 1: SIGTERM")
        XCTAssertEqual(kill(second, 0), 0, "one reload: still finishing its grace")
        table = try MasterCLIClient.ask(socket, "show proc")
        XCTAssertTrue(table.contains("# old workers\n\(second)"), table)
        XCTAssertFalse(table.contains("\(first) "), table)
    }

    /// `hard-stop-after`: an old worker still busy (a request its server answers late) is
    /// listed among the old workers, then ends at the limit.
    func testHardStopAfterEndsABusyOldWorker() throws {
        let slow = try TestBackend(name: "slow", behaviour: .slow(.seconds(20)))
        let port = TCP.freePort()
        let socket = Self.masterSocket()
        let master = try Self.startMaster(Self.config(port: port, backend: slow, global: "    hard-stop-after 1s"),
                                          port: port, socket: socket)
        defer { master.stop() }
        let old = try MasterCLIClient.workers(socket)[0]
        let client = try TCP.Connection(port: port)
        defer { client.close() }
        try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        usleep(200_000)
        XCTAssertTrue(try MasterCLIClient.ask(socket, "reload").hasPrefix("Success=1"))
        XCTAssertTrue(try MasterCLIClient.ask(socket, "show proc").contains("# old workers\n\(old) "))
        let started = Date()
        XCTAssertTrue(waitUntil(5) { kill(old, 0) != 0 }, "the old worker ends at hard-stop-after")
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
        XCTAssertFalse(try MasterCLIClient.ask(socket, "show proc").contains("# old workers"))
    }

    /// As HAProxy 2.6: the current worker dying stops the master with its status, unless
    /// `master-worker no-exit-on-failure`.
    func testKilledWorkerStopsTheMasterUnlessNoExitOnFailure() throws {
        let backend = try TestBackend(name: "web")
        let port = TCP.freePort()
        let socket = Self.masterSocket()
        let master = try Self.startMaster(Self.config(port: port, backend: backend), port: port, socket: socket)
        defer { master.stop() }
        kill(try MasterCLIClient.workers(socket)[0], SIGKILL)
        XCTAssertEqual(master.waitForExit(timeout: 5), 137)
        let text = master.stderrText()
        XCTAssertTrue(text.contains("exited with code 137 (Killed)"), text)
        XCTAssertTrue(text.contains("exit-on-failure: killing every processes with SIGTERM"), text)
        XCTAssertFalse(FileManager.default.fileExists(atPath: socket), "the master CLI socket is removed")

        // no-exit-on-failure: the other workers are left alone (here an old one still in its
        // grace); the master leaves only with the last of them, as HAProxy's does.
        let port2 = TCP.freePort()
        let socket2 = Self.masterSocket()
        let lenient = try Self.startMaster(Self.config(port: port2, backend: backend,
                                                       global: "    master-worker no-exit-on-failure\n    grace 20s"),
                                           port: port2, socket: socket2)
        defer { lenient.stop() }
        let old = try MasterCLIClient.workers(socket2)[0]
        XCTAssertTrue(try MasterCLIClient.ask(socket2, "reload").hasPrefix("Success=1"))
        kill(try MasterCLIClient.workers(socket2)[0], SIGKILL)
        usleep(500_000)
        XCTAssertTrue(lenient.process.isRunning, "the master stays")
        XCTAssertEqual(kill(old, 0), 0, "the old worker is not killed")
        XCTAssertEqual(try MasterCLIClient.workers(socket2), [])
        XCTAssertTrue(try MasterCLIClient.ask(socket2, "show proc").contains("# old workers\n\(old) "))
        kill(old, SIGTERM)
        XCTAssertEqual(lenient.waitForExit(timeout: 5), 0, "the last worker gone, the master leaves with its status")
    }

    /// -Ws: the master alone speaks to systemd (its pid stays MAINPID): READY=1 once the
    /// first worker serves, RELOADING=1 then READY=1 around a reload, the reason of a
    /// failed one in STATUS=, STOPPING=1 when stopped.
    func testWsTellsSystemdAboutStartReloadsAndStop() throws {
        let backend = try TestBackend(name: "web")
        let port = TCP.freePort()
        let notifyPath = "/tmp/mw-notify-\(UUID().uuidString.prefix(8)).sock"
        let notify = try DatagramListener(path: notifyPath)
        defer { notify.close() }
        let socket = Self.masterSocket()
        let config = Self.config(port: port, backend: backend)
        setenv("NOTIFY_SOCKET", notifyPath, 1)
        let master = try ProxydProcess(config: config, extraArguments: ["-Ws", "-S", socket], waitForPorts: [port])
        unsetenv("NOTIFY_SOCKET")
        defer { master.stop() }
        XCTAssertEqual(notify.messages(for: 0.3), ["READY=1", "STATUS=Ready."])
        let worker = try MasterCLIClient.workers(socket)[0]
        let environ = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(worker)/environ"))) ?? Data()
        XCTAssertFalse(String(decoding: environ, as: UTF8.self).contains("NOTIFY_SOCKET="), "a worker does not speak to systemd")

        master.signal(SIGUSR2)
        var messages = notify.messages(for: 1.5)
        XCTAssertEqual(messages.count, 2, "\(messages)")
        XCTAssertTrue(messages.first?.hasPrefix("RELOADING=1\nMONOTONIC_USEC=") == true, "\(messages)")
        XCTAssertEqual(messages.last, "READY=1\nSTATUS=Ready.")

        try (config + "    bogus-keyword on\n").write(toFile: master.configPath, atomically: true, encoding: .utf8)
        master.signal(SIGUSR2)
        messages = notify.messages(for: 1.5)
        XCTAssertEqual(messages.count, 2, "\(messages)")
        XCTAssertTrue(messages.last?.hasPrefix("READY=1\nSTATUS=Reload failed: parsing [") == true, "\(messages)")
        XCTAssertTrue(messages.last?.contains("unknown keyword 'bogus-keyword'") == true, "\(messages)")

        master.signal(SIGTERM)
        XCTAssertEqual(master.waitForExit(timeout: 5), 0)
        XCTAssertEqual(notify.messages(for: 0.3), ["STOPPING=1"])
    }

    /// systemd's default KillMode sends SIGTERM to the worker and to the master, which
    /// passes it on: the worker takes the two as one stop, and still waits for the hold
    /// subscriber (vrrpd) to release it before closing its listeners.
    func testSIGTERMToMasterAndWorkerStillWaitsForTheHoldSubscriber() throws {
        let backend = try TestBackend(name: "web")
        let port = TCP.freePort()
        let socket = Self.masterSocket()
        let master = try Self.startMaster(Self.config(port: port, backend: backend,
                                                      global: "    stats socket {DIR}/admin.sock mode 600 level admin\n    grace 5s"),
                                          port: port, socket: socket)
        defer { master.stop() }
        let worker = try MasterCLIClient.workers(socket)[0]
        let subscriber = try UnixLineClient(path: master.directory.appendingPathComponent("admin.sock").path)
        defer { subscriber.close() }
        try subscriber.send("subscribe ha hold\n")
        _ = try subscriber.lines(through: "ready")
        kill(worker, SIGTERM)
        master.signal(SIGTERM)
        XCTAssertTrue(try subscriber.line().hasPrefix("state stopping"))
        usleep(500_000)
        XCTAssertEqual(kill(worker, 0), 0, "the worker holds the stop for its subscriber")
        XCTAssertEqual(try HTTPProbe.body(port: port), "web", "and serves meanwhile")
        try subscriber.send("release\n")
        XCTAssertEqual(master.waitForExit(timeout: 5), 0)
        XCTAssertNotEqual(kill(worker, 0), 0)
    }

    /// A worker whose master is killed finishes and exits (as HAProxy's do): it does not
    /// serve on, unsupervised, forever.
    func testWorkerStopsWhenTheMasterDies() throws {
        let backend = try TestBackend(name: "web")
        let port = TCP.freePort()
        let socket = Self.masterSocket()
        let master = try Self.startMaster(Self.config(port: port, backend: backend), port: port, socket: socket)
        defer { master.stop(); unlink(socket) }
        let worker = try MasterCLIClient.workers(socket)[0]
        master.signal(SIGKILL)
        XCTAssertTrue(waitUntil(5) { kill(worker, 0) != 0 }, "the orphaned worker exits")
    }

    /// `bind fd@3`: a listening socket handed over by whoever starts proxyd (systemd socket
    /// activation, a test driver).
    func testFdBindServesOnAnInheritedSocket() throws {
        let backend = try TestBackend(name: "web")
        let (listener, port) = try Self.listeningSocket()
        var listenerOpen = true
        defer { if listenerOpen { close(listener) } }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("proxyd-fd-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let configPath = directory.appendingPathComponent("proxyd.cfg").path
        try Self.config(port: 1, backend: backend).replacingOccurrences(of: "bind 127.0.0.1:1", with: "bind fd@3")
            .write(toFile: configPath, atomically: true, encoding: .utf8)
        // The socket arrives as stdin and the shell moves it to 3, as systemd passes them.
        let proxy = Process()
        proxy.executableURL = URL(fileURLWithPath: "/bin/sh")
        proxy.arguments = ["-c", "exec \"$0\" -f \"$1\" 3<&0 0</dev/null", ProxydProcess.proxydPath, configPath]
        proxy.standardInput = FileHandle(fileDescriptor: listener, closeOnDealloc: false)
        let errors = Pipe()
        proxy.standardError = errors
        try proxy.run()
        defer {
            proxy.terminate()
            proxy.waitUntilExit()
        }
        XCTAssertTrue(waitUntil(5) { (try? HTTPProbe.body(port: port)) == "web" }, "served on the socket it was given")
        // proxyd's own listener is the test's socket: nothing else listens on the port.
        close(listener)
        listenerOpen = false
        XCTAssertEqual(try HTTPProbe.body(port: port), "web")
    }

    /// A listening TCP socket on 127.0.0.1 and its port.
    static func listeningSocket() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0, listen(fd, 64) == 0 else { throw TestFailure("cannot listen: errno \(errno)") }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    private func waitUntil(_ seconds: TimeInterval, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(50_000)
        }
        return condition()
    }
}

/// One request through the proxy; the body (TestBackend answers with its name).
enum HTTPProbe {
    static func body(port: Int) throws -> String {
        let connection = try TCP.Connection(port: port)
        defer { connection.close() }
        connection.setTimeout(3)
        try connection.send("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        let response = try connection.receiveResponse()
        guard response.status == 200 else { throw TestFailure("status \(response.status)") }
        return String(decoding: response.body, as: UTF8.self)
    }
}

/// The master CLI, as `socat SOCKET -` would use it: one command, the whole answer.
enum MasterCLIClient {
    static func ask(_ path: String, _ command: String) throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard status == 0 else { throw TestFailure("cannot connect to \(path)") }
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let line = command + "\n"
        _ = line.withCString { send(fd, $0, strlen($0), 0) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The current workers' pids (`# workers` of `show proc`).
    static func workers(_ path: String) throws -> [Int32] {
        let lines = try ask(path, "show proc").split(separator: "\n")
        guard let start = lines.firstIndex(of: "# workers") else { throw TestFailure("no workers section") }
        return lines[(start + 1)...].prefix { !$0.hasPrefix("#") }.compactMap { Int32($0.split(separator: " ").first ?? "") }
    }
}

/// A datagram socket standing in for systemd's notify socket.
final class DatagramListener {
    let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let status = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, status == 0 else { throw TestFailure("cannot bind \(path)") }
    }

    /// Every message that arrives within `seconds`.
    func messages(for seconds: TimeInterval) -> [String] {
        var out: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var entry = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&entry, 1, 20) > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n > 0 { out.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
        }
        return out
    }

    func close() {
        Foundation.close(fd)
        unlink(path)
    }
}

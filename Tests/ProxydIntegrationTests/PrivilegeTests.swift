import Foundation
import XCTest

/// proxyd started as root: it binds (a port below 1024, the control sockets with their
/// mode and owner), chroots and drops to `user`/`group`, as HAProxy 2.6 does on the same
/// configuration; with -W the master keeps root and the worker drops. Root only.
final class PrivilegeTests: XCTestCase {
    override func setUpWithError() throws {
        guard geteuid() == 0 else { throw XCTSkip("binding below 1024, chroot and setuid need root") }
    }

    /// A free port below 1024 on 127.0.0.1 (only root binds there).
    static func lowPort() throws -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 600..<1024)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            if bound == 0 { return port }
        }
        throw TestFailure("no free port below 1024")
    }

    /// A directory of its own, mode 755, root's (a chroot, or where sockets go).
    static func directory(_ tag: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("prv-\(tag)-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        return path
    }

    /// The fields of /proc/PID/status (or /proc/PID/task/TID/status).
    static func status(_ path: String) -> [String: String] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { out[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        return out
    }

    /// Who a process is: ids, groups, capabilities and root directory, for every thread
    /// (setuid in a threaded process must reach them all).
    struct Credentials: Equatable, CustomStringConvertible {
        var uid = "", gid = "", groups = "", effective = "", permitted = "", root = ""
        var threads: [String] = []

        init(pid: Int32) {
            let status = PrivilegeTests.status("/proc/\(pid)/status")
            uid = status["Uid"] ?? "?"
            gid = status["Gid"] ?? "?"
            groups = status["Groups"] ?? "?"
            effective = status["CapEff"] ?? "?"
            permitted = status["CapPrm"] ?? "?"
            root = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/root")) ?? "?"
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
            threads = Set(tasks.map { task in
                let s = PrivilegeTests.status("/proc/\(pid)/task/\(task)/status")
                return "\(s["Uid"] ?? "?") \(s["Gid"] ?? "?") \(s["Groups"] ?? "?") \(s["CapEff"] ?? "?")"
            }).sorted()
        }

        var description: String { "uid \(uid) gid \(gid) groups [\(groups)] eff \(effective) prm \(permitted) root \(root) threads \(threads)" }
    }

    static func config(port: Int, backend: TestBackend, jail: String, sockets: String) -> String {
        """
        global
            nbthread 2
            user nobody
            group nogroup
            chroot \(jail)
            stats socket \(sockets)/admin.sock mode 600 level admin

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

    /// The worker binds port < 1024 and its control socket as root, then runs as
    /// nobody:nogroup with no supplementary group, no capability, inside its chroot, on
    /// every thread, and serves; HAProxy ends in the same state on the same config.
    func testDropsToUserAndGroupInsideTheChrootAndStillServes() throws {
        let backend = try TestBackend(name: "app")
        let jail = try Self.directory("jail")
        let sockets = try Self.directory("sock")
        defer {
            try? FileManager.default.removeItem(atPath: jail)
            try? FileManager.default.removeItem(atPath: sockets)
        }
        let port = try Self.lowPort()
        let proxy = try ProxydProcess(config: Self.config(port: port, backend: backend, jail: jail, sockets: sockets),
                                      waitForPorts: [port])
        defer { proxy.stop() }
        XCTAssertEqual(try HTTPProbe.body(port: port), "app", "serves after the drop")
        let ours = Credentials(pid: proxy.pid)
        XCTAssertEqual(ours.uid, "65534\t65534\t65534\t65534", "\(ours)")
        XCTAssertEqual(ours.gid, "65534\t65534\t65534\t65534", "\(ours)")
        XCTAssertEqual(ours.groups, "", "no supplementary group: \(ours)")
        XCTAssertEqual(ours.effective, "0000000000000000")
        XCTAssertEqual(ours.permitted, "0000000000000000")
        XCTAssertEqual(ours.root, jail)
        XCTAssertEqual(ours.threads, ["65534\t65534\t65534\t65534 65534\t65534\t65534\t65534  0000000000000000"],
                       "every thread dropped")
        // The control socket was bound before the chroot and still answers.
        XCTAssertEqual(try ControlClient.socat("show cli level", socket: sockets + "/admin.sock"), "admin\n\n")

        let referencePort = try Self.lowPort()
        let haproxySockets = try Self.directory("hsock")
        defer { try? FileManager.default.removeItem(atPath: haproxySockets) }
        let haproxy = try ReferenceHAProxy(config: Self.config(port: referencePort, backend: backend, jail: jail,
                                                               sockets: haproxySockets),
                                           waitForPorts: [referencePort])
        defer { haproxy.stop() }
        XCTAssertEqual(try HTTPProbe.body(port: referencePort), "app")
        let theirs = Credentials(pid: haproxy.pid)
        XCTAssertEqual(ours.uid, theirs.uid)
        XCTAssertEqual(ours.gid, theirs.gid)
        XCTAssertEqual(ours.groups, theirs.groups)
        XCTAssertEqual(ours.effective, theirs.effective)
        XCTAssertEqual(ours.root, theirs.root)
    }

    /// `proxyd -W`: the master keeps root (it reloads, re-reads the configuration and binds
    /// new ports), the worker drops, as HAProxy's master and worker do.
    func testMasterKeepsRootWhileItsWorkerDrops() throws {
        let backend = try TestBackend(name: "app")
        let jail = try Self.directory("jail")
        let sockets = try Self.directory("sock")
        defer {
            try? FileManager.default.removeItem(atPath: jail)
            try? FileManager.default.removeItem(atPath: sockets)
        }
        let port = try Self.lowPort()
        let socket = MasterWorkerTests.masterSocket()
        let master = try MasterWorkerTests.startMaster(
            Self.config(port: port, backend: backend, jail: jail, sockets: sockets), port: port, socket: socket)
        defer { master.stop() }
        XCTAssertEqual(try HTTPProbe.body(port: port), "app")
        let workers = try MasterCLIClient.workers(socket)
        XCTAssertEqual(workers.count, 1)
        let worker = Credentials(pid: workers.first ?? -1)
        XCTAssertEqual(worker.uid, "65534\t65534\t65534\t65534", "\(worker)")
        XCTAssertEqual(worker.groups, "")
        XCTAssertEqual(worker.effective, "0000000000000000")
        XCTAssertEqual(worker.root, jail)
        let parent = Credentials(pid: master.pid)
        XCTAssertEqual(parent.uid, "0\t0\t0\t0", "\(parent)")
        XCTAssertEqual(parent.root, "/")
    }
}

/// The control sockets' mode, owner and level, seen by a client that is not root
/// (`nobody`, through setpriv): the same answers from proxyd and HAProxy 2.6 on the same
/// `stats socket` lines.
final class ControlSocketAccessTests: XCTestCase {
    override func setUpWithError() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root to run the client as nobody") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv") else { throw XCTSkip("setpriv is missing") }
        _ = try ControlClient.require("socat", package: "socat")
    }

    static func config(port: Int, sockets: String, backendPort: Int) -> String {
        """
        global
            stats socket \(sockets)/root.sock mode 600 level admin
            stats socket \(sockets)/owner.sock mode 600 user nobody level operator
            stats socket \(sockets)/group.sock mode 660 group nogroup level user
            stats socket \(sockets)/world.sock mode 666 level admin

        defaults
            mode http
            timeout connect 2s
            timeout client 10s
            timeout server 10s

        frontend fe
            bind 127.0.0.1:\(port)
            default_backend app

        backend app
            server a 127.0.0.1:\(backendPort)

        """
    }

    /// One command line sent by nobody; "connect refused" when the socket refuses them.
    static func asNobody(_ command: String, socket: String) throws -> String {
        let line = "setpriv --reuid=nobody --regid=nogroup --clear-groups socat -t 1 stdio UNIX-CONNECT:\(socket) 2>&1"
        let (status, output) = try ControlClient.run("/bin/sh", ["-c", line], input: command + "\n")
        if status != 0 { return output.contains("Permission denied") ? "connect refused" : "socat failed: \(output)" }
        return output
    }

    static let commands = [
        "show cli level", "disable server app/a", "enable server app/a", "set server app/a state drain",
        "set server app/a state ready", "set weight app/a 50", "clear counters all", "clear counters",
        "set maxconn global 1000", "disable frontend fe", "enable frontend fe",
    ]

    /// Each socket × command as nobody; `show sess` and `show info` only as allowed or not.
    static func answers(sockets: String) throws -> [String] {
        var out: [String] = []
        for name in ["root", "owner", "group", "world"] {
            let path = "\(sockets)/\(name).sock"
            for command in commands {
                out.append("\(name): \(command) -> \(try asNobody(command, socket: path))")
            }
            for command in ["show sess", "show info"] {
                let answer = try asNobody(command, socket: path)
                let verdict = answer == "connect refused" || answer == "Permission denied\n\n" ? answer : "allowed"
                out.append("\(name): \(command) -> \(verdict)")
            }
        }
        return out
    }

    func testModeOwnerAndLevelAsNobodyMatchHAProxy() throws {
        let backend = try TestBackend(name: "a")
        let port = TCP.freePort()
        let sockets = try PrivilegeTests.directory("ctl")
        defer { try? FileManager.default.removeItem(atPath: sockets) }
        let proxy = try ProxydProcess(config: Self.config(port: port, sockets: sockets, backendPort: backend.port),
                                      waitForPorts: [port])
        defer { proxy.stop() }

        // The files as configured (the listener accepts a moment before the last socket is in place).
        XCTAssertTrue(ControlClient.eventually(5) { FileManager.default.fileExists(atPath: sockets + "/world.sock") })
        func owner(_ name: String) -> String {
            var st = stat()
            guard stat("\(sockets)/\(name).sock", &st) == 0 else { return "missing" }
            return String(format: "%o %d:%d", st.st_mode & 0o7777, st.st_uid, st.st_gid)
        }
        XCTAssertEqual(owner("root"), "600 0:0")
        XCTAssertEqual(owner("owner"), "600 65534:0")
        XCTAssertEqual(owner("group"), "660 0:65534")
        XCTAssertEqual(owner("world"), "666 0:0")

        let ours = try Self.answers(sockets: sockets)
        // The figures that matter, whatever HAProxy says.
        XCTAssertTrue(ours.contains("root: show cli level -> connect refused"), ours.joined(separator: "\n"))
        XCTAssertTrue(ours.contains("owner: show cli level -> operator\n\n"))
        XCTAssertTrue(ours.contains("owner: disable server app/a -> Permission denied\n\n"))
        XCTAssertTrue(ours.contains("owner: clear counters all -> Permission denied\n\n"))
        XCTAssertTrue(ours.contains("group: show cli level -> user\n\n"))
        XCTAssertTrue(ours.contains("group: clear counters -> Permission denied\n\n"))
        XCTAssertTrue(ours.contains("group: show sess -> Permission denied\n\n"))
        XCTAssertTrue(ours.contains("world: disable server app/a -> \n"))

        let haproxyPort = TCP.freePort()
        let haproxySockets = try PrivilegeTests.directory("hctl")
        defer { try? FileManager.default.removeItem(atPath: haproxySockets) }
        let haproxy = try ReferenceHAProxy(config: Self.config(port: haproxyPort, sockets: haproxySockets,
                                                               backendPort: backend.port),
                                           waitForPorts: [haproxyPort])
        defer { haproxy.stop() }
        let theirs = try Self.answers(sockets: haproxySockets)
        for (a, b) in zip(ours, theirs) where a != b {
            XCTFail("proxyd: \(a.debugDescription)\nhaproxy: \(b.debugDescription)")
        }
        XCTAssertEqual(ours.count, theirs.count)
    }
}

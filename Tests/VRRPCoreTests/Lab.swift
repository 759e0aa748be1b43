import XCTest
import Foundation
@testable import VRRPCore

/// A throwaway network for system tests: network namespaces `vrrpt<pid>-<host>` each with an
/// `eth0` (a veth) plugged into a bridge in `vrrpt<pid>-br`, 10.77.10.0/24, nothing routed out.
/// Everything is removed on exit, and leftovers of earlier runs whose process is gone at start.
final class Lab {
    /// `vrrpt<pid>`: unique per test process, so two runs at once (say, main's CI and a
    /// worktree) never tear down each other's namespaces; leftovers of dead runs are removed.
    static let family = "vrrpt"
    static let prefix = "\(family)\(getpid())"
    static let subnet = "10.77.10"
    static let vip = "10.77.10.100"

    let hosts: [String]
    let dir: String
    var processes: [String: Process] = [:]
    var logs: [String: String] = [:]

    static func binDir() -> URL? {
        let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var d = exe.deletingLastPathComponent()
        for _ in 0..<4 {
            if FileManager.default.isExecutableFile(atPath: d.appendingPathComponent("vrrpd").path) { return d }
            d = d.deletingLastPathComponent()
        }
        for c in [".build/debug", ".build/x86_64-unknown-linux-gnu/debug"] {
            let u = URL(fileURLWithPath: c)
            if FileManager.default.isExecutableFile(atPath: u.appendingPathComponent("vrrpd").path) { return u }
        }
        return nil
    }

    /// VRRPT_VRRPD=PATH runs the system tests against another build (an older commit's).
    static var vrrpd: String? {
        ProcessInfo.processInfo.environment["VRRPT_VRRPD"].flatMap { $0.isEmpty ? nil : $0 }
            ?? binDir()?.appendingPathComponent("vrrpd").path
    }

    /// Runs a shell command; its output goes through a file, not a pipe, so a background
    /// process it leaves behind cannot block the test by holding the pipe open.
    @discardableResult
    static func sh(_ cmd: String, input: Data? = nil) -> (status: Int32, out: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", cmd]
        let outPath = NSTemporaryDirectory() + "vrrpt-sh-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).out"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        defer { unlink(outPath) }
        guard let out = FileHandle(forWritingAtPath: outPath) else { return (127, "cannot create \(outPath)") }
        p.standardOutput = out
        p.standardError = out
        let inPipe = Pipe()
        p.standardInput = input != nil ? inPipe : FileHandle.nullDevice
        do { try p.run() } catch { try? out.close(); return (127, "\(error)") }
        if let i = input {
            inPipe.fileHandleForWriting.write(i)
            try? inPipe.fileHandleForWriting.close()
        }
        p.waitUntilExit()
        try? out.close()
        let data = FileManager.default.contents(atPath: outPath) ?? Data()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    /// Removes this process's namespaces, and those of earlier runs whose process is gone.
    static func cleanStale() {
        let list = sh("ip netns list").out
        for line in list.split(separator: "\n") {
            let name = line.split(separator: " ").first.map(String.init) ?? ""
            guard name.hasPrefix(family), let dash = name.firstIndex(of: "-") else { continue }
            guard let owner = pid_t(name[name.index(name.startIndex, offsetBy: family.count)..<dash]) else { continue }
            if owner == getpid() || kill(owner, 0) != 0 {
                sh("ip netns pids \(name) | xargs -r kill -9; ip netns del \(name)")
            }
        }
    }

    /// Builds the lab or throws XCTSkip when this machine cannot (not root, no netns, no binary).
    init(hosts: [String], file: StaticString = #filePath, line: UInt = #line) throws {
        guard geteuid() == 0 else { throw XCTSkip("system test needs root (network namespaces, raw sockets)") }
        guard Lab.vrrpd != nil else { throw XCTSkip("vrrpd binary not built next to the tests") }
        guard Lab.sh("ip netns list").status == 0 else { throw XCTSkip("ip netns is not available") }
        Lab.cleanStale()
        self.hosts = hosts
        dir = NSTemporaryDirectory() + "vrrpt-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let br = "\(Lab.prefix)-br"
        var script = "set -e\nip netns add \(br)\nip -n \(br) link add br0 type bridge\nip -n \(br) link set br0 up\n"
        for (i, h) in hosts.enumerated() {
            let ns = "\(Lab.prefix)-\(h)"
            script += """
            ip netns add \(ns)
            ip link add \(ns) type veth peer name eth0 netns \(ns)
            ip link set \(ns) netns \(br)
            ip -n \(br) link set \(ns) master br0 up
            ip -n \(ns) link set lo up
            ip -n \(ns) link set eth0 up
            ip -n \(ns) addr add \(Lab.subnet).\(i + 1)/24 dev eth0

            """
        }
        let r = Lab.sh(script)
        if r.status != 0 {
            Lab.cleanStale()
            throw XCTSkip("cannot build the namespace lab: \(r.out)")
        }
    }

    func ns(_ h: String) -> String { "\(Lab.prefix)-\(h)" }
    func address(_ h: String) -> String { "\(Lab.subnet).\(hosts.firstIndex(of: h)! + 1)" }
    func path(_ name: String) -> String { "\(dir)/\(name)" }

    func write(_ name: String, _ text: String) -> String {
        let p = path(name)
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }

    /// Start a process in host h's namespace, output to `<key>.log`.
    @discardableResult
    func start(_ key: String, on h: String, _ argv: [String]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
        if !FileManager.default.isExecutableFile(atPath: "/usr/sbin/ip") { p.executableURL = URL(fileURLWithPath: "/sbin/ip") }
        p.arguments = ["netns", "exec", ns(h)] + argv
        let logPath = path("\(key).log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let fh = FileHandle(forWritingAtPath: logPath)!
        p.standardOutput = fh
        p.standardError = fh
        try p.run()
        processes[key] = p
        logs[key] = logPath
        return p
    }

    func startVrrpd(_ key: String, on h: String, config: String, extra: [String] = []) throws {
        let conf = write("\(key).conf", config)
        try start(key, on: h, [Lab.vrrpd!, "-n", "-l", "-D", "--no-syslog", "-f", conf,
                               "-p", path("\(key).pid"), "--query-socket", path("\(key).sock"),
                               "--data-file", path("\(key).data"), "--stats-file", path("\(key).stats")] + extra)
    }

    func startKeepalived(_ key: String, on h: String, config: String) throws {
        let conf = write("\(key).conf", config)
        try start(key, on: h, ["/usr/sbin/keepalived", "-n", "-l", "-D", "--vrrp", "-f", conf,
                               "-p", path("\(key).pid"), "-r", path("\(key).vpid")])
    }

    func signal(_ key: String, _ sig: Int32) {
        if let p = processes[key], p.isRunning { kill(p.processIdentifier, sig) }
    }

    /// Stop and wait (bounded); SIGKILL after 5 s.
    func stop(_ key: String, _ sig: Int32 = SIGTERM) {
        guard let p = processes[key] else { return }
        if p.isRunning { kill(p.processIdentifier, sig) }
        let end = Date().addingTimeInterval(5)
        while p.isRunning && Date() < end { usleep(10_000) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
        processes[key] = nil
    }

    /// SIGKILL for keepalived -n, which is a parent and a VRRP child: the child first, then
    /// the parent (the child alone is respawned; the parent alone takes its child down
    /// cleanly, priority-0 advert included, which is not a crash).
    func killKeepalived(_ key: String) {
        let vpid = (try? String(contentsOfFile: path("\(key).vpid"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if let v = vpid.flatMap({ pid_t($0) }) { kill(v, SIGKILL) }
        stop(key, SIGKILL)
    }

    func log(_ key: String) -> String {
        (try? String(contentsOfFile: logs[key] ?? path("\(key).log"), encoding: .utf8)) ?? ""
    }

    func hasVIP(_ h: String, _ vip: String = Lab.vip) -> Bool {
        Lab.sh("ip -n \(ns(h)) -4 -o addr show dev eth0").out.contains(" \(vip)/")
    }

    func vipHolders(_ vip: String = Lab.vip) -> [String] { hosts.filter { hasVIP($0, vip) } }

    /// Poll (every 10 ms, bounded by `timeout`) until `cond` holds; the seconds it took.
    @discardableResult
    func waitUntil(_ timeout: Double, _ cond: () -> Bool) -> Double? {
        let start = Date()
        for _ in 0..<100_000 {
            if cond() { return Date().timeIntervalSince(start) }
            if Date().timeIntervalSince(start) > timeout { return nil }
            usleep(10_000)
        }
        return nil
    }

    func query(_ key: String, on h: String, _ cmd: String) -> String {
        Lab.sh("echo '\(cmd)' | ip netns exec \(ns(h)) socat -t 2 stdio UNIX-CONNECT:\(path("\(key).sock"))").out
    }

    func queryJSON(_ key: String, on h: String) -> [String: Any] {
        let text = query(key, on: h, "show json")
        return (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    func instance(_ key: String, on h: String, _ name: String = "VI_1") -> [String: Any] {
        let all = queryJSON(key, on: h)["instances"] as? [[String: Any]] ?? []
        return all.first { $0["name"] as? String == name } ?? [:]
    }

    func state(_ key: String, on h: String) -> String? { instance(key, on: h)["state"] as? String }

    /// Everything down: processes (SIGKILL after 5 s), namespaces, files.
    func tearDown(keepLogsOnFailure failed: Bool) {
        for k in Array(processes.keys) { stop(k) }
        Lab.cleanStale()
        if failed {
            for (k, p) in logs.sorted(by: { $0.key < $1.key }) {
                let text = (try? String(contentsOfFile: p, encoding: .utf8)) ?? ""
                print("---- \(k) log ----\n\(text.suffix(6000))")
            }
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    static func instanceConfig(name: String = "VI_1", state: String = "BACKUP", priority: Int, advert: String,
                               vrid: Int = 51, extra: String = "", vip: String = Lab.vip) -> String {
        """
        vrrp_instance \(name) {
          state \(state)
          interface eth0
          virtual_router_id \(vrid)
          priority \(priority)
          advert_int \(advert)
        \(extra)
          virtual_ipaddress {
            \(vip.contains("/") ? vip : vip + "/24")
          }
        }

        """
    }

    static func v3(_ body: String) -> String { "global_defs {\n  vrrp_version 3\n  vrrp_garp_master_delay 0\n}\n" + body }
    static func v2(_ body: String) -> String { "global_defs {\n  vrrp_garp_master_delay 0\n}\n" + body }
}

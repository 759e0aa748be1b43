import XCTest
import Foundation
@testable import VRRPCore

/// Who vrrpd's scripts run as, and what vrrpd keeps of root's powers: `script_user`,
/// `enable_script_security` (side by side with keepalived 2.2 on the same files) and the
/// capability limit of the VRRP child. Root only (namespaces).
final class ScriptPrivilegeSystemTests: XCTestCase {
    var lab: Lab?

    override func tearDown() {
        lab?.tearDown(keepLogsOnFailure: (testRun?.failureCount ?? 0) > 0)
        lab = nil
    }

    /// `Name:\tvalue` lines of /proc/PID/status.
    static func status(_ pid: String) -> [String: String] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        return ScriptPrivilegeSystemTests.fields(text)
    }

    static func fields(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            out[String(parts[0])] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return out
    }

    /// An executable root-owned script in the lab's directory (root's, mode 755).
    func script(_ lab: Lab, _ name: String, _ body: String, mode: Int = 0o755) -> String {
        let path = lab.write(name, "#!/bin/sh\n" + body + "\n")
        chmod(path, mode_t(mode))
        return path
    }

    /// With every script running as nobody, the VRRP child keeps uid 0 but only
    /// CAP_NET_ADMIN and CAP_NET_RAW effective (CAP_SETUID, CAP_SETGID and CAP_KILL
    /// permitted, for starting and timing out scripts), and still wins the election and
    /// holds the VIP; the script runs as nobody:nogroup with no capability at all, and a
    /// script that overruns its timeout is still killed.
    func testScriptsAsAnotherUserLeaveVrrpdOnlyNetworkCapabilities() throws {
        let lab = try Lab(hosts: ["a"])
        self.lab = lab
        let out = lab.path("out")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o777])
        let probe = script(lab, "probe.sh", "grep -E '^(Uid|Gid|Groups|CapEff|CapPrm|CapAmb):' /proc/self/status > \(out)/status.$$ && mv \(out)/status.$$ \(out)/status")
        let conf = """
        global_defs {
          vrrp_version 3
          script_user nobody
        }
        vrrp_script probe {
          script "\(probe)"
          interval 0.2
          weight 20
        }
        vrrp_script slow {
          script "/bin/sleep 30"
          interval 0.3
          timeout 0.2
          weight -5
        }

        """ + Lab.instanceConfig(priority: 100, advert: "0.1", extra: "  track_script {\n    probe\n    slow\n  }")
        try lab.startVrrpd("a", on: "a", config: conf)
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["a"] }, "vrrpd with limited capabilities did not take the VIP")
        XCTAssertNotNil(lab.waitUntil(3) { lab.instance("a", on: "a")["priority"] as? Int == 115 },
                        "the probe did not pass as nobody (+20) or the slow one did not time out (-5)")

        let child = (try? String(contentsOfFile: lab.path("a-vrrp.pid"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let vrrp = Self.status(child)
        XCTAssertEqual(vrrp["Uid"], "0\t0\t0\t0")
        XCTAssertEqual(vrrp["Threads"], "1", "capabilities are per thread: the VRRP child must have one")
        XCTAssertEqual(vrrp["CapEff"], String(format: "%016llx", CapabilityLimit.effective), "CAP_NET_ADMIN|CAP_NET_RAW")
        XCTAssertEqual(vrrp["CapEff"], "0000000000003000")
        XCTAssertEqual(vrrp["CapPrm"], "00000000000030e0")
        XCTAssertEqual(vrrp["CapBnd"], "00000000000030e0")
        XCTAssertTrue(lab.log("a").contains("Scripts run as another user: vrrpd keeps only CAP_NET_ADMIN and CAP_NET_RAW"))
        // The supervisor keeps root's set: it restarts the child and cleans up after it.
        let supervisor = lab.processes["a"].map { String($0.processIdentifier) } ?? ""
        XCTAssertEqual(Self.status(supervisor)["CapEff"], Self.status("self")["CapEff"])

        XCTAssertNotNil(lab.waitUntil(3) { FileManager.default.fileExists(atPath: out + "/status") })
        let seen = Self.fields((try? String(contentsOfFile: out + "/status", encoding: .utf8)) ?? "")
        XCTAssertEqual(seen["Uid"], "65534\t65534\t65534\t65534")
        XCTAssertEqual(seen["Gid"], "65534\t65534\t65534\t65534")
        XCTAssertEqual(seen["Groups"], "65534", "only the script's group, as keepalived")
        XCTAssertEqual(seen["CapEff"], "0000000000000000")
        XCTAssertEqual(seen["CapPrm"], "0000000000000000")
        XCTAssertEqual(seen["CapAmb"], "0000000000000000")

        // The sleeping script runs as nobody: killing it at its timeout needs CAP_KILL.
        XCTAssertNotNil(lab.waitUntil(3) { lab.log("a").contains("VRRP_Script(slow) timed out") })
        usleep(500_000)
        let sleeping = Lab.sh("ip netns pids \(lab.ns("a")) | xargs -r ps -o comm= -p | grep -c sleep").out
        XCTAssertLessThanOrEqual(Int(sleeping.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0, 1,
                                 "scripts that timed out were not killed")

        // What the limited child still does: a reload (SIGHUP) that changes the priority,
        // and its data file (SIGUSR1).
        _ = lab.write("a.conf", conf.replacingOccurrences(of: "priority 100", with: "priority 90"))
        lab.signal("a", SIGHUP)
        XCTAssertNotNil(lab.waitUntil(3) { lab.instance("a", on: "a")["priority"] as? Int == 105 }, "reloaded")
        XCTAssertTrue(lab.hasVIP("a"))
        lab.signal("a", SIGUSR1)
        XCTAssertNotNil(lab.waitUntil(3) { FileManager.default.fileExists(atPath: lab.path("a.data")) }, "data file written")
    }

    /// A script that runs as root keeps vrrpd's full set (as keepalived, which drops nothing).
    func testScriptsAsRootKeepEveryCapability() throws {
        let lab = try Lab(hosts: ["a"])
        self.lab = lab
        let conf = """
        vrrp_script ok {
          script "/bin/true"
          interval 0.3
        }

        """ + Lab.instanceConfig(priority: 100, advert: "0.1", extra: "  track_script {\n    ok\n  }")
        try lab.startVrrpd("a", on: "a", config: Lab.v3(conf))
        XCTAssertNotNil(lab.waitUntil(4) { lab.vipHolders() == ["a"] })
        let child = (try? String(contentsOfFile: lab.path("a-vrrp.pid"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let own = Self.status("self")
        XCTAssertEqual(Self.status(child)["CapEff"], own["CapEff"])
        XCTAssertFalse(lab.log("a").contains("keeps only CAP_NET_ADMIN"))
    }

    /// Scripts run as root that another user could change (world-writable, owned by
    /// nobody, in a world-writable directory, group-writable by a non-root group) are
    /// disabled with `enable_script_security` and reported without it, in keepalived
    /// 2.2's words: both daemons run on the same files and their lines must agree. Safe
    /// ones (root's 775, a root-owned directory inside sticky /tmp) run.
    func testEnableScriptSecurityRefusesScriptsOthersCouldChangeAsKeepalived() throws {
        let lab = try Lab(hosts: ["a", "k"])
        self.lab = lab
        let ran = lab.path("ran")
        try FileManager.default.createDirectory(atPath: ran, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o777])
        let open = lab.path("open")
        try FileManager.default.createDirectory(atPath: open, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o777])
        func body(_ name: String) -> String { "touch \(ran)/\(name).$1" }
        let scripts: [(String, String)] = [
            ("safe", script(lab, "safe.sh", body("safe"))),
            ("rootgroup", script(lab, "rootgroup.sh", body("rootgroup"), mode: 0o775)),
            ("world", script(lab, "world.sh", body("world"), mode: 0o777)),
            ("owned", script(lab, "owned.sh", body("owned"))),
            ("group", script(lab, "group.sh", body("group"), mode: 0o775)),
            ("indir", script(lab, "open/indir.sh", body("indir"))),
        ]
        XCTAssertEqual(chown(lab.path("owned.sh"), 65534, 0), 0)
        XCTAssertEqual(chown(lab.path("group.sh"), 0, 65534), 0)

        func config(secure: Bool, vrid: Int, tag: String) -> String {
            var text = "global_defs {\n  script_user root\n\(secure ? "  enable_script_security\n" : "")}\n"
            for (name, path) in scripts {
                text += "vrrp_script \(name) {\n  script \"\(path) \(tag)\"\n  interval 1\n}\n"
            }
            let tracks = "  track_script {\n" + scripts.map { "    \($0.0)\n" }.joined() + "  }"
            return text + Lab.instanceConfig(priority: 100, advert: "1", vrid: vrid, extra: tracks,
                                             vip: tag == "v" ? Lab.vip : "10.77.10.101")
        }
        /// Our lines and keepalived's, without their time stamps and prefixes.
        func securityLines(_ key: String) -> [String] {
            lab.log(key).split(separator: "\n").compactMap { line -> String? in
                let keys = ["Unsafe permissions", "Disabling track script", "SECURITY VIOLATION"]
                guard let start = keys.compactMap({ line.range(of: $0)?.lowerBound }).min() else { return nil }
                return String(line[start...])
            }.sorted()
        }

        for secure in [true, false] {
            try? FileManager.default.contentsOfDirectory(atPath: ran).forEach {
                try? FileManager.default.removeItem(atPath: ran + "/" + $0)
            }
            try lab.startVrrpd("v", on: "a", config: config(secure: secure, vrid: 51, tag: "v"))
            try lab.startKeepalived("k", on: "k", config: config(secure: secure, vrid: 52, tag: "k"))
            XCTAssertNotNil(lab.waitUntil(5) {
                FileManager.default.fileExists(atPath: ran + "/safe.v") && FileManager.default.fileExists(atPath: ran + "/safe.k")
                    && lab.log("v").contains("Startup complete")
                    && lab.log("k").contains("Startup complete")
            })
            usleep(1_500_000)   // every enabled script has had its first run in both
            lab.stop("v")
            lab.stop("k")
            let expected = secure
                ? ["Disabling track script group due to insecure", "Disabling track script indir due to insecure",
                   "Disabling track script owned due to insecure", "Disabling track script world due to insecure",
                   "Unsafe permissions found for script '\(lab.path("group.sh"))' - disabling.",
                   "Unsafe permissions found for script '\(lab.path("open/indir.sh"))' - disabling.",
                   "Unsafe permissions found for script '\(lab.path("owned.sh"))' - disabling.",
                   "Unsafe permissions found for script '\(lab.path("world.sh"))' - disabling."]
                : ["SECURITY VIOLATION - scripts are being executed but script_security not enabled. There are insecure scripts.",
                   "Unsafe permissions found for script '\(lab.path("group.sh"))'.",
                   "Unsafe permissions found for script '\(lab.path("open/indir.sh"))'.",
                   "Unsafe permissions found for script '\(lab.path("owned.sh"))'.",
                   "Unsafe permissions found for script '\(lab.path("world.sh"))'."]
            XCTAssertEqual(securityLines("k"), expected, "keepalived's lines (secure: \(secure))")
            XCTAssertEqual(securityLines("v"), expected, "vrrpd's lines (secure: \(secure))")
            let ranNames = Set((try? FileManager.default.contentsOfDirectory(atPath: ran)) ?? [])
            for tag in ["v", "k"] {
                let names = Set(ranNames.filter { $0.hasSuffix("." + tag) }.map { String($0.dropLast(2)) })
                XCTAssertEqual(names, secure ? ["safe", "rootgroup"] : Set(scripts.map(\.0)),
                               "scripts that ran in \(tag == "v" ? "vrrpd" : "keepalived") (secure: \(secure))")
            }
        }
    }

    /// `vrrpd -t` names what it would refuse, in the words of `keepalived -t` on the same file.
    func testConfigTestSaysWhatKeepalivedSays() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root to own the files") }
        guard let vrrpd = Lab.vrrpd else { throw XCTSkip("vrrpd is not built") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/keepalived") else { throw XCTSkip("no keepalived") }
        let dir = NSTemporaryDirectory() + "prv-t-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, mode) in [("safe.sh", 0o755), ("open.sh", 0o777)] {
            FileManager.default.createFile(atPath: dir + "/" + name, contents: Data("#!/bin/sh\n".utf8))
            chmod(dir + "/" + name, mode_t(mode))
        }
        func lines(_ program: String, secure: Bool) -> [String] {
            let conf = dir + "/t.conf"
            let text = "global_defs {\n  script_user root\n\(secure ? "  enable_script_security\n" : "")}\n"
                + "vrrp_script safe {\n  script \"\(dir)/safe.sh\"\n}\nvrrp_script open {\n  script \"\(dir)/open.sh\"\n}\n"
                + Lab.instanceConfig(priority: 100, advert: "1", extra: "  track_script {\n    safe\n    open\n  }")
            FileManager.default.createFile(atPath: conf, contents: Data(text.utf8))
            return Lab.sh("\(program) -t -f \(conf) 2>&1").out.split(separator: "\n").map(String.init)
                .filter { $0.contains("Disabling track script") || $0.contains("SECURITY VIOLATION") }
        }
        XCTAssertEqual(lines(vrrpd, secure: true), ["Disabling track script open due to insecure"])
        XCTAssertEqual(lines(vrrpd, secure: true), lines("/usr/sbin/keepalived", secure: true))
        XCTAssertEqual(lines(vrrpd, secure: false),
                       ["SECURITY VIOLATION - scripts are being executed but script_security not enabled. There are insecure scripts."])
        XCTAssertEqual(lines(vrrpd, secure: false), lines("/usr/sbin/keepalived", secure: false))
    }

    /// The check itself, on files made for it (root: the files must be root's).
    func testUnsafeMeansAnotherUserCouldChangeIt() throws {
        guard geteuid() == 0 else { throw XCTSkip("needs root to own the files") }
        let dir = NSTemporaryDirectory() + "prv-sec-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func file(_ name: String, _ mode: Int, uid: uid_t = 0, gid: gid_t = 0) -> String {
            let path = dir + "/" + name
            FileManager.default.createFile(atPath: path, contents: Data("#!/bin/sh\n".utf8))
            chmod(path, mode_t(mode))
            chown(path, uid, gid)
            return path
        }
        XCTAssertFalse(ScriptSecurity.isUnsafe(file("a", 0o755)), "root's, in a root directory in sticky /tmp")
        XCTAssertFalse(ScriptSecurity.isUnsafe(file("b", 0o775)), "writable by root's group only")
        XCTAssertTrue(ScriptSecurity.isUnsafe(file("c", 0o757)), "writable by everyone")
        XCTAssertTrue(ScriptSecurity.isUnsafe(file("d", 0o775, gid: 65534)), "writable by nogroup")
        XCTAssertTrue(ScriptSecurity.isUnsafe(file("e", 0o755, uid: 65534)), "owned by nobody")
        XCTAssertTrue(ScriptSecurity.isUnsafe(dir + "/missing"), "what cannot be examined is not trusted")
        // A symbolic link from a safe place to an unsafe file is as unsafe as the file.
        symlink(dir + "/c", dir + "/link")
        XCTAssertTrue(ScriptSecurity.isUnsafe(dir + "/link"))
        chmod(dir, 0o777)
        XCTAssertTrue(ScriptSecurity.isUnsafe(dir + "/a"), "a directory on the path others can write")
        chmod(dir, 0o1777)
        XCTAssertFalse(ScriptSecurity.isUnsafe(dir + "/a"), "sticky: others cannot replace root's file")
        XCTAssertEqual(ScriptSecurity.chain(of: "/usr/bin/true"), ["/usr/bin/true", "/usr/bin", "/usr", "/"])
    }
}

import Foundation
import XCTest

/// Runs the built `proxyd -c` as an operator would, on the broken-config corpus, on
/// directories and several `-f`, and on the lab's three configs; compares with
/// `haproxy -c` when HAProxy is installed.
final class CheckModeTests: XCTestCase {
    struct Run: Equatable, CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String
        var description: String { "exit \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)" }
    }

    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let corpus = repoRoot.appendingPathComponent("Tests/ProxyCoreTests/Fixtures/broken")

    /// `proxyd` next to the test bundle (`.build/debug/proxyd`; on Linux the bundle URL
    /// is that directory itself).
    static var proxyd: URL {
        let bundle = Bundle(for: CheckModeTests.self).bundleURL
        let candidates = [bundle.appendingPathComponent("proxyd"),
                          bundle.deletingLastPathComponent().appendingPathComponent("proxyd")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[1]
    }

    static func which(_ name: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin")
            .split(separator: ":") + ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
            let path = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    func run(_ executable: String, _ arguments: [String], in directory: URL? = nil,
             environment: [String: String]? = nil) throws -> Run {
        try Self.execute(executable, arguments, in: directory, environment: environment)
    }

    /// Runs a program to its end: exit status, stdout and stderr (other tests use it too).
    static func execute(_ executable: String, _ arguments: [String], in directory: URL? = nil,
                        environment: [String: String]? = nil) throws -> Run {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        if let environment { p.environment = environment }
        if let directory { p.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        try p.run()
        // stderr is read on another thread meanwhile: a child that fills one pipe while we
        // wait on the other would block us both.
        final class Collected: @unchecked Sendable { var data = Data() }
        let collected = Collected()
        let errDone = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            collected.data = err.fileHandleForReading.readDataToEndOfFile()
            errDone.signal()
        }
        let o = out.fileHandleForReading.readDataToEndOfFile()
        errDone.wait()  // the semaphore orders the write before this read
        let e = collected.data
        p.waitUntilExit()
        return Run(status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
                   stderr: String(decoding: e, as: UTF8.self))
    }

    /// HAProxy's stderr without the start-up notices, PIDs replaced: what we compare.
    static func normalized(_ r: Run) -> Run {
        let lines = r.stderr.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var kept: [String] = []
        for line in lines where !line.hasPrefix("[NOTICE]") {
            kept.append(line.replacingOccurrences(of: #"^(\[[A-Z]+\] +)\([0-9]+\)"#, with: "$1(PID)",
                                                  options: .regularExpression))
        }
        return Run(status: r.status, stdout: r.stdout, stderr: kept.joined(separator: "\n"))
    }

    static func golden(_ name: String) throws -> Run {
        let text = try String(contentsOf: corpus.appendingPathComponent(name + ".expected"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let first = lines.first, first.hasPrefix("exit: "), let status = Int32(first.dropFirst(6)),
              let e = lines.firstIndex(of: "stderr:"), let o = lines.firstIndex(of: "stdout:") else {
            throw NSError(domain: "golden", code: 1, userInfo: [NSLocalizedDescriptionKey: "bad golden file \(name)"])
        }
        let stderr = lines[(e + 1)..<o].map { $0 + "\n" }.joined()
        let stdout = lines[(o + 1)...].joined(separator: "\n")
        return Run(status: status, stdout: stdout, stderr: stderr)
    }

    static var corpusNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: corpus.path)) ?? [])
            .filter { $0.hasSuffix(".cfg") }.map { String($0.dropLast(4)) }.sorted()
    }

    static var divergent: Set<String> {
        let text = (try? String(contentsOf: corpus.appendingPathComponent("DIVERGENT"), encoding: .utf8)) ?? ""
        return Set(text.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .compactMap { $0.split(separator: ":").first.map(String.init) })
    }

    override func setUpWithError() throws {
        // `swift test` does not build executables the tests do not link: `swift build` first.
        XCTAssertTrue(FileManager.default.isExecutableFile(atPath: Self.proxyd.path),
                      "proxyd is not built at \(Self.proxyd.path): run `swift build` before `swift test`")
        continueAfterFailure = true
    }

    // MARK: The corpus

    func testBrokenConfigsGiveTheGoldenOutput() throws {
        let names = Self.corpusNames
        XCTAssertGreaterThan(names.count, 30)
        for name in names {
            let got = Self.normalized(try run(Self.proxyd.path, ["-c", "-f", name + ".cfg"], in: Self.corpus))
            XCTAssertEqual(got, try Self.golden(name), name)
        }
    }

    func testCorpusAgreesWithHAProxy() throws {
        guard let haproxy = Self.which("haproxy") else { throw XCTSkip("haproxy is not installed") }
        let divergent = Self.divergent
        XCTAssertFalse(divergent.isEmpty)
        var compared = 0
        for name in Self.corpusNames where !divergent.contains(name) {
            let theirs = Self.normalized(try run(haproxy, ["-c", "-f", name + ".cfg"], in: Self.corpus))
            let ours = Self.normalized(try run(Self.proxyd.path, ["-c", "-f", name + ".cfg"], in: Self.corpus))
            XCTAssertEqual(ours, theirs, "\(name) differs from haproxy -c")
            compared += 1
        }
        XCTAssertGreaterThan(compared, 30)
    }

    /// Fixtures/agreement/cases.txt: several hundred one-line variations (each keyword, good
    /// and bad) checked against `haproxy -c`.
    func testKeywordCasesAgreeWithHAProxy() throws {
        guard let haproxy = Self.which("haproxy") else { throw XCTSkip("haproxy is not installed") }
        let file = Self.corpus.deletingLastPathComponent().appendingPathComponent("agreement/cases.txt")
        let lines = try String(contentsOf: file, encoding: .utf8).split(separator: "\n").map(String.init)
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxyd-agree-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var compared = 0, differing = 0
        for (n, raw) in lines.enumerated() where !raw.isEmpty && !raw.hasPrefix("#") {
            let divergent = raw.hasPrefix("!")
            let body = divergent ? String(raw.dropFirst()) : raw
            guard let bar = body.firstIndex(of: "|") else { XCTFail("bad case line \(n + 1)"); continue }
            let section = String(body[..<bar])
            let line = String(body[body.index(after: bar)...])
                .replacingOccurrences(of: "\\n", with: "\n").replacingOccurrences(of: "\\t", with: "\t")
            let name = "case\(n + 1).cfg"
            try Self.agreementConfig(section, line).write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
            let ours = Self.normalized(try run(Self.proxyd.path, ["-c", "-f", name], in: dir))
            let theirs = Self.normalized(try run(haproxy, ["-c", "-f", name], in: dir))
            if divergent {
                if ours != theirs { differing += 1 }
            } else {
                XCTAssertEqual(ours, theirs, "cases.txt:\(n + 1): \(body)")
                compared += 1
            }
        }
        XCTAssertGreaterThan(compared, 300)
        XCTAssertGreaterThan(differing, 0, "lines marked '!' should still differ (else drop the mark)")
    }

    /// The small valid config a one-line case goes into (the keyword's section in context).
    static func agreementConfig(_ section: String, _ line: String) -> String {
        let head = "global\n\tlog /dev/log local0\n\ndefaults\n\tmode http\n\ttimeout connect 5s\n\ttimeout client 5s\n\ttimeout server 5s\n\n"
        let tail = "frontend f\n\tbind 127.0.0.1:18000\n\tdefault_backend b\n\nbackend b\n\tserver s 127.0.0.1:18001\n"
        switch section {
        case "global":
            return "global\n\t\(line)\n\ndefaults\n\tmode http\n\ttimeout connect 5s\n\ttimeout client 5s\n\ttimeout server 5s\n\n" + tail
        case "defaults":
            return head.replacingOccurrences(of: "\ttimeout server 5s\n", with: "\ttimeout server 5s\n\t\(line)\n") + tail
        case "frontend":
            return head + "frontend f\n\tbind 127.0.0.1:18000\n\t\(line)\n\tdefault_backend b\n\nbackend b\n\tserver s 127.0.0.1:18001\n"
        case "backend":
            return head + "frontend f\n\tbind 127.0.0.1:18000\n\tdefault_backend b\n\nbackend b\n\t\(line)\n\tserver s 127.0.0.1:18001\n"
        case "listen":
            return head + "listen l\n\tbind 127.0.0.1:18000\n\t\(line)\n\tserver s 127.0.0.1:18001\n"
        default:
            return line
        }
    }

    // MARK: Files, directories, flags

    func testDirectoryLoadsCfgFilesInLexicalOrderAndSeveralFiles() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxyd-dir-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // b.cfg refers to a backend defined in c.cfg; a.txt is not loaded (it would fail).
        try "defaults\n\ttimeout client 1s\n\ttimeout connect 1s\n\ttimeout server 1s\n"
            .write(to: dir.appendingPathComponent("a.cfg"), atomically: true, encoding: .utf8)
        try "frontend f\n\tbind 127.0.0.1:18080\n\tdefault_backend b\n"
            .write(to: dir.appendingPathComponent("b.cfg"), atomically: true, encoding: .utf8)
        try "backend b\n\tserver s 127.0.0.1:18081\n"
            .write(to: dir.appendingPathComponent("c.cfg"), atomically: true, encoding: .utf8)
        try "this is not a config\n".write(to: dir.appendingPathComponent("a.txt"), atomically: true, encoding: .utf8)
        let r = try run(Self.proxyd.path, ["-c", "-f", dir.path])
        XCTAssertEqual(r, Run(status: 0, stdout: "Configuration file is valid\n", stderr: ""))

        // Several -f in order: the defaults of the first file apply to the second.
        let r2 = try run(Self.proxyd.path, ["-c", "-f", dir.appendingPathComponent("a.cfg").path,
                                            "-f", dir.appendingPathComponent("b.cfg").path,
                                            "-f", dir.appendingPathComponent("c.cfg").path])
        XCTAssertEqual(r2.status, 0, r2.description)

        // Without the defaults: the missing-timeout warnings appear.
        let r3 = try run(Self.proxyd.path, ["-c", "-f", dir.appendingPathComponent("b.cfg").path,
                                            "-f", dir.appendingPathComponent("c.cfg").path])
        XCTAssertEqual(r3.status, 0)
        XCTAssertEqual(r3.stdout, "Warnings were found.\nConfiguration file is valid\n")
        XCTAssertTrue(r3.stderr.contains("[WARNING]  ("), r3.stderr)
        XCTAssertTrue(r3.stderr.hasPrefix("[NOTICE]   ("), r3.stderr)

        // -q: nothing printed, same status.
        let r4 = try run(Self.proxyd.path, ["-c", "-q", "-f", dir.appendingPathComponent("b.cfg").path])
        XCTAssertEqual(r4, Run(status: 1, stdout: "", stderr: ""))
    }

    func testIgnoreResolutionFailuresDisablesTheServer() throws {
        let ours = try run(Self.proxyd.path, ["-c", "-dr", "-f", "unresolvable-server.cfg"], in: Self.corpus)
        XCTAssertEqual(ours.status, 0)
        XCTAssertEqual(ours.stdout, "Warnings were found.\nConfiguration file is valid\n")
        XCTAssertTrue(ours.stderr.contains("[WARNING]  ("), ours.stderr)
        XCTAssertTrue(ours.stderr.contains(": config : [unresolvable-server.cfg:12] : 'server app/s1' : could not resolve address 'no-such-host.invalid', disabling server."),
                      ours.stderr)
        if let haproxy = Self.which("haproxy") {
            let theirs = try run(haproxy, ["-c", "-dr", "-f", "unresolvable-server.cfg"], in: Self.corpus)
            XCTAssertEqual(Self.normalized(ours), Self.normalized(theirs))
        }
    }

    /// Debian's own /etc/haproxy/haproxy.cfg (no proxy, but a stats socket) is valid.
    func testDebianDefaultHAProxyConfig() throws {
        let path = "/etc/haproxy/haproxy.cfg"
        guard FileManager.default.fileExists(atPath: path), let haproxy = Self.which("haproxy") else {
            throw XCTSkip("HAProxy's packaged configuration is not installed")
        }
        let ours = try run(Self.proxyd.path, ["-c", "-f", path])
        let theirs = try run(haproxy, ["-c", "-f", path])
        XCTAssertEqual(Self.normalized(ours), Self.normalized(theirs))
    }

    /// A 400,000-character unknown keyword (in global, in a frontend, as a bind option) is an
    /// error naming file:line, found as fast as a small file is checked: the suggestion is
    /// linear in the word (vrrpd's was quadratic). Same words as `haproxy -c` when installed.
    func testAHugeUnknownKeywordIsRefusedQuickly() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxyd-huge-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let word = String(repeating: "x", count: 400_000)
        let small = "defaults\n\ttimeout client 1s\n\ttimeout server 1s\n\ttimeout connect 1s\n"
        try ("global\n\tnbthread 1\n" + small + "frontend fe\n\tbind 127.0.0.1:18091\n").write(to: dir.appendingPathComponent("small.cfg"), atomically: true, encoding: .utf8)
        try ("global\n\t\(word) 1\n" + small + "frontend fe\n\tbind 127.0.0.1:18091 \(word)\n\t\(word) on\n")
            .write(to: dir.appendingPathComponent("huge.cfg"), atomically: true, encoding: .utf8)
        // Output goes through files: 1.2 MB of alerts would fill a pipe `run` reads in turn.
        func runToFiles(_ executable: String, _ name: String) throws -> Run {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: executable)
            p.arguments = ["-c", "-f", name]
            p.currentDirectoryURL = dir
            let outURL = dir.appendingPathComponent("\(name).out"), errURL = dir.appendingPathComponent("\(name).err")
            _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
            _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
            let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
            defer { try? out.close(); try? err.close() }
            p.standardOutput = out
            p.standardError = err
            p.standardInput = FileHandle.nullDevice
            try p.run()
            p.waitUntilExit()
            return Run(status: p.terminationStatus, stdout: try String(contentsOf: outURL, encoding: .utf8),
                       stderr: try String(contentsOf: errURL, encoding: .utf8))
        }
        func timed(_ name: String) throws -> (TimeInterval, Run) {
            let started = Date()
            let r = try runToFiles(Self.proxyd.path, name)
            return (Date().timeIntervalSince(started), r)
        }
        let (smallTime, valid) = try timed("small.cfg")
        XCTAssertEqual(valid.status, 0, valid.description)
        let (hugeTime, ours) = try timed("huge.cfg")
        XCTAssertEqual(ours.status, 1, String(ours.stderr.prefix(300)))
        for (line, what) in [(2, ""), (8, "'bind 127.0.0.1:18091' in section 'frontend': "), (9, "")] {
            XCTAssertTrue(ours.stderr.contains("parsing [huge.cfg:\(line)] : \(what)unknown keyword '\(word)'"),
                          "line \(line): \(ours.stderr.prefix(300))")
        }
        XCTAssertLessThan(hugeTime, smallTime + 1, "proxyd -c took \(hugeTime) s on the huge keywords, \(smallTime) s on a small file")
        if let haproxy = Self.which("haproxy") {
            let theirs = try runToFiles(haproxy, "huge.cfg")
            XCTAssertTrue(Self.normalized(ours) == Self.normalized(theirs), "differs from haproxy -c:\n\(ours.stderr.prefix(300))")
        }
    }

    func testMissingFileIsAnError() throws {
        let r = try run(Self.proxyd.path, ["-c", "-f", "/nonexistent/proxyd.cfg"])
        XCTAssertEqual(r.status, 1)
        XCTAssertTrue(r.stderr.contains(": config : Cannot open configuration file/directory /nonexistent/proxyd.cfg : No such file or directory"),
                      r.stderr)
        let usage = try run(Self.proxyd.path, ["-c"])
        XCTAssertEqual(usage.status, 1)
        XCTAssertTrue(usage.stderr.hasPrefix("Usage : proxyd"), usage.stderr)
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("proxyd-empty-\(getpid())")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        let none = try run(Self.proxyd.path, ["-c", "-f", empty.path])
        XCTAssertEqual(none.status, 1, "a folder without *.cfg gives no configuration: usage")
        XCTAssertTrue(none.stderr.hasPrefix("Usage : proxyd"), none.stderr)
    }

    /// `-cc EXPR` answers as `haproxy -cc`: exit 0 true, 1 false, 2 with the same alert.
    /// (`feature(LUA)` differs on purpose: proxyd has no Lua.)
    func testConditionFlagAgreesWithHAProxy() throws {
        let expressions = ["version_atleast(2.5)", "version_atleast(2.7)", "version_before(2.7)", "defined(PATH)",
                           "defined(PROXYD_SURELY_UNSET)", "feature(OPENSSL)", "streq(a,a)", "strneq(a,a)", "",
                           "0", "1 || 0 && 0", "!(1 && 0)", "bogus(1)", "(1", "streq(a)", "1 &&", "1 x"]
        var ours: [Run] = []
        for e in expressions { ours.append(try run(Self.proxyd.path, ["-cc", e])) }
        XCTAssertEqual(ours.map(\.status), [0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 2, 2, 2, 2, 2])
        guard let haproxy = Self.which("haproxy") else { throw XCTSkip("haproxy is not installed") }
        for (e, mine) in zip(expressions, ours) {
            let theirs = Self.normalized(try run(haproxy, ["-cc", e]))
            XCTAssertEqual(Self.normalized(mine).status, theirs.status, e)
            XCTAssertEqual(Self.normalized(mine).stderr, theirs.stderr, e)
        }
    }

    /// HAProxy's debug switches that test drivers pass are accepted.
    func testDebugSwitchesAreAccepted() throws {
        for switches in [["-dM"], ["-dM0x42,help"], ["-de", "-dp", "-dG", "-dR", "-dL"], ["-dKall"], ["-m", "512"],
                         ["-dS", "-dV", "-dD"]] {
            let r = try run(Self.proxyd.path, switches + ["-c", "-f", "condition-upper-or.cfg"], in: Self.corpus)
            XCTAssertEqual(r.status, 0, "\(switches): \(r)")
        }
        XCTAssertEqual(try run(Self.proxyd.path, ["-dX", "-c", "-f", "condition-upper-or.cfg"], in: Self.corpus).status, 1,
                       "an unknown switch is still an error")
    }

    /// scripts/compat (issue 15's count): a config both accept, one only HAProxy accepts
    /// (Lua stays refused), one both refuse; the totals and the exit status say so.
    func testCompatScriptCountsWhatProxydRefuses() throws {
        guard Self.which("haproxy") != nil else { throw XCTSkip("haproxy is not installed") }
        guard let python = Self.which("python3") else { throw XCTSkip("python3 is not installed") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("proxyd-compat-\(getpid())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let base = "defaults\n  mode http\n  timeout client 1s\n  timeout server 1s\n  timeout connect 1s\n"
        try (base + "frontend f\n  bind 127.0.0.1:18099\n  default_backend b\nbackend b\n  server s 127.0.0.1:8080/\n")
            .write(to: dir.appendingPathComponent("both.cfg"), atomically: true, encoding: .utf8)
        try "-- nothing\n".write(to: dir.appendingPathComponent("hello.lua"), atomically: true, encoding: .utf8)
        try ("global\n  lua-load hello.lua\n" + base)
            .write(to: dir.appendingPathComponent("lua.cfg"), atomically: true, encoding: .utf8)
        try (base + "backend b\n  server s 127.0.0.1:x\n")
            .write(to: dir.appendingPathComponent("neither.cfg"), atomically: true, encoding: .utf8)
        let script = Self.repoRoot.appendingPathComponent("scripts/compat").path
        let r = try run(python, [script, "--proxyd", Self.proxyd.path, "--all", dir.path])
        XCTAssertEqual(r.status, 1, "a config haproxy accepts is refused: \(r)")
        for total in ["configs                                  3", "haproxy accepts                          2",
                      "proxyd accepts those                     1", "proxyd refuses those                     1"] {
            XCTAssertTrue(r.stdout.contains(total), "\(total)\n\(r.stdout)")
        }
        XCTAssertTrue(r.stdout.contains("lua.cfg") && r.stdout.contains("<- differ"), r.stdout)
    }

    func testEnvironmentExpansion() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("proxyd-env-\(getpid()).cfg")
        try "defaults\n\ttimeout client 1s\nfrontend f\n\tbind \"${PROXYD_TEST_ADDR}:${PROXYD_TEST_PORT-18090}\"\n"
            .write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let good = try run(Self.proxyd.path, ["-c", "-f", file.path], environment: ["PROXYD_TEST_ADDR": "127.0.0.1"])
        XCTAssertEqual(good, Run(status: 0, stdout: "Configuration file is valid\n", stderr: ""))
        let bad = try run(Self.proxyd.path, ["-c", "-f", file.path], environment: ["PROXYD_TEST_ADDR": "1.2.3.4.5"])
        XCTAssertEqual(bad.status, 1)
        XCTAssertTrue(bad.stderr.contains("'bind' : invalid address: '1.2.3.4.5' in '1.2.3.4.5:18090'"), bad.stderr)
    }

    // MARK: The lab's configs

    /// The seed folder: $PROXYD_SEED_DIR, ../shared/seed next to the repository, or /work/shared/seed.
    static var seed: URL? {
        var candidates: [String] = []
        if let env = ProcessInfo.processInfo.environment["PROXYD_SEED_DIR"] { candidates.append(env) }
        candidates.append(repoRoot.deletingLastPathComponent().appendingPathComponent("shared/seed").path)
        candidates.append("/work/shared/seed")
        for c in candidates where FileManager.default.fileExists(atPath: c + "/conf/haproxy") {
            return URL(fileURLWithPath: c)
        }
        return nil
    }

    /// Makes what the lab's configs name exist (error pages, certificate, host names)
    /// for the time of `body`, then removes what it added. Needs root, as HAProxy would.
    func withLabEnvironment(_ configs: [URL], _ body: () throws -> Void) throws {
        guard getuid() == 0 else { throw XCTSkip("the lab configs name files under /etc: needs root") }
        guard getpwnam("haproxy") != nil, getgrnam("haproxy") != nil else {
            throw XCTSkip("the lab configs run as user/group 'haproxy' (apt-get install haproxy)")
        }
        let fm = FileManager.default
        var createdFiles: [String] = []
        var createdDirs: [String] = []
        var hostsBackup: Data? = nil
        defer {
            for f in createdFiles.reversed() { try? fm.removeItem(atPath: f) }
            for d in createdDirs.reversed() { try? fm.removeItem(atPath: d) }
            if let hostsBackup { try? hostsBackup.write(to: URL(fileURLWithPath: "/etc/hosts")) }
        }
        func makeDirs(_ dir: String) throws {
            var missing: [String] = []
            var d = dir
            while !fm.fileExists(atPath: d) && d != "/" {
                missing.append(d)
                d = (d as NSString).deletingLastPathComponent
            }
            for m in missing.reversed() {
                try fm.createDirectory(atPath: m, withIntermediateDirectories: false)
                createdDirs.append(m)
            }
        }
        var crtBase = "", errorfiles: Set<String> = [], certificates: Set<String> = [], hosts: Set<String> = []
        for config in configs {
            for line in try String(contentsOf: config, encoding: .utf8).split(separator: "\n") {
                let w = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                guard let k = w.first else { continue }
                if k == "crt-base", w.count > 1 { crtBase = w[1] }
                if k == "errorfile", w.count > 2 { errorfiles.insert(w[2]) }
                if let i = w.firstIndex(of: "crt"), i + 1 < w.count { certificates.insert(w[i + 1]) }
                if k == "server", w.count > 2, let host = w[2].split(separator: ":").first { hosts.insert(String(host)) }
            }
        }
        for path in errorfiles where !fm.fileExists(atPath: path) {
            try makeDirs((path as NSString).deletingLastPathComponent)
            let code = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
            try "HTTP/1.0 \(code) Error\r\nCache-Control: no-cache\r\nConnection: close\r\nContent-Type: text/html\r\n\r\n<html><body><h1>\(code)</h1></body></html>\n"
                .write(toFile: path, atomically: true, encoding: .utf8)
            createdFiles.append(path)
        }
        for name in certificates {
            let path = name.hasPrefix("/") ? name : crtBase + "/" + name
            guard !fm.fileExists(atPath: path) else { continue }
            guard let openssl = Self.which("openssl") else { throw XCTSkip("openssl is needed to make a test certificate") }
            try makeDirs((path as NSString).deletingLastPathComponent)
            let key = path + ".tmpkey", crt = path + ".tmpcrt"
            let r = try run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", crt,
                                      "-days", "2", "-subj", "/CN=proxyd-test"])
            XCTAssertEqual(r.status, 0, r.stderr)
            let pem = try Data(contentsOf: URL(fileURLWithPath: crt)) + Data(contentsOf: URL(fileURLWithPath: key))
            try pem.write(to: URL(fileURLWithPath: path))
            try? fm.removeItem(atPath: key)
            try? fm.removeItem(atPath: crt)
            createdFiles.append(path)
        }
        let unresolved = hosts.filter { h in
            var res: UnsafeMutablePointer<addrinfo>? = nil
            defer { if res != nil { freeaddrinfo(res) } }
            return getaddrinfo(h, nil, nil, &res) != 0
        }
        if !unresolved.isEmpty {
            let original = try Data(contentsOf: URL(fileURLWithPath: "/etc/hosts"))
            hostsBackup = original
            var text = String(decoding: original, as: UTF8.self)
            if !text.hasSuffix("\n") { text += "\n" }
            text += unresolved.sorted().map { "127.0.0.1 \($0)  # proxyd CheckModeTests, removed after the test\n" }.joined()
            try text.write(toFile: "/etc/hosts", atomically: false, encoding: .utf8)
        }
        try body()
    }

    func testLabConfigsAreValidAsWithHAProxy() throws {
        guard let seed = Self.seed else { throw XCTSkip("the lab's seed folder is not present") }
        let dir = seed.appendingPathComponent("conf/haproxy")
        let configs = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".conf") }.sorted().map { dir.appendingPathComponent($0) }
        XCTAssertEqual(configs.count, 3)
        try withLabEnvironment(configs) {
            let haproxy = Self.which("haproxy")
            for config in configs {
                let ours = try run(Self.proxyd.path, ["-c", "-f", config.path])
                XCTAssertEqual(ours, Run(status: 0, stdout: "Configuration file is valid\n", stderr: ""),
                               config.lastPathComponent)
                if let haproxy {
                    let theirs = try run(haproxy, ["-c", "-f", config.path])
                    XCTAssertEqual(Self.normalized(ours), Self.normalized(theirs), config.lastPathComponent)
                }
            }
        }
    }

    // MARK: Our sample configs (etc/proxyd)

    /// The samples name files under /etc/proxyd, the lab's host names (myweb1, myweb2) and
    /// the proxyd user: each is checked from a copy where /etc/proxyd is a temporary folder
    /// holding the repository's error pages and a generated certificate, the host names
    /// are localhost and the user is nobody (so the test needs neither root, nor an
    /// installed /etc/proxyd, nor the lab's network).
    func testSampleConfigsAreValid() throws {
        let fm = FileManager.default
        let etc = Self.repoRoot.appendingPathComponent("etc/proxyd")
        let samples = try fm.contentsOfDirectory(atPath: etc.path)
            .filter { $0.hasSuffix(".cfg") }.sorted()
            .map { etc.appendingPathComponent($0) }
        XCTAssertEqual(samples.map(\.lastPathComponent),
                       ["proxyd-normal.cfg", "proxyd-ssl-passthrough.cfg", "proxyd-ssl-termination.cfg", "proxyd.cfg"])
        guard let openssl = Self.which("openssl") else { throw XCTSkip("openssl is needed to make a test certificate") }
        let root = fm.temporaryDirectory.appendingPathComponent("proxyd-etc-\(getpid())")
        try fm.createDirectory(at: root.appendingPathComponent("ssl"), withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: root) }
        try fm.copyItem(at: etc.appendingPathComponent("errors"), to: root.appendingPathComponent("errors"))
        let key = root.appendingPathComponent("ssl/k.pem"), crt = root.appendingPathComponent("ssl/c.pem")
        let r = try run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key.path,
                                  "-out", crt.path, "-days", "2", "-subj", "/CN=proxyd-test"])
        XCTAssertEqual(r.status, 0, r.stderr)
        try (Data(contentsOf: crt) + Data(contentsOf: key)).write(to: root.appendingPathComponent("ssl/proxyd.pem"))
        let haproxy = Self.which("haproxy")
        for sample in samples {
            let text = try String(contentsOf: sample, encoding: .utf8)
            XCTAssertTrue(text.contains("/etc/proxyd/errors/"), sample.path)
            let copy = root.appendingPathComponent(sample.lastPathComponent)
            try text.replacingOccurrences(of: "/etc/proxyd", with: root.path)
                .replacingOccurrences(of: "myweb1:", with: "localhost:")
                .replacingOccurrences(of: "myweb2:", with: "localhost:")
                .replacingOccurrences(of: "user proxyd", with: "user nobody")
                .replacingOccurrences(of: "group proxyd", with: "group nogroup")
                .write(to: copy, atomically: true, encoding: .utf8)
            let ours = try run(Self.proxyd.path, ["-c", "-f", copy.path])
            XCTAssertEqual(ours, Run(status: 0, stdout: "Configuration file is valid\n", stderr: ""), sample.path)
            if let haproxy {
                let theirs = try run(haproxy, ["-c", "-f", copy.path])
                XCTAssertEqual(Self.normalized(ours), Self.normalized(theirs), sample.lastPathComponent)
            }
        }
    }
}

import XCTest
@testable import VRRPCore

/// Inputs that used to crash the parser (a trap kills `vrrpd -t`, and a running daemon on
/// SIGHUP) or make it spin: each must now be an error naming the file and line.
extension ConfigTests {
    func instanceWith(vips: String, extra: String = "") -> String {
        "vrrp_instance VI_1 {\n  interface eth0\n  virtual_router_id 51\n\(extra)  virtual_ipaddress {\n\(vips)\n  }\n}\n"
    }

    func testEmptyAndSlashOnlyVirtualAddressesAreErrorsNotTraps() {
        // Line 5 is the VIP line in instanceWith.
        let cases: [(String, String)] = [
            ("    \"\"", "(/etc/vrrpd/test.conf: Line 5) VRRP parsed invalid IP \"\" (an empty string). skipping IP..."),
            ("    /", "(/etc/vrrpd/test.conf: Line 5) VRRP parsed invalid IP /. skipping IP..."),
            ("    //", "(/etc/vrrpd/test.conf: Line 5) VRRP parsed invalid IP //. skipping IP..."),
            ("    10.77.0.1/", "(/etc/vrrpd/test.conf: Line 5) Invalid address prefix len  for address 10.77.0.1/ - using 32"),
            ("    \"\" dev eth0", "(/etc/vrrpd/test.conf: Line 5) VRRP parsed invalid IP \"\" (an empty string). skipping IP..."),
        ]
        for (vip, error) in cases {
            let (c, d) = parse(instanceWith(vips: vip))
            XCTAssertEqual(d.errors.map(\.description), [error], vip)
            XCTAssertTrue(c.instances[0].virtualAddresses.allSatisfy { $0.address != IPv4Address(0) }, vip)
        }
    }

    func testEmptyVirtualAddressOptionValuesAreErrors() {
        let (c, d) = parse(instanceWith(vips: "    10.77.0.1/24 dev \"\" label \"\""))
        XCTAssertEqual(d.errors.map(\.description), [
            "(/etc/vrrpd/test.conf: Line 5) 'dev' needs a value in virtual address 10.77.0.1/24",
            "(/etc/vrrpd/test.conf: Line 5) 'label' needs a value in virtual address 10.77.0.1/24",
        ])
        XCTAssertNil(c.instances[0].virtualAddresses.first?.device)
        XCTAssertNil(c.instances[0].virtualAddresses.first?.label)
    }

    func testEmptyNamesAreErrors() {
        let text = """
        global_defs {
          default_interface ""
        }
        vrrp_script "" {
          script /bin/true
        }
        vrrp_script blank {
          script "   "
        }
        vrrp_instance VI_1 {
          interface ""
          virtual_router_id 51
          notify_master ""
          notify "  "
          track_interface {
            ""
          }
          track_script {
            "" weight 2
          }
        }
        """
        let (_, d) = parse(text)
        XCTAssertEqual(d.errors.map(\.description), [
            "(/etc/vrrpd/test.conf: Line 4) 'vrrp_script' requires a name, not an empty string",
            "(/etc/vrrpd/test.conf: Line 7) VRRP_Script(blank) has no script",
            "(/etc/vrrpd/test.conf: Line 2) 'default_interface' requires an interface, not an empty string",
            "(/etc/vrrpd/test.conf: Line 11) 'interface' requires an interface name, not an empty string",
            "(/etc/vrrpd/test.conf: Line 13) 'notify_master' requires a script, not an empty string",
            "(/etc/vrrpd/test.conf: Line 14) 'notify' requires a script, not blanks",
            "(/etc/vrrpd/test.conf: Line 16) track_interface: an empty name is not an interface or a script",
            "(/etc/vrrpd/test.conf: Line 19) track_script: an empty name is not an interface or a script",
        ])
    }

    func testEmptyNumbersAndHugeNumbersAreErrors() {
        let text = """
        vrrp_instance VI_1 {
          interface eth0
          virtual_router_id ""
          priority 99999999999999999999999
          advert_int 1e400
          preempt_delay nan
        }
        """
        let (_, d) = parse(text)
        XCTAssertEqual(d.errors.map(\.description), [
            "(/etc/vrrpd/test.conf: Line 3) 'virtual_router_id' requires a number, not an empty string",
            "(/etc/vrrpd/test.conf: Line 4) invalid number '99999999999999999999999' for 'priority'",
            "(/etc/vrrpd/test.conf: Line 5) invalid number '1e400' for 'advert_int'",
            "(/etc/vrrpd/test.conf: Line 6) invalid number 'nan' for 'preempt_delay'",
            "(/etc/vrrpd/test.conf: Line 1) (VI_1) the virtual router id must be set",
        ])
    }

    /// The advert's address count is one byte: 256 VIPs would go out counted as 0.
    func testMoreThan255VirtualAddressesIsAnError() {
        let vips = (0..<256).map { "    10.78.\($0 / 250).\($0 % 250 + 1)" }.joined(separator: "\n")
        let (_, d) = parse(instanceWith(vips: vips))
        XCTAssertEqual(d.errors.map(\.description), [
            "(/etc/vrrpd/test.conf: Line 1) (VI_1) 256 virtual addresses: an advert carries at most 255 (move the rest to virtual_ipaddress_excluded)",
        ])
        let (_, ok) = parse(instanceWith(vips: (0..<255).map { "    10.78.0.\($0 + 1)" }.joined(separator: "\n")))
        XCTAssertEqual(ok.errors, [])
    }

    /// One recursion per brace level: 200,000 of them exhausted the stack (SIGSEGV).
    func testDeeplyNestedBracesAreAnErrorNotAStackOverflow() {
        let (_, d) = parse("vrrp_instance VI_1 " + String(repeating: "{ x ", count: 200_000) + "\n")
        XCTAssertTrue(d.errors.contains { $0.description == "(/etc/vrrpd/test.conf: Line 1) blocks nested more than 16 deep" },
                      "\(d.errors.prefix(3))")
        XCTAssertLessThan(d.errors.count, 100)
    }

    /// Files that include each other (`include *.conf` in every file of a directory) used to
    /// multiply up to the depth bound: 10 files were 10^8 inclusions.
    func testIncludeLoopsAndRepeatsAreErrors() {
        var files: [String: String] = [:]
        for n in 0..<10 { files["/etc/vrrpd/\(n).conf"] = "include *.conf\n" }
        let (_, d) = ConfigParser.parse(file: "/etc/vrrpd/0.conf", source: MemoryFiles(files: files))
        XCTAssertTrue(d.errors.contains { $0.description == "(/etc/vrrpd/0.conf: Line 1) include '*.conf' loops: /etc/vrrpd/0.conf is already being read" },
                      "\(d.errors.prefix(3))")
        XCTAssertTrue(d.errors.contains { $0.description == "(/etc/vrrpd/0.conf: Line 1) include '*.conf': /etc/vrrpd/2.conf is already included" },
                      "\(d.errors.prefix(3))")
        // Each file is read once: ten files, fewer than ten errors each.
        XCTAssertLessThan(d.errors.count, 100)
    }

    /// `include /dev/zero` (or -f on it) read until memory ran out.
    func testEndlessFilesAreRefusedNotReadForever() {
        XCTAssertNil(DiskFileSource().read("/dev/zero"))
        let (_, d) = ConfigParser.parse(text: "include /dev/zero\n", file: "/etc/vrrpd/test.conf")
        XCTAssertEqual(d.errors.map(\.description), ["(/etc/vrrpd/test.conf: Line 1) cannot read included file '/dev/zero'"])
    }

    /// A 400,000-character unknown keyword took 3 s and ~120 MB to check: the did-you-mean
    /// edit distance filled a word × keyword table against every keyword (keepalived: 0.01 s).
    /// Only keywords near the word's length are compared now; short typos still get one.
    func testAHugeUnknownKeywordIsRefusedQuickly() throws {
        let word = String(repeating: "x", count: 400_000)
        let started = Date()
        let (_, d) = parse("global_defs {\n  router_id a\n}\n\(word) 1\nvrrp_instance VI_1 {\n  priorty 100\n}\n")
        let elapsed = Date().timeIntervalSince(started)
        let errors = d.errors.map(\.description).filter { $0.contains("Unknown keyword") }
        XCTAssertEqual(errors.count, 2, "\(errors.map { $0.prefix(100) })")
        XCTAssertTrue(errors.first == "(/etc/vrrpd/test.conf: Line 4) Unknown keyword '\(word)'", "\(errors.first?.prefix(100) ?? "")")
        XCTAssertTrue(errors.last?.hasPrefix("(/etc/vrrpd/test.conf: Line 6) Unknown keyword 'priorty' - did you mean 'priority'?") == true,
                      errors.last ?? "")
        XCTAssertLessThan(elapsed, 1, "parsing took \(elapsed) s")
        XCTAssertEqual(ConfigParser.didYouMean(word, ["priority", "virtual_router_id"]), nil)
        XCTAssertEqual(ConfigParser.didYouMean("virtual_router_idd", ["priority", "virtual_router_id"]), "virtual_router_id")

        // The daemon's own check, as an operator runs it; against the time it takes to check
        // a small file, so that a busy machine does not make it fail.
        guard let vrrpd = Lab.vrrpd else { throw XCTSkip("vrrpd is not built") }
        let dir = NSTemporaryDirectory() + "vrrpt-huge-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "global_defs {\n  router_id a\n}\n".write(toFile: dir + "/small.conf", atomically: true, encoding: .utf8)
        try "global_defs {\n  router_id a\n}\n\(word) 1\n".write(toFile: dir + "/huge.conf", atomically: true, encoding: .utf8)
        func timed(_ file: String) -> (TimeInterval, (status: Int32, out: String)) {
            let t0 = Date()
            let r = Lab.sh("\(vrrpd) -t -f \(dir)/\(file)")
            return (Date().timeIntervalSince(t0), r)
        }
        let (small, _) = timed("small.conf")
        let (huge, r) = timed("huge.conf")
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.out.hasPrefix("(\(dir)/huge.conf: Line 4) Unknown keyword 'xxxxxxxx"), String(r.out.prefix(200)))
        XCTAssertLessThan(huge, small + 1, "vrrpd -t took \(huge) s on the huge keyword, \(small) s on a small file")
    }
}

import XCTest
@testable import VRRPCore

/// In-memory files for include tests.
struct MemoryFiles: ConfigFileSource {
    var files: [String: String]
    func read(_ path: String) -> String? { files[path] }
    func glob(_ pattern: String) -> [String] {
        if !pattern.contains("*") { return files[pattern] != nil ? [pattern] : [] }
        let parts = pattern.split(separator: "*", maxSplits: 1).map(String.init)
        return files.keys.filter { $0.hasPrefix(parts[0]) && $0.hasSuffix(parts.count > 1 ? parts[1] : "") }.sorted()
    }
}

final class ConfigTests: XCTestCase {
    /// The lab's keepalived-master.conf, with the VIP filled in as the lab's README says.
    static let labMaster = """
    vrrp_script chk_haproxy {
      script "pgrep haproxy"
      interval 2
      weight 2
    }

    vrrp_instance VI_1 {
      state MASTER
      interface eth0
      virtual_router_id 51
      priority 101
      advert_int 1
      virtual_ipaddress {
        10.77.0.100
      }
      track_script {
        chk_haproxy
      }
    }
    """

    func parse(_ text: String) -> (VRRPConfig, Diagnostics) {
        ConfigParser.parse(text: text, file: "/etc/vrrpd/test.conf", source: MemoryFiles(files: [:]))
    }

    func testLabMasterConfig() {
        let (c, d) = parse(Self.labMaster)
        XCTAssertEqual(d.items, [])
        XCTAssertEqual(c.scripts.count, 1)
        XCTAssertEqual(c.scripts[0].argv, ["pgrep", "haproxy"])
        XCTAssertEqual(c.scripts[0].interval, 2)
        XCTAssertEqual(c.scripts[0].weight, 2)
        let i = c.instances[0]
        XCTAssertEqual(i.name, "VI_1")
        XCTAssertEqual(i.initialState, .master)
        XCTAssertEqual(i.interface, "eth0")
        XCTAssertEqual(i.vrid, 51)
        XCTAssertEqual(i.priority, 101)
        XCTAssertEqual(i.advertCentiseconds(c.global), 100)
        XCTAssertEqual(i.virtualAddresses, [VirtualAddress(address: IPv4Address("10.77.0.100")!)])
        XCTAssertEqual(i.trackScripts, [TrackRef(name: "chk_haproxy")])
        XCTAssertEqual(c.global.vrrpVersion, 2)
    }

    func testEverySupportedKeyword() {
        let text = """
        ! a comment
        global_defs {
          router_id lb1   # trailing comment
          vrrp_version 3
          vrrp_mcast_group4 224.0.0.19
          vrrp_garp_master_delay 2
          vrrp_garp_master_repeat 3
          vrrp_garp_master_refresh 30
          vrrp_garp_lower_prio_repeat 2
          vrrp_skip_check_adv_addr
          script_user nobody nogroup
          enable_script_security
          vrrp_startup_delay 1.5
        }
        vrrp_script chk {
          script "/bin/sh -c 'exit 0'"
          interval 0.5
          timeout 0.2
          weight -10 reverse
          rise 3
          fall 2
          user daemon
          init_fail
        }
        vrrp_instance VI_2 {
          state BACKUP
          interface veth1
          virtual_router_id 7
          priority 90
          advert_int 0.1
          nopreempt
          preempt_delay 4
          unicast_src_ip 10.77.0.1
          unicast_peer {
            10.77.0.2
            10.77.0.3
          }
          virtual_ipaddress {
            10.77.0.100/24 brd 10.77.0.255 dev veth1 scope global label veth1:vip
            10.77.0.101
          }
          virtual_ipaddress_excluded {
            10.77.9.1/32
          }
          track_interface {
            veth2 weight -5
            veth3
          }
          track_script {
            chk weight 20
          }
          notify_master "/usr/local/bin/up.sh master" root
          notify_backup /usr/local/bin/down.sh
          notify_fault /usr/local/bin/fault.sh
          notify_stop /usr/local/bin/stop.sh
          notify /usr/local/bin/notify.sh
          garp_master_delay 1
          version 3
        }
        vrrp_sync_group G1 {
          group {
            VI_2
          }
          notify_master /usr/local/bin/g.sh
        }
        """
        let (c, d) = parse(text)
        XCTAssertEqual(d.errors, [])
        XCTAssertEqual(c.global.routerID, "lb1")
        XCTAssertEqual(c.global.vrrpVersion, 3)
        XCTAssertEqual(c.global.mcastGroup4, IPv4Address("224.0.0.19"))
        XCTAssertEqual(c.global.garpMasterDelay, 2)
        XCTAssertEqual(c.global.garpMasterRepeat, 3)
        XCTAssertEqual(c.global.garpMasterRefresh, 30)
        XCTAssertEqual(c.global.garpLowerPrioRepeat, 2)
        XCTAssertTrue(c.global.skipCheckAdvAddr)
        XCTAssertEqual(c.global.scriptUser, "nobody")
        XCTAssertEqual(c.global.scriptGroup, "nogroup")
        XCTAssertTrue(c.global.enableScriptSecurity)
        XCTAssertEqual(c.global.startupDelay, 1.5)
        let s = c.scripts[0]
        XCTAssertEqual(s.argv, ["/bin/sh", "-c", "exit 0"])
        XCTAssertEqual(s.interval, 0.5)
        XCTAssertEqual(s.effectiveTimeout, 0.2)
        XCTAssertEqual(s.weight, -10)
        XCTAssertTrue(s.weightReverse)
        XCTAssertEqual(s.rise, 3)
        XCTAssertEqual(s.fall, 2)
        XCTAssertEqual(s.user, "daemon")
        XCTAssertTrue(s.initFail)
        let i = c.instances[0]
        XCTAssertEqual(i.advertCentiseconds(c.global), 10)
        XCTAssertTrue(i.nopreempt)
        XCTAssertEqual(i.preemptDelay, 4)
        XCTAssertEqual(i.unicastSource, IPv4Address("10.77.0.1"))
        XCTAssertEqual(i.unicastPeers.map(\.description), ["10.77.0.2", "10.77.0.3"])
        XCTAssertEqual(i.virtualAddresses[0].description, "10.77.0.100/24 brd 10.77.0.255 dev veth1 scope global label veth1:vip")
        XCTAssertEqual(i.virtualAddresses[1].prefixLength, 32)
        XCTAssertEqual(i.excludedAddresses.count, 1)
        XCTAssertEqual(i.trackInterfaces, [TrackRef(name: "veth2", weight: -5), TrackRef(name: "veth3")])
        XCTAssertEqual(i.trackScripts, [TrackRef(name: "chk", weight: 20)])
        XCTAssertEqual(i.notify.master?.argv, ["/usr/local/bin/up.sh", "master"])
        XCTAssertEqual(i.notify.master?.user, "root")
        XCTAssertEqual(i.notify.backup?.command, "/usr/local/bin/down.sh")
        XCTAssertNotNil(i.notify.fault); XCTAssertNotNil(i.notify.stop); XCTAssertNotNil(i.notify.generic)
        XCTAssertEqual(i.garpMasterDelay, 1)
        XCTAssertEqual(c.syncGroups[0].members, ["VI_2"])
        XCTAssertNotNil(c.syncGroups[0].notify.master)
    }

    func testErrorsNameFileAndLineAsKeepalivedDoes() {
        let text = """
        global_defs {
          vrrp_versoin 3
        }
        vrrp_instance VI_1 {
          state MASTRE
          interface eth0
          virtual_router_id 300
          priority 101
          virtual_ipaddress {
            10.77.1.100/33
            10.77.1.x
          }
        }
        """
        let (_, d) = parse(text)
        let lines = d.errors.map(\.description)
        XCTAssertEqual(lines, [
            "(/etc/vrrpd/test.conf: Line 2) Unknown keyword 'vrrp_versoin' - did you mean 'vrrp_version'? in global_defs",
            "(/etc/vrrpd/test.conf: Line 5) (VI_1) unknown state 'MASTRE', defaulting to BACKUP - expected MASTER or BACKUP",
            "(/etc/vrrpd/test.conf: Line 7) (VI_1): VRID '300' not valid - must be between 1 & 255",
            "(/etc/vrrpd/test.conf: Line 10) Invalid address prefix len 33 for address 10.77.1.100/33 - using 32",
            "(/etc/vrrpd/test.conf: Line 11) VRRP parsed invalid IP 10.77.1.x. skipping IP...",
            "(/etc/vrrpd/test.conf: Line 4) (VI_1) the virtual router id must be set",
        ])
    }

    func testKeepalivedKeywordsWeDoNotSupportAreWarnedByName() {
        let text = """
        global_defs {
          smtp_server 10.77.0.9
        }
        vrrp_instance VI_1 {
          interface eth0
          virtual_router_id 5
          use_vmac
          virtual_ipaddress {
            10.77.1.100
          }
        }
        virtual_server 10.77.1.100 80 {
          delay_loop 6
        }
        """
        let (_, d) = parse(text)
        XCTAssertEqual(d.errors, [])
        let w = d.warnings.map(\.description)
        XCTAssertTrue(w.contains("(/etc/vrrpd/test.conf: Line 2) keyword 'smtp_server' is valid for keepalived but not supported by vrrpd; ignored"), "\(w)")
        XCTAssertTrue(w.contains("(/etc/vrrpd/test.conf: Line 7) keyword 'use_vmac' is valid for keepalived but not supported by vrrpd; ignored"), "\(w)")
        XCTAssertTrue(w.contains { $0.contains("Line 12") && $0.contains("'virtual_server'") }, "\(w)")
    }

    func testStructuralErrors() {
        let (_, d1) = parse("vrrp_instance VI_1 {\n  interface eth0\n")
        XCTAssertEqual(d1.errors.first?.description, "(/etc/vrrpd/test.conf: Line 1) missing '}' for the block opened here")
        let (_, d2) = parse("}\n")
        XCTAssertEqual(d2.errors.first?.description, "(/etc/vrrpd/test.conf: Line 1) unexpected '}' without a matching '{'")
        let (_, d3) = parse("vrrp_script s {\n script \"/bin/true\n}\n")
        XCTAssertTrue(d3.errors.contains { $0.description == "(/etc/vrrpd/test.conf: Line 2) missing closing quote" })
        let (_, d4) = parse("vrrp_instance VI_1 {\n virtual_router_id 1\n priority 0\n advert_int x\n}\n")
        XCTAssertEqual(d4.errors.map(\.description), [
            "(/etc/vrrpd/test.conf: Line 3) number '0' outside range [1, 255]",
            "(/etc/vrrpd/test.conf: Line 4) invalid number 'x' for 'advert_int'",
        ])
    }

    func testBraceOnNextLineAndOneLineBlocks() {
        let (c, d) = parse("vrrp_instance VI_1\n{\n virtual_router_id 9\n interface eth0\n virtual_ipaddress { 10.77.0.5 }\n authentication { auth_type PASS\n auth_pass abc }\n}\n")
        XCTAssertEqual(d.errors, [])
        XCTAssertEqual(c.instances.first?.vrid, 9)
        XCTAssertEqual(c.instances.first?.virtualAddresses.count, 1)
        XCTAssertEqual(c.instances.first?.authPass, "abc")
    }

    func testIncludeWithGlobRelativeToTheIncludingFile() {
        let files = MemoryFiles(files: [
            "/etc/vrrpd/main.conf": "include conf.d/*.conf\nvrrp_instance VI_1 {\n interface eth0\n virtual_router_id 1\n track_script {\n  a\n  b\n }\n}\n",
            "/etc/vrrpd/conf.d/a.conf": "vrrp_script a {\n script /bin/true\n}\n",
            "/etc/vrrpd/conf.d/b.conf": "vrrp_script b {\n script /bin/false\n bogus 1\n}\n",
        ])
        let (c, d) = ConfigParser.parse(file: "/etc/vrrpd/main.conf", source: files)
        XCTAssertEqual(c.scripts.map(\.name), ["a", "b"])
        XCTAssertEqual(c.instances.first?.trackScripts.map(\.name), ["a", "b"])
        XCTAssertEqual(d.errors.map(\.description), ["(/etc/vrrpd/conf.d/b.conf: Line 3) Unknown keyword 'bogus' in vrrp_script"])
    }

    func testSemanticChecks() {
        let text = """
        vrrp_instance A {
          interface eth0
          virtual_router_id 1
          track_script {
            missing
          }
          virtual_ipaddress {
            10.77.0.1
          }
        }
        vrrp_instance B {
          interface eth0
          virtual_router_id 1
          version 3
          advert_int 50
          authentication {
            auth_type PASS
            auth_pass longerthan8
          }
        }
        vrrp_sync_group G {
          group {
            A C
          }
        }
        """
        let (c, d) = parse(text)
        let all = d.items.map(\.description)
        XCTAssertTrue(all.contains("(/etc/vrrpd/test.conf: Line 1) (A) track script missing not found, ignoring..."), "\(all)")
        XCTAssertTrue(all.contains("(/etc/vrrpd/test.conf: Line 11) (B) VRID 1 is already used by A on eth0"), "\(all)")
        XCTAssertTrue(all.contains("(/etc/vrrpd/test.conf: Line 11) (B) VRRPv3 advert_int 50 is above 40.95 seconds"), "\(all)")
        XCTAssertTrue(all.contains("(/etc/vrrpd/test.conf: Line 11) (B) VRRP version 3 does not support authentication. Ignoring."), "\(all)")
        XCTAssertTrue(all.contains("(/etc/vrrpd/test.conf: Line 21) vrrp_sync_group G: unknown vrrp_instance 'C'"), "\(all)")
        XCTAssertEqual(c.instances[0].trackScripts, [])
    }

    func testDumpShowsTheParsedValues() {
        let (c, _) = parse(Self.labMaster)
        let dump = ConfigDump.render(c)
        XCTAssertTrue(dump.contains(" VRRP Instance = VI_1"))
        XCTAssertTrue(dump.contains("   Virtual Router ID = 51"))
        XCTAssertTrue(dump.contains("   Priority = 101"))
        XCTAssertTrue(dump.contains("   Advert interval = 1 sec"))
        XCTAssertTrue(dump.contains("     10.77.0.100/32 dev eth0 scope global"))
        XCTAssertTrue(dump.contains("     chk_haproxy weight 2"))
        XCTAssertTrue(dump.contains("   Command = 'pgrep' 'haproxy'"))
    }

    func testScriptCommandSplitting() {
        XCTAssertEqual(ScriptCommand.split("a  b\t'c d' \"e f\"g"), ["a", "b", "c d", "e fg"])
        XCTAssertEqual(ScriptCommand.split("sh -c 'echo \"show info\" | socat stdio UNIX-CONNECT:/x'"),
                       ["sh", "-c", "echo \"show info\" | socat stdio UNIX-CONNECT:/x"])
        XCTAssertEqual(ScriptCommand.split(""), [])
    }

    /// The sample configs shipped in etc/vrrpd parse without errors or warnings once the
    /// VIP is filled in (as scripts/lab and docker/lb/entrypoint.sh do), and are refused
    /// with the line to edit until then.
    func testShippedSampleConfigs() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        for role in ["master", "backup"] {
            let path = root.appendingPathComponent("etc/vrrpd/keepalived-\(role).conf").path
            let (_, asShipped) = ConfigParser.parse(file: path)
            let placeholderLine = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                .firstIndex { $0.trimmingCharacters(in: .whitespaces) == "<your_virtual_ip>" }.map { $0 + 1 }
            XCTAssertNotNil(placeholderLine, "\(path) has no <your_virtual_ip> line")
            XCTAssertEqual(asShipped.errors.map(\.description),
                           ["(\(path): Line \(placeholderLine ?? 0)) replace <your_virtual_ip> with your virtual IP address (an unused address of the interface's subnet)"])
            let filled = try String(contentsOfFile: path, encoding: .utf8).replacingOccurrences(of: "<your_virtual_ip>", with: "10.77.0.6")
            let (c, d) = ConfigParser.parse(text: filled, file: path, source: DiskFileSource())
            XCTAssertEqual(d.items.map(\.description), [], path)
            XCTAssertEqual(c.instances.first?.virtualAddresses.map(\.address.description), ["10.77.0.6"])
            XCTAssertEqual(c.instances.first?.priority, role == "master" ? 101 : 100)
            XCTAssertEqual(c.proxydTrackers.first?.socket, "/run/proxyd/admin.sock")
            XCTAssertEqual(c.instances.first?.trackProxyd.map(\.name), ["proxyd"])
        }
    }

    func testScriptResolutionGivesTheReason() throws {
        let dir = NSTemporaryDirectory() + "vrrpt-resolve-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let plain = dir + "/plain.sh"
        _ = FileManager.default.createFile(atPath: plain, contents: Data("#!/bin/sh\n".utf8))
        chmod(plain, 0o644)
        XCTAssertEqual(ScriptSpawner.resolve([plain]), .failed("script '\(plain)' is not executable"))
        XCTAssertEqual(ScriptSpawner.resolve([dir]), .failed("script '\(dir)' is not a regular file"))
        XCTAssertEqual(ScriptSpawner.resolve([dir + "/none"]), .failed("script '\(dir)/none' not found"))
        chmod(plain, 0o755)
        XCTAssertEqual(ScriptSpawner.resolve([plain, "arg"]), .ok(plain))
        if case .ok(let p) = ScriptSpawner.resolve(["sh"]) { XCTAssertTrue(p.hasSuffix("/sh")) } else { XCTFail("sh not found in PATH") }
        if case .failed(let why) = ScriptSpawner.resolve(["no-such-command-vrrpt"]) {
            XCTAssertTrue(why.hasPrefix("script 'no-such-command-vrrpt' not found in "), why)
        } else { XCTFail() }
    }

    func testDidYouMean() {
        XCTAssertEqual(ConfigParser.editDistance("priorty", "priority"), 1)
        XCTAssertEqual(ConfigParser.editDistance("vrrp_versoin", "vrrp_version"), 1)
        XCTAssertEqual(ConfigParser.editDistance("abc", "abc"), 0)
        XCTAssertEqual(ConfigParser.editDistance("", "ab"), 2)
        XCTAssertEqual(ConfigParser.didYouMean("virtual_router", ["virtual_router_id", "priority"]), "virtual_router_id")
        XCTAssertNil(ConfigParser.didYouMean("zzzzzz", ["virtual_router_id", "priority"]))
    }
}

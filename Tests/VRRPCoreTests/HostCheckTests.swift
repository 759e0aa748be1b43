import Foundation
import XCTest
@testable import VRRPCore

/// The configuration against the host (issue 11, item 4): a missing interface warns in
/// keepalived 2.2's words, a VIP outside every subnet of its interface warns with its line.
final class HostCheckTests: XCTestCase {
    static let conf = """
        vrrp_instance VI_1 {
          interface eth0
          virtual_router_id 51
          virtual_ipaddress {
            10.77.0.6
            10.88.0.6/24
            10.77.1.6 dev eth1
          }
        }
        """

    func diagnose(_ interfaces: [String: [HostCheck.Subnet]]) -> [String] {
        let (config, parsed) = ConfigParser.parse(text: Self.conf, file: "/etc/vrrpd/k.conf", source: MemoryFiles(files: [:]))
        XCTAssertEqual(parsed.items.map(\.description), [])
        return HostCheck.diagnose(config, interfaces: interfaces).items.map(\.description)
    }

    func subnet(_ text: String) -> HostCheck.Subnet {
        let parts = text.split(separator: "/")
        return HostCheck.Subnet(address: IPv4Address(String(parts[0]))!, prefixLength: Int(parts[1])!)
    }

    func testMissingInterfaceWarnsAsKeepalivedDoes() {
        XCTAssertEqual(diagnose(["lo": [subnet("127.0.0.1/8")]]), [
            "(/etc/vrrpd/k.conf: Line 2) WARNING - interface eth0 for vrrp_instance VI_1 doesn't exist",
            "Non-existent interface specified in configuration",
        ])
    }

    func testVIPOutsideEverySubnetWarnsWithItsLine() {
        XCTAssertEqual(diagnose(["eth0": [subnet("10.77.0.4/24"), subnet("192.168.5.1/16")], "eth1": [subnet("10.77.1.1/29")]]), [
            "(/etc/vrrpd/k.conf: Line 6) (VI_1) virtual address 10.88.0.6 is outside every subnet of eth0 (10.77.0.4/24, 192.168.5.1/16): hosts there will not find it",
        ])
        XCTAssertEqual(diagnose(["eth0": [subnet("10.0.0.1/8")], "eth1": []]), [
            "(/etc/vrrpd/k.conf: Line 7) (VI_1) virtual address 10.77.1.6: eth1 has no IPv4 address, so no subnet it belongs to",
        ])
        XCTAssertEqual(diagnose(["eth0": [subnet("10.0.0.1/8")]]), [
            "(/etc/vrrpd/k.conf: Line 7) (VI_1) interface eth1 for virtual address 10.77.1.6 doesn't exist",
            "Non-existent interface specified in configuration",
        ])
        XCTAssertEqual(diagnose(["eth0": [subnet("0.0.0.0/0")], "eth1": [subnet("10.77.1.7/32"), subnet("10.77.1.0/24")]]), [])
    }

    /// `vrrpd -t` itself, in a network namespace of its own (only `lo`, 127.0.0.1/8): both
    /// warnings with their lines, exit 0 (warnings do not fail the check); the placeholder
    /// is an error (exit 5) naming its line.
    func testConfigTestWarnsAboutThisHost() throws {
        guard let bin = Lab.vrrpd else { throw XCTSkip("vrrpd binary not built") }
        guard geteuid() == 0 else { throw XCTSkip("a network namespace of its own needs root") }
        let dir = NSTemporaryDirectory() + "pkt\(getpid())-hostcheck"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let conf = dir + "/k.conf"
        try Self.conf.replacingOccurrences(of: "interface eth0", with: "interface lo")
            .replacingOccurrences(of: " dev eth1", with: " dev pkt0")
            .write(toFile: conf, atomically: true, encoding: .utf8)
        let r = Lab.sh("unshare --net sh -c 'ip link set lo up && \(bin) -t -f \(conf)'")
        XCTAssertEqual(r.status, 0, r.out)
        XCTAssertTrue(r.out.contains("(\(conf): Line 5) (VI_1) virtual address 10.77.0.6 is outside every subnet of lo (127.0.0.1/8)"), r.out)
        XCTAssertTrue(r.out.contains("(\(conf): Line 7) (VI_1) interface pkt0 for virtual address 10.77.1.6 doesn't exist"), r.out)

        try Self.conf.replacingOccurrences(of: "10.88.0.6/24", with: "<your_virtual_ip>")
            .write(toFile: conf, atomically: true, encoding: .utf8)
        let p = Lab.sh("unshare --net \(bin) -t -f \(conf)")
        XCTAssertEqual(p.status, 5, p.out)
        XCTAssertTrue(p.out.contains("(\(conf): Line 6) replace <your_virtual_ip> with your virtual IP address"), p.out)
        XCTAssertTrue(p.out.contains("(\(conf): Line 2) WARNING - interface eth0 for vrrp_instance VI_1 doesn't exist"), p.out)
    }
}

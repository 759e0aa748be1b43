import Foundation
import XCTest

/// The lab of ../shared/seed/lab-README.md, end to end, with this build: two nginx web
/// servers, two load balancers (proxyd + vrrpd, started as an operator does) and a client
/// in network namespaces; the web-server and load-balancer test steps must all pass.
/// Root only: it installs this build (/usr/local/sbin, /etc/init.d) and makes namespaces.
final class LabSystemTests: XCTestCase {
    func testTheLabPassesEveryStep() throws {
        guard getuid() == 0 else { throw XCTSkip("the lab needs root (network namespaces)") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") else {
            throw XCTSkip("nginx is not installed (scripts/install-deps installs it)")
        }
        let repo = CheckModeTests.repoRoot.path
        let bin = ProxydProcess.binaryDirectory.path
        let install = try run("\(repo)/scripts/install", environment: ["PROXYD_BIN_DIR": bin])
        XCTAssertEqual(install.status, 0, install.output)
        let lab = try run("\(repo)/scripts/lab", arguments: ["--check"], environment: ["LAB_SKIP_BUILD": "1"])
        XCTAssertEqual(lab.status, 0, lab.output)
        XCTAssertTrue(lab.output.contains("Result: 0 failed step(s)"), lab.output)
    }

    private func run(_ path: String, arguments: [String] = [], environment: [String: String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

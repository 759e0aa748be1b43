import Foundation
import XCTest
@testable import ProxyCore

/// Every broken config of Fixtures/broken gives exactly the messages and exit status
/// of its golden file (made by regenerate.sh from our output, and compared with
/// `haproxy -c` by CheckModeTests).
final class ConfigCorpusTests: XCTestCase {
    static var corpus: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/broken")
    }

    func testEveryBrokenConfigMatchesItsGoldenFile() throws {
        let dir = Self.corpus
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { $0.hasSuffix(".cfg") }.sorted()
        XCTAssertGreaterThan(names.count, 30)
        for name in names {
            let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            let golden = try String(contentsOf: dir.appendingPathComponent(
                String(name.dropLast(4)) + ".expected"), encoding: .utf8)
            let lines = golden.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let exitLine = try XCTUnwrap(lines.first)
            let stderrStart = try XCTUnwrap(lines.firstIndex(of: "stderr:"))
            let stdoutStart = try XCTUnwrap(lines.firstIndex(of: "stdout:"))
            let expected = lines[(stderrStart + 1)..<stdoutStart].map { $0 + "\n" }.joined()

            // Files the configs name are relative to the corpus folder, as for `proxyd -c` run there.
            let previous = FileManager.default.currentDirectoryPath
            XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir.path))
            let r = ConfigurationLoader.load(text: text, name: name, options: LoadOptions())
            XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(previous))
            let rendered = DiagnosticRenderer.render(r.diagnostics, pid: 0)
                .replacingOccurrences(of: "(0) :", with: "(PID) :")
            XCTAssertEqual(rendered, expected, name)
            XCTAssertEqual("exit: \(r.exitCode)", exitLine, name)
        }
    }
}

import Foundation
import XCTest

/// Bodies larger than any buffer stream through with bounded memory.
final class LargeBodyTests: XCTestCase {
    func testOneGibibyteChunkedUploadWithBoundedMemory() throws {
        let counter = try TestBackend(name: "count", behaviour: .countBody)
        let (proxy, port) = try ProxyFixture.start(backend: """
                server count 127.0.0.1:\(counter.port)
                """)
        defer { proxy.stop() }
        let size = 1 << 30
        // curl sends standard input chunked; the server answers with the bytes it counted.
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", "head -c \(size) /dev/zero | curl -s -T - http://127.0.0.1:\(port)/upload"]
        let out = Pipe()
        shell.standardOutput = out
        try shell.run()
        shell.waitUntilExit()
        XCTAssertEqual(String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self), "\(size)")
        let peakKiB = proxy.residentKiB(field: "VmHWM")
        XCTAssertGreaterThan(peakKiB, 0)
        XCTAssertLessThan(peakKiB, 96 * 1024, "proxyd's peak RSS stays far below the body's size")
    }
}

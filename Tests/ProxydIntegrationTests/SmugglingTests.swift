import Foundation
import NIOConcurrencyHelpers
import XCTest

/// Hostile requests (issue 14, `HostileCase.all`) through HAProxy 2.6 and proxyd to
/// servers that record the raw bytes they get. proxyd must never be less safe than
/// HAProxy: it refuses what HAProxy refuses (with the same status and error page), and
/// where HAProxy forwards, it forwards too or refuses for a stated reason. What it
/// forwards is what it understood (CRLF line ends, version 1.0 or 1.1, one framing), and
/// the server never reads more requests than the client sent.
final class SmugglingTests: XCTestCase {
    /// Cases run in this many lanes at once: one frontend and one recording server per
    /// lane and proxy, so a server's bytes belong to the one case its lane runs.
    static let lanes = 4

    /// One proxy's side of a lane.
    struct Target {
        var port: Int
        var server: RecordingServer
    }

    /// What one proxy did with one case.
    struct Outcome {
        var responses: [HTTPTestResponse]
        var forwarded: [[UInt8]]
        var status: Int { responses.first?.status ?? 0 }
    }

    func testHostileRequestsNoLessSafeThanHAProxy() throws {
        let servers = try (0..<2 * Self.lanes).map { _ in try RecordingServer(quietMilliseconds: 120) }
        defer { servers.forEach { $0.stop() } }
        let haproxyPorts = (0..<Self.lanes).map { _ in TCP.freePort() }
        let proxydPorts = (0..<Self.lanes).map { _ in TCP.freePort() }
        func config(_ ports: [Int], _ servers: ArraySlice<RecordingServer>) -> String {
            ProxyFixture.preamble(extraDefaults: "    timeout http-request 5s") + zip(ports, servers).enumerated().map { lane, pair in
                """
                frontend fe\(lane)
                    bind 127.0.0.1:\(pair.0)
                    default_backend app\(lane)
                backend app\(lane)
                    server s 127.0.0.1:\(pair.1.port)

                """
            }.joined()
        }
        let haproxyServers = servers.prefix(Self.lanes), proxydServers = servers.suffix(Self.lanes)
        let reference = try ReferenceHAProxy(config: config(haproxyPorts, haproxyServers), waitForPorts: haproxyPorts)
        defer { reference.stop() }
        let proxy = try ProxydProcess(config: config(proxydPorts, proxydServers), waitForPorts: proxydPorts)
        defer { proxy.stop() }

        let cases = HostileCase.all
        let results = NIOLockedValueBox<[Int: (Outcome, Outcome)]>([:])
        let started = Date()
        DispatchQueue.concurrentPerform(iterations: 2 * Self.lanes) { worker in
            // Workers 0..<lanes drive HAProxy's lanes, the others proxyd's, on the same cases.
            let lane = worker % Self.lanes, isProxyd = worker >= Self.lanes
            let target = Target(port: (isProxyd ? proxydPorts : haproxyPorts)[lane],
                                server: (isProxyd ? proxydServers : haproxyServers)[(isProxyd ? Self.lanes : 0) + lane])
            for index in stride(from: lane, to: cases.count, by: Self.lanes) {
                let outcome = Self.exchange(cases[index], target)
                results.withLockedValue { all in
                    var pair = all[index] ?? (Outcome(responses: [], forwarded: []), Outcome(responses: [], forwarded: []))
                    if isProxyd { pair.1 = outcome } else { pair.0 = outcome }
                    all[index] = pair
                }
            }
        }
        let seconds = Date().timeIntervalSince(started)
        print("SmugglingTests: \(cases.count) cases through both proxies in \(String(format: "%.1f", seconds)) s")

        let outcomes = results.withLockedValue { $0 }
        var stricter = 0
        for (index, c) in cases.enumerated() {
            guard let (haproxy, proxyd) = outcomes[index] else { XCTFail("\(c.name): not run"); continue }
            let label = "[\(c.family)] \(c.name)"
            print("  \(label): HAProxy \(haproxy.status) (\(haproxy.forwarded.count) forwarded), proxyd \(proxyd.status) (\(proxyd.forwarded.count) forwarded)")
            if ProcessInfo.processInfo.environment["SMUGGLING_DUMP"] != nil {
                // What each server got, to see how HAProxy normalises a case.
                for (name, o) in [("HAProxy", haproxy), ("proxyd", proxyd)] {
                    for bytes in o.forwarded { print("    \(name): \(String(decoding: bytes, as: UTF8.self).debugDescription)") }
                }
            }
            assertNoLessSafe(c, label, haproxy: haproxy, proxyd: proxyd)
            if c.proxydStricter != nil { stricter += 1 }
            var requestsSeen = 0
            for bytes in proxyd.forwarded {
                assertNormalised(bytes, label)
                requestsSeen += Self.countRequests(bytes)
            }
            XCTAssertLessThanOrEqual(requestsSeen, c.requests, "\(label): the server read more requests than were sent")
            XCTAssertLessThanOrEqual(proxyd.forwarded.count, c.requests, "\(label): more server connections than requests")
        }
        print("SmugglingTests: \(stricter) cases where proxyd refuses what HAProxy forwards")
    }

    /// The status rules: HAProxy's status (and error page) unless the case says why
    /// proxyd refuses where HAProxy forwards; nothing forwarded where HAProxy forwards nothing.
    func assertNoLessSafe(_ c: HostileCase, _ label: String, haproxy: Outcome, proxyd: Outcome) {
        if let reason = c.proxydStricter {
            // HAProxy forwards it (or, for the HTTP/2 preface, answers in HTTP/2).
            XCTAssertTrue(haproxy.status == 200 || haproxy.status == 0,
                          "\(label): HAProxy answers \(haproxy.status) now, not what the case says (\(reason))")
            XCTAssertEqual(proxyd.status, 400, "\(label): \(reason)")
            XCTAssertTrue(proxyd.forwarded.isEmpty, "\(label): refused, yet forwarded")
            return
        }
        XCTAssertEqual(proxyd.responses.map(\.status), haproxy.responses.map(\.status), label)
        if haproxy.forwarded.isEmpty {
            XCTAssertTrue(proxyd.forwarded.isEmpty, "\(label): HAProxy forwarded nothing, proxyd forwarded \(proxyd.forwarded.count)")
        }
        if let mine = proxyd.responses.first, let theirs = haproxy.responses.first, theirs.status != 200 {
            // proxyd's own refusal: HAProxy's error page, byte for byte
            XCTAssertEqual(mine.headers.map { "\($0.0): \($0.1)" }, theirs.headers.map { "\($0.0): \($0.1)" }, label)
            XCTAssertEqual(mine.bodyText, theirs.bodyText, label)
        }
    }

    /// Every line end CRLF, the version one proxyd speaks, one framing.
    func assertNormalised(_ bytes: [UInt8], _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let text = String(decoding: bytes, as: UTF8.self)
        let head = bytes.prefix(HTTPTestResponse.find([13, 10, 13, 10], in: bytes, from: 0).map { $0 + 4 } ?? bytes.count)
        for (k, byte) in head.enumerated() where byte == 0x0A {
            XCTAssertTrue(k > 0 && bytes[k - 1] == 0x0D, "\(name): bare LF at \(k) in \(text.debugDescription)",
                          file: file, line: line)
        }
        let requestLine = String(decoding: bytes.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        XCTAssertTrue(requestLine.hasSuffix(" HTTP/1.1") || requestLine.hasSuffix(" HTTP/1.0"),
                      "\(name): request line \(requestLine.debugDescription)", file: file, line: line)
        let lower = String(decoding: head, as: UTF8.self).lowercased()
        XCTAssertFalse(lower.contains("\ncontent-length:") && lower.contains("\ntransfer-encoding:"),
                       "\(name): two framings in \(lower.debugDescription)", file: file, line: line)
        XCTAssertFalse(text.contains("5 \r\n"), "\(name): chunk size forwarded as it came", file: file, line: line)
        // No HTTP/2 upgrade the proxy could not follow into the tunnel (h2c smuggling).
        XCTAssertFalse(lower.components(separatedBy: "\r\n").contains { $0.hasPrefix("upgrade:") && $0.contains("h2c") },
                       "\(name): h2c upgrade forwarded", file: file, line: line)
        // One Content-Length, one number: a list or a repeat is sent as the value understood.
        let lengths = lower.components(separatedBy: "\r\n").filter { $0.hasPrefix("content-length:") }
        XCTAssertLessThanOrEqual(lengths.count, 1, "\(name): \(lengths)", file: file, line: line)
        for field in lengths {
            let value = field.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)
            XCTAssertTrue(!value.isEmpty && value.allSatisfy(\.isNumber), "\(name): \(field.debugDescription)", file: file, line: line)
        }
    }

    /// How many requests a strict HTTP/1.1 server reads in `bytes` (CRLF lines only;
    /// chunked wins over Content-Length): complete ones, plus one for leftover bytes.
    static func countRequests(_ bytes: [UInt8]) -> Int {
        var offset = 0, count = 0
        while offset < bytes.count {
            count += 1
            guard let headEnd = HTTPTestResponse.find([13, 10, 13, 10], in: bytes, from: offset) else { break }
            let lines = String(decoding: bytes[offset..<headEnd], as: UTF8.self).lowercased().components(separatedBy: "\r\n")
            func field(_ name: String) -> String? {
                lines.first { $0.hasPrefix(name + ":") }.map { String($0.dropFirst(name.count + 1)).trimmingCharacters(in: .whitespaces) }
            }
            offset = headEnd + 4
            let codings = field("transfer-encoding")?.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if codings?.last(where: { !$0.isEmpty }) == "chunked" {
                while true {
                    guard let lineEnd = HTTPTestResponse.find([13, 10], in: bytes, from: offset),
                          let size = Int(String(decoding: bytes[offset..<lineEnd], as: UTF8.self).split(separator: ";").first ?? "", radix: 16)
                    else { return count }
                    offset = lineEnd + 2
                    if size == 0 {
                        guard let end = HTTPTestResponse.find([13, 10, 13, 10], in: bytes, from: offset - 2) else { return count }
                        offset = end + 4
                        break
                    }
                    offset += size + 2
                }
            } else if let length = field("content-length").flatMap({ Int($0.split(separator: ",")[0].trimmingCharacters(in: .whitespaces)) }) {
                offset += length
            }
        }
        return count
    }

    /// Sends the case on a new connection and reads as many answers as it sent requests
    /// (or until the proxy closes, or stays quiet).
    static func exchange(_ c: HostileCase, _ target: Target) -> Outcome {
        target.server.reset()
        guard let connection = try? TCP.Connection(port: target.port, timeout: c.unfinished ? 0.5 : 5) else {
            return Outcome(responses: [], forwarded: [])
        }
        defer { connection.close() }
        try? connection.send(Array(c.request.unicodeScalars.map { UInt8(truncatingIfNeeded: $0.value) }))
        var data: [UInt8] = [], responses: [HTTPTestResponse] = []
        while responses.count < c.requests {
            if let response = HTTPTestResponse.parse(data) {
                responses.append(response)
                data.removeFirst(response.byteCount)
                if response.status == 100 { responses.removeLast() }
                continue
            }
            guard let chunk = connection.receiveSome(), !chunk.isEmpty else { break }
            data += chunk
        }
        return Outcome(responses: responses, forwarded: target.server.received)
    }
}

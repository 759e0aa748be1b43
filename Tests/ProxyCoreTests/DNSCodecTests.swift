import XCTest
@testable import ProxyCore
import Shared

/// The DNS codec on known bytes (RFC 1035 layout), malformed answers included, and the
/// pure parts of the resolver: how records are shared over a row of servers and how long
/// they are held.
final class DNSCodecTests: XCTestCase {
    /// A response to `query` with the given answer and additional records already encoded.
    private func response(id: UInt16, rcode: UInt8 = 0, truncated: Bool = false, question: [UInt8],
                          answers: [[UInt8]] = [], additionals: [[UInt8]] = []) -> [UInt8] {
        var out: [UInt8] = []
        DNSCodec.append16(&out, id)
        DNSCodec.append16(&out, 0x8180 | (truncated ? 0x0200 : 0) | UInt16(rcode))
        DNSCodec.append16(&out, 1)
        DNSCodec.append16(&out, UInt16(answers.count))
        DNSCodec.append16(&out, 0)
        DNSCodec.append16(&out, UInt16(additionals.count))
        out += question
        for record in answers + additionals { out += record }
        return out
    }

    /// The question section for `name` and `type` (starts at offset 12: pointer 0xC00C).
    private func question(_ name: String, _ type: UInt16) -> [UInt8] {
        var out: [UInt8] = []
        DNSCodec.appendName(&out, name)
        DNSCodec.append16(&out, type)
        DNSCodec.append16(&out, 1)
        return out
    }

    private func record(name: [UInt8], type: UInt16, ttl: UInt32 = 60, data: [UInt8]) -> [UInt8] {
        var out = name
        DNSCodec.append16(&out, type)
        DNSCodec.append16(&out, 1)
        DNSCodec.append16(&out, UInt16(ttl >> 16))
        DNSCodec.append16(&out, UInt16(ttl & 0xFFFF))
        DNSCodec.append16(&out, UInt16(data.count))
        return out + data
    }

    private let toQuestion: [UInt8] = [0xC0, 0x0C]

    func testQueryBytesAreRFC1035WithEDNS0WhenAsked() {
        let plain = DNSCodec.query(id: 0x1234, name: "web.example.local", type: .a, payloadSize: 512)
        XCTAssertEqual(Array(plain.prefix(12)), [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(Array(plain[12...]), [3] + Array("web".utf8) + [7] + Array("example".utf8) + [5]
            + Array("local".utf8) + [0, 0, 1, 0, 1])
        let edns = DNSCodec.query(id: 1, name: "a.b.", type: .srv, payloadSize: 8192)
        XCTAssertEqual(Array(edns[10..<12]), [0, 1], "one additional record: the OPT")
        XCTAssertEqual(Array(edns.suffix(11)), [0, 0, 41, 0x20, 0x00, 0, 0, 0, 0, 0, 0], "OPT, class = 8192")
        // What we send, we read back.
        let decoded = try? DNSCodec.decode(edns)
        XCTAssertEqual(decoded?.questions, [DNSQuestion(name: "a.b", type: 33)])
        XCTAssertEqual(decoded?.isResponse, false)
    }

    func testAnswersWithCompressionCNAMEAndSRV() throws {
        let q = question("_http._tcp.example.local", 33)
        var srvData: [UInt8] = [0, 0, 0x02, 0x00, 0x1F, 0x91]  // priority 0, weight 512, port 8081
        DNSCodec.appendName(&srvData, "one.example.local")
        let bytes = response(id: 7, question: q,
                             answers: [record(name: toQuestion, type: 33, data: srvData)],
                             additionals: [record(name: [3] + Array("one".utf8) + [0xC0, 0x17], type: 1, data: [10, 77, 0, 4])])
        let m = try DNSCodec.decode(bytes)
        XCTAssertEqual(m.id, 7)
        XCTAssertTrue(m.isResponse)
        XCTAssertEqual(m.answers.first?.data, .srv(priority: 0, weight: 512, port: 8081, target: "one.example.local"))
        XCTAssertEqual(m.answers.first?.name, "_http._tcp.example.local")
        // 0xC017 points at "example.local" inside the question.
        XCTAssertEqual(m.additionals.first?.name, "one.example.local")
        XCTAssertEqual(m.additionals.first?.data, .address(.v4(10, 77, 0, 4)))

        let resolution = DNSResolution(hostname: "_http._tcp.example.local", kind: .service(prefer: .ipv4), now: 0)
        var cname = false
        let targets = resolution.targets(in: m, sawCNAME: &cname)
        XCTAssertEqual(targets, [DNSTarget(key: "one.example.local:8081", address: .v4(10, 77, 0, 4), port: 8081,
                                           weight: 512, hostname: "one.example.local")])
        XCTAssertFalse(cname)
    }

    func testCNAMEChainsAreFollowed() throws {
        let q = question("www.example.local", 1)
        var target: [UInt8] = []
        DNSCodec.appendName(&target, "web.example.local")
        let bytes = response(id: 9, question: q, answers: [
            record(name: toQuestion, type: 5, data: target),
            record(name: [3] + Array("web".utf8) + [0xC0, 0x10], type: 1, data: [10, 77, 0, 9]),
            record(name: [5] + Array("other".utf8) + [0], type: 1, data: [10, 77, 0, 99]),  // not on the chain
        ])
        let m = try DNSCodec.decode(bytes)
        let resolution = DNSResolution(hostname: "www.example.local", kind: .address(prefer: .ipv4), now: 0)
        var cname = false
        XCTAssertEqual(resolution.targets(in: m, sawCNAME: &cname)?.map(\.address), [.v4(10, 77, 0, 9)])
        XCTAssertTrue(cname)
    }

    func testMalformedAnswersAreErrorsNotHangs() {
        let q = question("a.example", 1)
        // A pointer to itself, and two pointers to each other.
        var selfLoop = response(id: 1, question: q, answers: [record(name: [0xC0, 0x00], type: 1, data: [1, 2, 3, 4])])
        let at = 12 + q.count
        selfLoop[at] = 0xC0
        selfLoop[at + 1] = UInt8(at)
        XCTAssertThrowsError(try DNSCodec.decode(selfLoop)) { XCTAssertEqual($0 as? DNSDecodeError, .compressionLoop) }
        var pingPong = response(id: 1, question: [0xC0, 14, 0xC0, 12, 0, 1, 0, 1])
        pingPong[12] = 0xC0
        pingPong[13] = 14
        XCTAssertThrowsError(try DNSCodec.decode(pingPong)) { XCTAssertEqual($0 as? DNSDecodeError, .compressionLoop) }
        // Every prefix of a good answer is a clean error.
        let good = response(id: 3, question: q, answers: [record(name: toQuestion, type: 1, data: [10, 0, 0, 1])])
        XCTAssertNoThrow(try DNSCodec.decode(good))
        for n in 0..<good.count {
            XCTAssertThrowsError(try DNSCodec.decode(Array(good.prefix(n))), "prefix \(n)")
        }
        // An A record of 5 bytes, a label type 0b01, a name over 255 bytes.
        XCTAssertThrowsError(try DNSCodec.decode(response(id: 1, question: q, answers: [record(name: toQuestion, type: 1, data: [1, 2, 3, 4, 5])])))
        XCTAssertThrowsError(try DNSCodec.decode(response(id: 1, question: [0x40, 0, 0, 1, 0, 1]))) { XCTAssertEqual($0 as? DNSDecodeError, .badName) }
        var long: [UInt8] = []
        for _ in 0..<5 { long += [63] + Array(repeating: 0x61, count: 63) }
        XCTAssertThrowsError(try DNSCodec.decode(response(id: 1, question: long + [0, 0, 1, 0, 1]))) { XCTAssertEqual($0 as? DNSDecodeError, .badName) }
        // Random bytes never crash.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            var bytes = good
            for _ in 0..<3 { bytes[Int.random(in: 0..<bytes.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator) }
            _ = try? DNSCodec.decode(bytes)
        }
    }

    func testTruncationAndResponseCodeAreRead() throws {
        let m = try DNSCodec.decode(response(id: 5, rcode: 3, truncated: true, question: question("x.example", 28)))
        XCTAssertTrue(m.truncated)
        XCTAssertEqual(m.responseCode, 3)
        XCTAssertEqual(m.questions.first?.type, 28)
    }

    // MARK: - sharing records over servers

    private func t(_ last: UInt8) -> DNSTarget { DNSTarget(key: "10.77.0.\(last)", address: .v4(10, 77, 0, last)) }

    func testRowsKeepTheirRecordsAndFillInOrder() {
        // First answer: servers fill in order, the third has nothing.
        XCTAssertEqual(DNSSlotAssignment.assign(current: [nil, nil, nil], offered: [t(2), t(3)], allowDuplicates: false),
                       [t(2), t(3), nil])
        // .3 goes, .5 comes: web1 keeps .2, web2 takes .5.
        XCTAssertEqual(DNSSlotAssignment.assign(current: [t(2), t(3), nil], offered: [t(5), t(2)], allowDuplicates: false),
                       [t(2), t(5), nil])
        // Two servers on one address (both from libc at start): the second moves.
        XCTAssertEqual(DNSSlotAssignment.assign(current: [t(2), t(2)], offered: [t(2), t(3)], allowDuplicates: false),
                       [t(2), t(3)])
        XCTAssertEqual(DNSSlotAssignment.assign(current: [t(2), t(2)], offered: [t(2)], allowDuplicates: true),
                       [t(2), t(2)])
        // resolve-net: a preferred network's record first.
        let net = IPNetwork(address: .v4(10, 77, 0, 8), prefixLength: 29)
        XCTAssertEqual(DNSSlotAssignment.assign(current: [nil], offered: [t(2), t(9)], allowDuplicates: false,
                                                preferredNetworks: [net]), [t(9)])
        XCTAssertEqual(DNSSlotAssignment.assign(current: [t(2)], offered: [], allowDuplicates: false), [nil])
    }

    func testObsoleteRecordsAreHeldThenDropped() {
        var hold = ResolversSettings.HoldTimes()
        hold.obsolete = 2000
        hold.nx = 5000
        let r = DNSResolution(hostname: "web", kind: .address(prefer: .ipv4), now: 0)
        r.absorb(.valid([t(2), t(3)]), hold: hold, now: 1000)
        r.absorb(.valid([t(2)]), hold: hold, now: 2000)
        XCTAssertEqual(r.items.map(\.target), [t(2), t(3)], ".3 is held for 2 s")
        r.absorb(.valid([t(2)]), hold: hold, now: 3000 + DNSResolution.timerSlack(hold))
        XCTAssertEqual(r.items.map(\.target), [t(2), t(3)], "still there at 2 s (and the timers' slack)")
        r.absorb(.valid([t(2)]), hold: hold, now: 3001 + DNSResolution.timerSlack(hold))
        XCTAssertEqual(r.items.map(\.target), [t(2)], "gone past 2 s after it was last seen")
        let lastValid = r.lastValid
        r.absorb(.nx, hold: hold, now: lastValid + 4999)
        XCTAssertEqual(r.items.count, 1, "NX is believed only after hold nx")
        r.absorb(.nx, hold: hold, now: lastValid + 5000)
        XCTAssertEqual(r.items.count, 0)
        hold.obsolete = 0
        r.absorb(.valid([t(2), t(3)]), hold: hold, now: 9000)
        r.absorb(.valid([t(3)]), hold: hold, now: 10000)
        XCTAssertEqual(r.items.map(\.target), [t(3)], "hold obsolete 0: gone with the next answer")
    }
}

import XCTest
@testable import ProxyCore

final class BalancerHashFunctionTests: XCTestCase {
    func h(_ f: BalanceHashFunction, _ s: String) -> UInt32 {
        Array(s.utf8).withUnsafeBytes { f.hash($0) }
    }

    /// Known answers, computed with an independent implementation of each definition
    /// (crc32 is the standard CRC-32: "123456789" → cbf43926).
    func testKnownAnswers() {
        XCTAssertEqual(h(.crc32, "123456789"), 0xcbf4_3926)
        XCTAssertEqual(h(.crc32, "hello world"), 0x0d4a_1185)
        XCTAssertEqual(h(.crc32, ""), 0)
        XCTAssertEqual(h(.sdbm, ""), 0)
        XCTAssertEqual(h(.sdbm, "a"), 0x61)
        XCTAssertEqual(h(.sdbm, "/index.html"), 0x3324_2976)
        XCTAssertEqual(h(.sdbm, "hello world"), 0x19ae_84c4)
        XCTAssertEqual(h(.djb2, ""), 5381)
        XCTAssertEqual(h(.djb2, "a"), 0x2b606)
        XCTAssertEqual(h(.djb2, "/index.html"), 0xe114_b9cf)
        XCTAssertEqual(h(.wt6, ""), 0xf99a_0360)
        XCTAssertEqual(h(.wt6, "a"), 0x714b_f225)
        XCTAssertEqual(h(.wt6, "/index.html"), 0x3101_077e)
        XCTAssertEqual(h(.wt6, "hello world"), 0x6f46_a0aa)
        XCTAssertEqual(avalancheHash(0), 0x6b4e_d927)
        XCTAssertEqual(avalancheHash(1), 0xb486_81b6)
        XCTAssertEqual(avalancheHash(4096), 0x09c2_008b)
        XCTAssertEqual(avalancheHash(123_456_789), 0xd9ab_9e21)
    }
}

final class BalancerTests: XCTestCase {
    func servers(_ weights: [Int]) -> [BalancerServer] { weights.map { BalancerServer(weight: $0) } }

    func picks(_ b: inout Balancer, _ n: Int) -> [Int] {
        (0..<n).map { _ in
            guard case .server(let s) = b.pick() else { XCTFail("no server"); return -1 }
            return s
        }
    }

    func counts(_ seq: [Int], _ n: Int) -> [Int] {
        var c = [Int](repeating: 0, count: n)
        for s in seq where s >= 0 { c[s] += 1 }
        return c
    }

    // MARK: roundrobin

    func testRoundRobinSmoothOrder() {
        var b = Balancer(servers: servers([3, 1]), algorithm: .roundRobin)
        XCTAssertEqual(picks(&b, 8), [0, 0, 1, 0, 0, 0, 1, 0])
        var e = Balancer(servers: servers([1, 1, 1]), algorithm: .roundRobin)
        XCTAssertEqual(picks(&e, 6), [0, 1, 2, 0, 1, 2])
        var w = Balancer(servers: servers([5, 1, 1]), algorithm: .roundRobin)
        XCTAssertEqual(picks(&w, 7), [0, 0, 1, 0, 2, 0, 0])
    }

    func testRoundRobinRatios() {
        var b = Balancer(servers: servers([5, 3, 2]), algorithm: .roundRobin)
        XCTAssertEqual(counts(picks(&b, 1000), 3), [500, 300, 200])
        // smooth: within any window of 10 picks each server appears its weight times
        let seq = picks(&b, 100)
        for start in stride(from: 0, to: 100, by: 10) {
            XCTAssertEqual(counts(Array(seq[start..<start + 10]), 3), [5, 3, 2])
        }
    }

    func testRoundRobinWeightChangesAtRunTime() {
        var b = Balancer(servers: servers([1, 1]), algorithm: .roundRobin)
        _ = picks(&b, 10)
        b.setWeight(3, server: 1)
        XCTAssertEqual(b.weight(server: 1), 3)
        XCTAssertEqual(counts(picks(&b, 400), 2), [100, 300])
        b.setWeight(0, server: 1)
        XCTAssertEqual(Set(picks(&b, 20)), [0])
        b.setWeight(1, server: 1)
        XCTAssertEqual(counts(picks(&b, 20), 2), [10, 10])
        b.setWeight(500, server: 0) // clamped to 256
        XCTAssertEqual(b.weight(server: 0), 256)
    }

    func testStaticRoundRobinIgnoresWeightChanges() {
        var b = Balancer(servers: servers([2, 1]), algorithm: .staticRoundRobin)
        XCTAssertEqual(counts(picks(&b, 300), 2), [200, 100])
        b.setWeight(50, server: 1)
        XCTAssertEqual(counts(picks(&b, 300), 2), [200, 100])
        b.setWeight(0, server: 0) // 0 still drains
        XCTAssertEqual(Set(picks(&b, 30)), [1])
        b.setWeight(7, server: 0) // back, with its initial weight
        XCTAssertEqual(counts(picks(&b, 300), 2), [200, 100])
        b.setUsable(false, server: 1)
        XCTAssertEqual(Set(picks(&b, 30)), [0])
    }

    func testUnusableAndBack() {
        var b = Balancer(servers: servers([1, 1, 1]), algorithm: .roundRobin)
        b.setUsable(false, server: 1)
        XCTAssertFalse(b.isUsable(server: 1))
        XCTAssertEqual(counts(picks(&b, 100), 3), [50, 0, 50])
        b.setUsable(true, server: 1)
        XCTAssertEqual(counts(picks(&b, 99), 3), [33, 33, 33])
        for s in 0..<3 { b.setUsable(false, server: s) }
        XCTAssertEqual(b.pick(), .noneUsable)
    }

    // MARK: backups

    func testBackupsWithoutAllBackups() {
        let list = [BalancerServer(weight: 1), BalancerServer(weight: 1),
                    BalancerServer(weight: 1, isBackup: true), BalancerServer(weight: 1, isBackup: true)]
        var b = Balancer(servers: list, algorithm: .roundRobin)
        XCTAssertEqual(Set(picks(&b, 10)), [0, 1], "backups unused while actives are up")
        b.setUsable(false, server: 0)
        XCTAssertEqual(Set(picks(&b, 10)), [1])
        b.setUsable(false, server: 1)
        XCTAssertEqual(Set(picks(&b, 10)), [2], "only the first usable backup")
        b.setUsable(false, server: 2)
        XCTAssertEqual(Set(picks(&b, 10)), [3])
        b.setUsable(true, server: 2)
        XCTAssertEqual(Set(picks(&b, 10)), [2], "the first backup in declaration order again")
        b.setUsable(true, server: 1)
        XCTAssertEqual(Set(picks(&b, 10)), [1])
    }

    func testBackupsWithAllBackups() {
        let list = [BalancerServer(weight: 1), BalancerServer(weight: 1, isBackup: true),
                    BalancerServer(weight: 3, isBackup: true)]
        var b = Balancer(servers: list, algorithm: .roundRobin, allBackups: true)
        XCTAssertEqual(Set(picks(&b, 10)), [0])
        b.setUsable(false, server: 0)
        XCTAssertEqual(counts(picks(&b, 400), 3), [0, 100, 300])
        b.setUsable(true, server: 0)
        XCTAssertEqual(Set(picks(&b, 10)), [0])
    }

    // MARK: maxconn

    func testMaxConnSkippingAndAllFull() {
        let list = [BalancerServer(weight: 1, maxConnections: 1), BalancerServer(weight: 1, maxConnections: 2)]
        var b = Balancer(servers: list, algorithm: .roundRobin)
        var open: [Int] = []
        for _ in 0..<3 {
            guard case .server(let s) = b.pick() else { return XCTFail("expected a server") }
            b.connectionStarted(server: s)
            open.append(s)
        }
        XCTAssertEqual(counts(open, 2), [1, 2])
        XCTAssertEqual(b.pick(), .allFull)
        b.connectionEnded(server: 0)
        XCTAssertEqual(b.pick(), .server(0))
        // full is not the same as unusable
        b.setUsable(false, server: 0)
        b.setUsable(false, server: 1)
        XCTAssertEqual(b.pick(), .noneUsable)
        b.setUsable(true, server: 1)
        XCTAssertEqual(b.pick(), .allFull)
        b.setMaxConnections(nil, server: 1)
        XCTAssertEqual(b.pick(), .server(1))
        XCTAssertEqual(b.connections(server: 1), 2)
    }

    func testAllFullForEveryAlgorithm() {
        let algorithms: [BalanceAlgorithm] = [.roundRobin, .staticRoundRobin, .leastConnections, .first, .random]
        for a in algorithms {
            var b = Balancer(servers: [BalancerServer(weight: 1, maxConnections: 1),
                                       BalancerServer(weight: 2, maxConnections: 1)], algorithm: a, seed: 1)
            b.setConnections(1, server: 0)
            XCTAssertEqual(b.pick(), .server(1), "\(a)")
            b.setConnections(1, server: 1)
            XCTAssertEqual(b.pick(), .allFull, "\(a)")
            var none = Balancer(servers: servers([0, 0]), algorithm: a, seed: 1)
            XCTAssertEqual(none.pick(), .noneUsable, "\(a)")
        }
    }

    // MARK: leastconn

    func testLeastConnections() {
        var b = Balancer(servers: servers([1, 1, 1]), algorithm: .leastConnections)
        b.setConnections(5, server: 0)
        b.setConnections(2, server: 1)
        b.setConnections(3, server: 2)
        XCTAssertEqual(b.pick(), .server(1))
        b.connectionStarted(server: 1)
        b.connectionStarted(server: 1)
        XCTAssertEqual(b.pick(), .server(2))
        // ties are taken in turn
        var t = Balancer(servers: servers([1, 1, 1]), algorithm: .leastConnections)
        XCTAssertEqual(picks(&t, 6), [0, 1, 2, 0, 1, 2])
        // weights: a server of weight 2 carries twice the connections
        var w = Balancer(servers: servers([2, 1]), algorithm: .leastConnections)
        for _ in 0..<30 {
            guard case .server(let s) = w.pick() else { return XCTFail() }
            w.connectionStarted(server: s)
        }
        XCTAssertEqual(w.connections(server: 0), 20)
        XCTAssertEqual(w.connections(server: 1), 10)
    }

    // MARK: first

    func testFirst() {
        let list = [BalancerServer(weight: 1, maxConnections: 2, id: 3),
                    BalancerServer(weight: 9, maxConnections: 2, id: 1),
                    BalancerServer(weight: 1, maxConnections: 2, id: 2)]
        var b = Balancer(servers: list, algorithm: .first)
        var order: [Int] = []
        for _ in 0..<6 {
            guard case .server(let s) = b.pick() else { return XCTFail() }
            b.connectionStarted(server: s)
            order.append(s)
        }
        XCTAssertEqual(order, [1, 1, 2, 2, 0, 0])
        XCTAssertEqual(b.pick(), .allFull)
        b.connectionEnded(server: 2)
        XCTAssertEqual(b.pick(), .server(2))
        b.setUsable(false, server: 2)
        b.connectionEnded(server: 0)
        XCTAssertEqual(b.pick(), .server(0))
        // default ids follow declaration order
        var d = Balancer(servers: servers([1, 1]), algorithm: .first)
        XCTAssertEqual(picks(&d, 3), [0, 0, 0])
    }

    // MARK: random

    func testRandomFollowsWeights() {
        var b = Balancer(servers: servers([3, 1]), algorithm: .random(draws: 1), seed: 42)
        let c = counts(picks(&b, 20000), 2)
        XCTAssertEqual(Double(c[0]) / 20000, 0.75, accuracy: 0.02)
    }

    func testRandomTwoChoicesPrefersLessLoaded() {
        var b = Balancer(servers: servers([1, 1, 1, 1]), algorithm: .random, seed: 7)
        b.setConnections(100, server: 0)
        let c = counts(picks(&b, 4000), 4)
        // server 0 wins only when both draws hit it: about 1/16 of the time
        XCTAssertLessThan(c[0], 4000 / 10)
        var one = Balancer(servers: servers([1, 1, 1, 1]), algorithm: .random(draws: 1), seed: 7)
        one.setConnections(100, server: 0)
        XCTAssertGreaterThan(counts(picks(&one, 4000), 4)[0], 4000 / 6)
        // the same seed gives the same sequence
        var x = Balancer(servers: servers([1, 2, 3]), algorithm: .random, seed: 99)
        var y = Balancer(servers: servers([1, 2, 3]), algorithm: .random, seed: 99)
        XCTAssertEqual(picks(&x, 50), picks(&y, 50))
    }

    // MARK: hashing

    func hashPicks(_ b: inout Balancer, keys: Range<Int>) -> [Int] {
        keys.map { k in
            guard case .server(let s) = b.pick(hash: avalancheHash(UInt32(k))) else { XCTFail(); return -1 }
            return s
        }
    }

    func testMapBasedSpreadsByWeight() {
        var b = Balancer(servers: servers([3, 1]), algorithm: .uri(URIHashOptions()))
        let c = counts(hashPicks(&b, keys: 0..<20000), 2)
        XCTAssertEqual(Double(c[0]) / 20000, 0.75, accuracy: 0.02)
        // the map is hash modulo the total weight
        XCTAssertEqual(b.map.count, 4)
        XCTAssertEqual(b.pick(hash: 0), .server(Int(b.map[0])))
        XCTAssertEqual(b.pick(hash: 5), .server(Int(b.map[1])))
        // static: a weight change is ignored
        b.setWeight(1, server: 0)
        XCTAssertEqual(b.map.count, 4)
        XCTAssertEqual(b.pick(hash: 0), .server(Int(b.map[0])))
        XCTAssertEqual(b.map.count, 4)
    }

    func testConsistentMovesOnlyTheRemovedServersKeys() {
        let keys = 0..<20000
        var b = Balancer(servers: servers([1, 1, 1, 1, 1]), algorithm: .source,
                         hashType: BalanceHashType(method: .consistent))
        let before = hashPicks(&b, keys: keys)
        let share = counts(before, 5)
        for s in share { XCTAssertGreaterThan(s, 20000 / 5 / 2, "each server gets a fair part: \(share)") }
        b.setUsable(false, server: 2)
        let after = hashPicks(&b, keys: keys)
        var moved = 0
        for k in keys.indices {
            if before[k] == 2 {
                XCTAssertNotEqual(after[k], 2)
                moved += 1
            } else {
                XCTAssertEqual(after[k], before[k], "key \(k) moved without its server leaving")
            }
        }
        XCTAssertEqual(moved, share[2])
        // back: every key returns
        b.setUsable(true, server: 2)
        XCTAssertEqual(hashPicks(&b, keys: keys), before)
        // map-based moves far more keys for the same change
        var m = Balancer(servers: servers([1, 1, 1, 1, 1]), algorithm: .source)
        let mb = hashPicks(&m, keys: keys)
        m.setUsable(false, server: 2)
        let ma = hashPicks(&m, keys: keys)
        let movedMap = zip(mb, ma).filter { $0 != $1 }.count
        XCTAssertGreaterThan(movedMap, 2 * moved)
    }

    func testConsistentWeightsAndRunTimeChanges() {
        var b = Balancer(servers: servers([3, 1]), algorithm: .uri(URIHashOptions()),
                         hashType: BalanceHashType(method: .consistent, function: .sdbm))
        XCTAssertEqual(b.pick(hash: 1), b.pick(hash: 1))
        XCTAssertEqual(b.ringKeys.count, 4 * 16)
        let c = counts(hashPicks(&b, keys: 0..<20000), 2)
        XCTAssertEqual(Double(c[0]) / 20000, 0.75, accuracy: 0.1)
        b.setWeight(1, server: 0) // dynamic: the ring shrinks
        _ = b.pick(hash: 0)
        XCTAssertEqual(b.ringKeys.count, 2 * 16)
        XCTAssertTrue(zip(b.ringKeys, b.ringKeys.dropFirst()).allSatisfy { $0 <= $1 })
    }

    func testSourceHash() {
        var b = Balancer(servers: servers([1, 1, 1]), algorithm: .source)
        let v4: [UInt8] = [10, 0, 0, 7]
        let d = v4.withUnsafeBytes { b.pick(clientAddress: $0) }
        // map-based: the address as one big-endian word, modulo the total weight
        XCTAssertEqual(d, .server(Int(b.map[0x0A00_0007 % 3])))
        let v6: [UInt8] = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]
        let e = v6.withUnsafeBytes { b.pick(clientAddress: $0) }
        XCTAssertEqual(e, .server(Int(b.map[Int((0x2001_0db8 ^ 1) % 3)])))
        // no address (unix socket): round robin
        XCTAssertEqual(b.pick(clientAddress: nil), .server(0))
        XCTAssertEqual(b.pick(clientAddress: nil), .server(1))
        // the same client keeps its server
        for _ in 0..<5 { XCTAssertEqual(v4.withUnsafeBytes { b.pick(clientAddress: $0) }, d) }
        // avalanche applies to the address word; the hash function does not
        var a = Balancer(servers: servers([1, 1, 1]), algorithm: .source,
                         hashType: BalanceHashType(method: .mapBased, function: .crc32, avalanche: true))
        let f = v4.withUnsafeBytes { a.pick(clientAddress: $0) }
        XCTAssertEqual(f, .server(Int(a.map[Int(avalancheHash(0x0A00_0007) % 3)])))
        // consistent: the ring point nearest the (avalanched) address word
        var c = Balancer(servers: servers([1, 1, 1]), algorithm: .source,
                         hashType: BalanceHashType(method: .consistent, avalanche: true))
        var plain = 0
        for last in 0..<60 {
            let addr: [UInt8] = [10, 0, 0, UInt8(last)]
            let word = 0x0A00_0000 | UInt32(last)
            let viaAddress = addr.withUnsafeBytes { c.pick(clientAddress: $0) }
            XCTAssertEqual(viaAddress, c.pick(hash: avalancheHash(word)))
            if viaAddress == c.pick(hash: word) { plain += 1 }
        }
        XCTAssertLessThan(plain, 60, "the address word must be avalanched")
    }

    func request(_ text: String, _ body: (HTTPRequestParser, UnsafeRawBufferPointer) -> Void) {
        var p = HTTPRequestParser()
        withBytes(text) { bytes in
            XCTAssertEqual(p.parse(bytes), .complete)
            body(p, bytes)
        }
    }

    func testURIOptions() {
        let b = Balancer(servers: servers([1]), algorithm: .uri(URIHashOptions()))
        func key(_ target: String, _ o: URIHashOptions) -> UInt32 {
            var r: UInt32 = 0
            request("GET \(target) HTTP/1.1\r\n\r\n") { p, bytes in r = b.uriHash(p.head.targetSpan, o, bytes) }
            return r
        }
        func sdbm(_ s: String) -> UInt32 { Array(s.utf8).withUnsafeBufferPointer { sdbmHash($0.baseAddress!, $0.count) } }
        XCTAssertEqual(key("/a/b/c?x=1", URIHashOptions()), sdbm("/a/b/c"))
        XCTAssertEqual(key("/a/b/c?x=1", URIHashOptions(whole: true)), sdbm("/a/b/c?x=1"))
        XCTAssertEqual(key("/a/b/c?x=1", URIHashOptions(length: 4)), sdbm("/a/b"))
        XCTAssertEqual(key("/a/b/c?x=1", URIHashOptions(depth: 2)), sdbm("/a/b"))
        XCTAssertEqual(key("/a/b/c?x=1", URIHashOptions(depth: 1)), sdbm("/a"))
        XCTAssertEqual(key("/a/b/c?x=1", URIHashOptions(depth: 9)), sdbm("/a/b/c"))
        XCTAssertEqual(key("/abcdef/g", URIHashOptions(length: 3, depth: 1)), sdbm("/ab"))
        XCTAssertEqual(key("http://h:8/a/b?q", URIHashOptions(pathOnly: true)), sdbm("/a/b"))
        XCTAssertEqual(key("http://h:8/a/b?q", URIHashOptions()), sdbm("http://h:8/a/b"))
        // the configured function and avalanche are applied
        let c = Balancer(servers: servers([1]), algorithm: .uri(URIHashOptions()),
                         hashType: BalanceHashType(function: .crc32, avalanche: true))
        request("GET /x?y HTTP/1.1\r\n\r\n") { p, bytes in
            let expected = avalancheHash(Array("/x".utf8).withUnsafeBytes { BalanceHashFunction.crc32.hash($0) })
            XCTAssertEqual(c.uriHash(p.head.targetSpan, URIHashOptions(), bytes), expected)
        }
    }

    func httpPick(_ b: inout Balancer, _ text: String) -> BalancerDecision {
        var d = BalancerDecision.noneUsable
        request(text) { p, bytes in
            d = b.pick(clientAddress: nil, target: p.head.targetSpan, headers: p.headers, in: bytes)
        }
        return d
    }

    func testURIHashIsSticky() {
        var b = Balancer(servers: servers([1, 1, 1, 1]), algorithm: .uri(URIHashOptions()))
        var seen: [String: BalancerDecision] = [:]
        for round in 0..<3 {
            for k in 0..<50 {
                let d = httpPick(&b, "GET /item/\(k)?r=\(round) HTTP/1.1\r\n\r\n")
                if let prev = seen["\(k)"] { XCTAssertEqual(prev, d) } else { seen["\(k)"] = d }
            }
        }
        XCTAssertGreaterThan(Set(seen.values).count, 2)
    }

    func testURLParameter() {
        var b = Balancer(servers: servers([1, 1, 1]), algorithm: .urlParameter(name: Array("user".utf8)))
        let first = httpPick(&b, "GET /a?x=1&user=alice HTTP/1.1\r\n\r\n")
        XCTAssertEqual(httpPick(&b, "GET /b?user=alice HTTP/1.1\r\n\r\n"), first)
        // the value is hashed with the configured function, modulo the total weight
        XCTAssertEqual(first, .server(Int(b.map[Int(Array("alice".utf8).withUnsafeBytes { BalanceHashFunction.sdbm.hash($0) } % 3)])))
        // absent: round robin
        let rr = (0..<6).map { _ in httpPick(&b, "GET /c?User=alice HTTP/1.1\r\n\r\n") }
        XCTAssertEqual(rr, [.server(0), .server(1), .server(2), .server(0), .server(1), .server(2)])
    }

    func testHeaderHash() {
        var b = Balancer(servers: servers([1, 1, 1, 1, 1]), algorithm: .header(name: Array("X-Session".utf8), useDomainOnly: false))
        let a = httpPick(&b, "GET / HTTP/1.1\r\nx-session: abc\r\n\r\n")
        XCTAssertEqual(httpPick(&b, "GET /other HTTP/1.1\r\nX-SESSION:   abc  \r\n\r\n"), a)
        XCTAssertEqual(httpPick(&b, "GET /other HTTP/1.1\r\nX-Session: abc , def\r\n\r\n"), a, "first element only")
        XCTAssertEqual(httpPick(&b, "GET /other HTTP/1.1\r\nX-Session: abc,xyz\r\n\r\n"), a, "first element only")
        XCTAssertEqual(a, .server(Int(b.map[Int(Array("abc".utf8).withUnsafeBytes { BalanceHashFunction.sdbm.hash($0) } % 5)])))
        // absent or empty: round robin
        let rr = (0..<5).map { _ in httpPick(&b, "GET / HTTP/1.1\r\nX-Session:\r\n\r\n") }
        XCTAssertEqual(Set(rr).count, 5)
        let rr2 = (0..<5).map { _ in httpPick(&b, "GET / HTTP/1.1\r\nX-Other: abc\r\nX-Session: , abc\r\n\r\n") }
        XCTAssertEqual(Set(rr2).count, 5)

        var d = Balancer(servers: servers([1, 1, 1, 1, 1, 1, 1]), algorithm: .header(name: Array("host".utf8), useDomainOnly: true))
        let e = httpPick(&d, "GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
        XCTAssertEqual(httpPick(&d, "GET / HTTP/1.1\r\nHost: api.example.org\r\n\r\n"), e)
        XCTAssertEqual(httpPick(&d, "GET / HTTP/1.1\r\nHost: example.net\r\n\r\n"), e)
        XCTAssertEqual(e, .server(Int(d.map[Int(Array("example".utf8).withUnsafeBytes { BalanceHashFunction.sdbm.hash($0) } % 7)])))
    }

    func testHashedServerAtMaxConnIsReportedFull() {
        var b = Balancer(servers: [BalancerServer(weight: 1, maxConnections: 1), BalancerServer(weight: 1, maxConnections: 1)],
                         algorithm: .source)
        let addr: [UInt8] = [192, 168, 1, 1]
        guard case .server(let s) = addr.withUnsafeBytes({ b.pick(clientAddress: $0) }) else { return XCTFail() }
        b.connectionStarted(server: s)
        XCTAssertEqual(addr.withUnsafeBytes { b.pick(clientAddress: $0) }, .serverFull(s))
        b.setUsable(false, server: 0)
        b.setUsable(false, server: 1)
        XCTAssertEqual(addr.withUnsafeBytes { b.pick(clientAddress: $0) }, .noneUsable)
    }

    // MARK: redispatch

    func testAvoidingAServer() {
        for a in [BalanceAlgorithm.roundRobin, .staticRoundRobin, .leastConnections, .first, .random] {
            var b = Balancer(servers: servers([1, 1, 1]), algorithm: a, seed: 3)
            for _ in 0..<30 {
                guard case .server(let s) = b.pick(avoiding: 0) else { return XCTFail("\(a)") }
                XCTAssertNotEqual(s, 0, "\(a)")
            }
            // the avoided server is used when it is the only one left
            b.setUsable(false, server: 1)
            b.setUsable(false, server: 2)
            XCTAssertEqual(b.pick(avoiding: 0), .server(0), "\(a)")
        }
        // consistent hashing moves on along the ring; map-based keeps its server
        var c = Balancer(servers: servers([1, 1, 1]), algorithm: .source, hashType: BalanceHashType(method: .consistent))
        for k in 0..<200 {
            let h = avalancheHash(UInt32(k))
            guard case .server(let s) = c.pick(hash: h) else { return XCTFail() }
            guard case .server(let t) = c.pick(hash: h, avoiding: s) else { return XCTFail() }
            XCTAssertNotEqual(s, t)
        }
        var m = Balancer(servers: servers([1, 1, 1]), algorithm: .source)
        let kept = m.pick(hash: 7)
        XCTAssertEqual(kept, .server(Int(m.map[7 % 3])))
        XCTAssertEqual(m.pick(hash: 7, avoiding: Int(m.map[7 % 3])), kept)
    }
}

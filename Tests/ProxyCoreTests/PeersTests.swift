import XCTest
@testable import ProxyCore
import Shared

/// The `peers` section (issue 15): the model and HAProxy's messages, and the peers
/// protocol's encoding on known bytes. PeersReplicationTests runs it against HAProxy.
final class PeersTests: XCTestCase {
    func load(_ text: String, localPeer: String? = "lb1") -> LoadResult {
        var options = LoadOptions(resolveServers: false)
        options.localPeerFromCommandLine = localPeer
        return ConfigurationLoader.load(text: text, name: "p.cfg", options: options)
    }

    func messages(_ r: LoadResult) -> String { r.diagnostics.map(\.description).joined(separator: "\n") }

    static let frontend = """
    frontend fe
    \tmode http
    \ttimeout client 1s
    \tbind 127.0.0.1:8080
    \tstick-table type ip size 1k expire 1m store gpc0,http_req_rate(10s) peers mypeers
    \thttp-request track-sc0 src
    \thttp-request track-sc1 src table mypeers/shared

    """

    func testSectionModel() throws {
        let r = load("""
        peers mypeers
        \tpeer lb1 127.0.0.1:10000
        \tpeer lb2 192.168.0.2:10000
        \tserver lb3
        \ttable shared type string len 16 size 10k expire 30s store http_req_cnt
        \(Self.frontend)
        """)
        let config = try XCTUnwrap(r.configuration, messages(r))
        let section = try XCTUnwrap(config.peers.first)
        XCTAssertEqual(section.localPeerName, "lb1")
        XCTAssertEqual(section.bindHost, "127.0.0.1")
        XCTAssertEqual(section.bindPort, 10000)
        XCTAssertEqual(section.remotePeers.map(\.name), ["lb2"])  // lb3 has no address
        XCTAssertEqual(section.tables.map(\.name), ["mypeers/shared"])
        XCTAssertEqual(section.tables.first?.keyType, .string(length: 16))
        XCTAssertEqual(section.tables.first?.peers, "mypeers")
    }

    /// HAProxy 2.x's form: `bind` for the local address, `server` for every peer.
    func testBindAndServerForm() throws {
        let r = load("""
        peers mypeers
        \tbind 127.0.0.1:10001
        \tserver lb1
        \tserver lb2 127.0.0.2:10001
        \tdisabled
        \(Self.frontend.replacingOccurrences(of: "\thttp-request track-sc1 src table mypeers/shared\n", with: ""))
        """)
        let section = try XCTUnwrap(r.configuration?.peers.first, messages(r))
        XCTAssertEqual(section.bindPort, 10001)
        XCTAssertEqual(section.remotePeers.map(\.name), ["lb2"])
        XCTAssertTrue(section.disabled)
    }

    /// `-L` wins over `localpeer`, which wins over the host name; a section without the
    /// local peer is dropped with HAProxy's warning.
    func testLocalPeerName() throws {
        let text = """
        global
        \tlocalpeer lb2
        peers mypeers
        \tpeer lb1 127.0.0.1:10000
        \tpeer lb2 127.0.0.1:10001

        """
        let fromFlag = load(text)
        XCTAssertEqual(fromFlag.configuration?.peers.first?.localPeerName, "lb1")
        XCTAssertTrue(messages(fromFlag).contains("parsing [p.cfg:2] : 'localpeer' ignored since it is already set by using the '-L' command line argument."),
                      messages(fromFlag))
        let fromKeyword = load(text, localPeer: nil)
        XCTAssertEqual(fromKeyword.configuration?.peers.first?.localPeerName, "lb2")
        XCTAssertEqual(fromKeyword.configuration?.peers.first?.bindPort, 10001)
        let missing = load(text, localPeer: "lb9")
        XCTAssertTrue(messages(missing).contains("Removing incomplete section 'peers mypeers' (no peer named 'lb9')."),
                      messages(missing))
    }

    /// Messages compared with `haproxy -c` 2.6 on the same lines.
    func testErrorsInHAProxysWords() {
        let r = load("""
        peers mypeers
        \tpeer lb1 127.0.0.1:10000
        \tpeer lb1 127.0.0.1:10002
        \tpeer lb2 127.0.0.1:abc
        \tshards 2
        \ttable t1 size 10k
        \ttable t2 type ip
        peers mypeers
        peers other
        \tpeer lb1 127.0.0.1:10000
        \ttable t3 type ip size 1k peers other

        """)
        let text = messages(r)
        XCTAssertEqual(r.exitCode, 1)
        for expected in [
            "parsing [p.cfg:3] : 'peer lb1' : local peer name already referenced at p.cfg:2.",
            "[p.cfg:4] : 'server lb1/lb2' : invalid character 'a' in port number 'abc' in '127.0.0.1:abc'",
            "parsing [p.cfg:5] : unknown keyword 'shards' in 'peers' section",
            "parsing [p.cfg:6] : table: missing type.",
            "parsing [p.cfg:7] : table: missing size.",
            "Parsing [p.cfg:8]: peers section 'mypeers' has the same name as another peers section declared at p.cfg:1.",
            "parsing [p.cfg:11] : table: unknown argument 'peers'.",
        ] {
            XCTAssertTrue(text.contains(expected), "missing \(expected) in\n\(text)")
        }
        let mixed = load("peers p\n\tpeer lb1 127.0.0.1:5\n\tbind 127.0.0.1:2\n")
        XCTAssertTrue(messages(mixed).contains("parsing [p.cfg:3] : mixing \"peer\" and \"bind\" line is forbidden"), messages(mixed))
        let localAddress = load("peers p\n\tbind 127.0.0.1:2\n\tserver lb1 127.0.0.1:3\n")
        XCTAssertTrue(messages(localAddress).contains("[p.cfg:3] : 'server lb1/lb1' : unknown keyword '127.0.0.1:3'. Hint: no address was expected for this server."),
                      messages(localAddress))
        // A section with its local peer listens: the configuration may start (exit 0).
        XCTAssertEqual(load("peers p\n\tbind 127.0.0.1:2\n\tserver lb1\n").exitCode, 0)
        let unnamed = load("peers\n")
        XCTAssertTrue(messages(unnamed).contains("parsing [p.cfg:1] : missing name for peers section."), messages(unnamed))
        let unknown = load("\(Self.frontend.replacingOccurrences(of: "\thttp-request track-sc1 src table mypeers/shared\n", with: ""))")
        XCTAssertTrue(messages(unknown).contains("Proxy 'fe': unable to find sync peers 'mypeers'."), messages(unknown))
    }

    // MARK: Protocol

    /// Known bytes from the protocol's table of encoded sizes.
    func testIntegerEncoding() {
        func encoded(_ v: UInt64) -> [UInt8] {
            var out: [UInt8] = []
            PeerProtocol.appendInteger(v, to: &out)
            return out
        }
        XCTAssertEqual(encoded(0), [0])
        XCTAssertEqual(encoded(239), [239])
        XCTAssertEqual(encoded(240), [0xF0, 0x00])
        XCTAssertEqual(encoded(2287), [0xFF, 0x7F])
        XCTAssertEqual(encoded(2288), [0xF0, 0x80, 0x00])
        XCTAssertEqual(encoded(264431).count, 3)
        XCTAssertEqual(encoded(264432).count, 4)
        for value: UInt64 in [0, 1, 239, 240, 241, 2287, 2288, 70000, 264432, 33818864, 4328786159, UInt64(UInt32.max), 1 << 40] {
            var reader = PeerProtocol.Reader(encoded(value))
            XCTAssertEqual(reader.integer(), value)
            XCTAssertTrue(reader.atEnd)
        }
        var truncated = PeerProtocol.Reader([0xF0, 0x80])
        XCTAssertNil(truncated.integer())
    }

    func testHello() {
        XCTAssertEqual(String(decoding: PeerProtocol.hello(to: "lb2", from: "lb1", pid: 42), as: UTF8.self),
                       "HAProxyS 2.1\nlb2\nlb1 42 1\n")
        let peers: Set<String> = ["lb1"]
        XCTAssertEqual(PeerProtocol.judgeHello(["HAProxyS 2.1", "lb2", "lb1 42 1"], localName: "lb2", knownPeers: peers).0, .succeeded)
        XCTAssertEqual(PeerProtocol.judgeHello(["HAProxyS 3.0", "lb2", "lb1 42 1"], localName: "lb2", knownPeers: peers).0, .badVersion)
        XCTAssertEqual(PeerProtocol.judgeHello(["HAProxyS 2.1", "lb9", "lb1 42 1"], localName: "lb2", knownPeers: peers).0, .localNameMismatch)
        XCTAssertEqual(PeerProtocol.judgeHello(["HAProxyS 2.1", "lb2", "lb7 42 1"], localName: "lb2", knownPeers: peers).0, .unknownPeer)
        XCTAssertEqual(PeerProtocol.judgeHello(["GET / HTTP/1.1", "lb2", "lb1"], localName: "lb2", knownPeers: peers).0, .protocolError)
    }

    /// A definition and an update written from one table, read back and applied to
    /// another: the same key, counts, rate and expiry.
    func testUpdateRoundTrip() throws {
        let definition = StickTableDefinition(name: "fe", keyType: .ip, size: 10, expireMs: 60000, peers: "mypeers",
                                              stores: [.gpc0: 0, .httpRequestCount: 0, .httpRequestRate: 10000, .serverKey: 0, .serverID: 0])
        let source = StickTable(definition), target = StickTable(definition)
        let now = 50000
        let body: [UInt8] = source.withLock {
            let entry = source.entry([127, 0, 0, 1], now: now)!
            source.add(.gpc0, 3, to: entry, now: now)
            source.add(.httpRequestCount, 300, to: entry, now: now)
            source.add(.httpRequestRate, 7, to: entry, now: now - 2000)
            source.set(.serverID, 2, of: entry, now: now)
            entry.serverKey = "s2"
            return PeerProtocol.updateBody(entry, in: source, now: now)
        }
        let defined = PeerProtocol.definition(definition, id: 1)
        XCTAssertEqual(Array(defined.prefix(2)), [10, 0x82])
        var reader = PeerProtocol.Reader(defined, from: 2)
        let length = try XCTUnwrap(reader.int())
        let remote = try XCTUnwrap(PeerProtocol.parseDefinition(Array(defined[reader.offset...])))
        XCTAssertEqual(length, defined.count - reader.offset)
        XCTAssertEqual(remote.name, "fe")
        XCTAssertEqual(remote.keyType, 4)
        XCTAssertEqual(remote.keyLength, 4)
        XCTAssertEqual(remote.types, [0, 2, 9, 10, 19])
        XCTAssertTrue(PeerProtocol.fits(remote, definition))

        let message = PeerProtocol.timedUpdate(id: 7, expiresIn: 45000, body: body)
        var messageReader = PeerProtocol.Reader(message, from: 2)
        _ = messageReader.int()
        let update = try XCTUnwrap(PeerProtocol.parseUpdate(.timedUpdate, Array(message[messageReader.offset...]), remote: remote))
        XCTAssertEqual(update.id, 7)
        XCTAssertEqual(update.expiresIn, 45000)
        XCTAssertEqual(update.key, [127, 0, 0, 1])
        var dictionary: [Int: String] = [:]
        let later = 80000  // another process's clock: rates travel as ages
        PeerProtocol.apply(update, to: target, now: later, dictionary: &dictionary)
        target.withLock {
            let entry = target.existing([127, 0, 0, 1], now: later)!
            XCTAssertEqual(target.read(.gpc0, of: entry, now: later), 3)
            XCTAssertEqual(target.read(.httpRequestCount, of: entry, now: later), 300)
            XCTAssertEqual(target.read(.httpRequestRate, of: entry, now: later + 1000), 7)
            XCTAssertEqual(target.read(.serverID, of: entry, now: later), 2)
            XCTAssertEqual(entry.serverKey, "s2")
            XCTAssertEqual(entry.expiresAt, later + 45000)
            // Applied updates are not pushed back to the peers.
            XCTAssertTrue(target.takePendingPushes().isEmpty)
        }
    }

    /// HAProxy 2.6 sends a peers section's table `mypeers/t` as `/t`.
    func testWireNames() {
        XCTAssertEqual(PeerProtocol.wireName(StickTableDefinition(name: "mypeers/t", keyType: .ip, size: 1, peers: "mypeers")), "/t")
        XCTAssertEqual(PeerProtocol.wireName(StickTableDefinition(name: "be", keyType: .ip, size: 1, peers: "mypeers")), "be")
        XCTAssertEqual(PeerProtocol.wireKeyLength(.string(length: 20)), 21)
        XCTAssertEqual(PeerProtocol.wireKeyLength(.string(length: 32)), 32)
    }

    /// Local changes of a replicated table are listed once until the peers take them.
    func testLocalChangesAreListedOnce() {
        let table = StickTable(StickTableDefinition(name: "fe", keyType: .ip, size: 10, stores: [.gpc0: 0]))
        table.replicated = true
        table.withLock {
            let entry = table.entry([10, 0, 0, 1], now: 0)!
            table.add(.gpc0, 1, to: entry, now: 0)
            table.add(.gpc0, 1, to: entry, now: 0)
            XCTAssertEqual(table.takePendingPushes().count, 1)
            XCTAssertTrue(table.takePendingPushes().isEmpty)
            table.add(.gpc0, 1, to: entry, now: 0)
            XCTAssertEqual(table.takePendingPushes().count, 1)
        }
    }
}

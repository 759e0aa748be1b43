import XCTest
import NIOCore
@testable import ProxyCore

/// `set-dst`/`set-dst-port` casts and where a server at `0.0.0.0`/port 0 connects
/// (Runtime/DestinationRewrite.swift); the behaviour beside HAProxy is in
/// SetDestinationComparisonTests.
final class DestinationRewriteTests: XCTestCase {
    func rewritten(_ target: DestinationRewrite.Target, _ expression: String) throws -> ConnectionFacts {
        let rewrite = CompiledDestinationRewrite(DestinationRewrite(target: target, expression: try SampleExpression.parse(expression).get()))
        var facts = RequestFacts(bytes: UnsafeRawBufferPointer(start: nil, count: 0), head: HTTPRequestHead(), headers: [],
                                 connection: ConnectionFacts(remote: nil, local: try SocketAddress(ipAddress: "10.77.0.1", port: 80), tls: nil))
        rewrite.apply(&facts)
        return facts.connection
    }

    func testCastsAsHAProxy() throws {
        XCTAssertEqual(try rewritten(.address, "ipv4(10.77.1.2)").localAddress, [10, 77, 1, 2])
        XCTAssertEqual(try rewritten(.address, "str(10.77.1.3)").localAddress, [10, 77, 1, 3])
        XCTAssertEqual(try rewritten(.address, "int(167772417)").localAddress, [10, 0, 1, 1])  // host order
        XCTAssertEqual(try rewritten(.address, "str(::1)").localAddress, [UInt8](repeating: 0, count: 15) + [1])
        // Not an address: the destination stays, unchanged.
        let kept = try rewritten(.address, "str(nope)")
        XCTAssertEqual(kept.localAddress, [10, 77, 0, 1])
        XCTAssertFalse(kept.destinationChanged)
        XCTAssertEqual(try rewritten(.port, "int(8080)").localPort, 8080)
        XCTAssertEqual(try rewritten(.port, "int(99999)").localPort, 34463)  // the low 16 bits, as HAProxy
        XCTAssertEqual(try rewritten(.port, "str(81abc)").localPort, 81)  // a string's leading digits
        XCTAssertEqual(try rewritten(.port, "int(8080)").destination, try SocketAddress(ipAddress: "10.77.0.1", port: 8080))
    }

    func testServerAtAnyAddressFollowsTheDestination() throws {
        func server(_ ip: String, _ port: Int) throws -> RuntimeServer {
            RuntimeServer(name: "s", index: 0, address: try SocketAddress(ipAddress: ip, port: port), weight: 1,
                          isBackup: false, maxConnections: nil, disabled: false)
        }
        let destination = try SocketAddress(ipAddress: "10.77.0.9", port: 8443)
        XCTAssertEqual(try server("0.0.0.0", 0).connectAddress(destination: destination), destination)
        XCTAssertEqual(try server("0.0.0.0", 81).connectAddress(destination: destination), try SocketAddress(ipAddress: "10.77.0.9", port: 81))
        XCTAssertEqual(try server("10.77.0.5", 0).connectAddress(destination: destination), try SocketAddress(ipAddress: "10.77.0.5", port: 8443))
        XCTAssertEqual(try server("10.77.0.5", 80).connectAddress(destination: destination), try SocketAddress(ipAddress: "10.77.0.5", port: 80))
        XCTAssertFalse(try server("10.77.0.5", 80).followsDestination)
        XCTAssertTrue(try server("0.0.0.0", 80).followsDestination)
    }
}

import XCTest
@testable import VRRPCore

func hexBytes(_ s: String) -> [UInt8] {
    var out: [UInt8] = []
    var it = s.makeIterator()
    while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
    return out
}

final class CodecTests: XCTestCase {
    let src = IPv4Address("10.77.1.1")!
    let vips = [IPv4Address("10.77.1.100")!, IPv4Address("10.77.1.101")!]

    func decode(_ hex: String) -> ReceivedPacket {
        guard case .success(let r) = PacketDecoder.decodeIPv4(hexBytes(hex)) else {
            XCTFail("fixture does not decode"); fatalError()
        }
        return r
    }

    /// Our encoder produces exactly keepalived's bytes, header included.
    func assertEncodes(_ hex: String, _ advert: VRRPAdvert, id: UInt16, file: StaticString = #filePath, line: UInt = #line) {
        let vrrp = advert.encode(source: src, destination: .vrrpGroup)
        let ip = IPv4Header.build(source: src, destination: .vrrpGroup, id: id, payloadLength: vrrp.count)
        XCTAssertEqual((ip + vrrp).map { String(format: "%02x", $0) }.joined(), hex, file: file, line: line)
    }

    func testDecodesKeepalivedV2() {
        let r = decode(KeepalivedFixtures.v2_prio255)
        XCTAssertEqual(r.source, src)
        XCTAssertEqual(r.destination, .vrrpGroup)
        XCTAssertEqual(r.ttl, 255)
        XCTAssertTrue(r.checksumOK)
        XCTAssertEqual(r.advert.version, 2)
        XCTAssertEqual(r.advert.vrid, 51)
        XCTAssertEqual(r.advert.priority, 255)
        XCTAssertEqual(r.advert.interval, 1)
        XCTAssertEqual(r.advert.intervalCentiseconds, 100)
        XCTAssertEqual(r.advert.addresses, vips)
        XCTAssertEqual(r.advert.authType, 0)
        let zero = decode(KeepalivedFixtures.v2_prio0)
        XCTAssertEqual(zero.advert.priority, 0)
        XCTAssertTrue(zero.checksumOK)
    }

    func testEncodesKeepalivedV2ByteForByte() {
        assertEncodes(KeepalivedFixtures.v2_prio255,
                      VRRPAdvert(version: 2, vrid: 51, priority: 255, interval: 1, addresses: vips), id: 1)
        assertEncodes(KeepalivedFixtures.v2_prio0,
                      VRRPAdvert(version: 2, vrid: 51, priority: 0, interval: 1, addresses: vips), id: 4)
    }

    func testV2PasswordAuth() {
        let r = decode(KeepalivedFixtures.v2auth_prio255)
        XCTAssertEqual(r.advert.authType, 1)
        XCTAssertEqual(r.advert.authData, Array("secret12".utf8))
        XCTAssertTrue(r.checksumOK)
        assertEncodes(KeepalivedFixtures.v2auth_prio255,
                      VRRPAdvert(version: 2, vrid: 52, priority: 255, interval: 1, addresses: vips,
                                 auth: .password("secret12")), id: 1)
        var e = AdvertExpectations(version: 2, vrid: 52, auth: .password("secret12"), intervalSeconds: 1, addresses: vips)
        XCTAssertNil(PacketValidator.validate(r, against: e))
        e.auth = .password("secret13")
        XCTAssertEqual(PacketValidator.validate(r, against: e), .authFailure)
        e.auth = .none
        XCTAssertEqual(PacketValidator.validate(r, against: e), .authType)
    }

    func testV3PseudoHeaderChecksum() {
        let r = decode(KeepalivedFixtures.v3_prio255)
        XCTAssertEqual(r.advert.version, 3)
        XCTAssertEqual(r.advert.vrid, 53)
        XCTAssertEqual(r.advert.interval, 10)
        XCTAssertEqual(r.advert.intervalCentiseconds, 10)
        XCTAssertTrue(r.checksumOK)
        assertEncodes(KeepalivedFixtures.v3_prio255,
                      VRRPAdvert(version: 3, vrid: 53, priority: 255, interval: 10, addresses: vips), id: 1)
        assertEncodes(KeepalivedFixtures.v3_prio0,
                      VRRPAdvert(version: 3, vrid: 53, priority: 0, interval: 10, addresses: vips), id: 0x1a)
        // The same bytes from another source fail: the pseudo-header is in the sum.
        var bytes = hexBytes(KeepalivedFixtures.v3_prio255)
        bytes[15] = 2
        guard case .success(let moved) = PacketDecoder.decodeIPv4(bytes) else { return XCTFail() }
        XCTAssertFalse(moved.checksumOK)
    }

    func testValidationDropsEachKindOfBadPacket() {
        let good = hexBytes(KeepalivedFixtures.v2_prio255)
        let e = AdvertExpectations(version: 2, vrid: 51, auth: .none, intervalSeconds: 1, addresses: vips)
        func reason(_ mutate: (inout [UInt8]) -> Void, _ exp: AdvertExpectations? = nil) -> DropReason? {
            var b = good
            mutate(&b)
            switch PacketDecoder.decodeIPv4(b) {
            case .failure(let r): return r
            case .success(let p): return PacketValidator.validate(p, against: exp ?? e)
            }
        }
        XCTAssertNil(reason { _ in })
        XCTAssertEqual(reason { $0[8] = 64 }, .ttl)
        XCTAssertEqual(reason { $0[27] ^= 0xff }, .checksum)
        XCTAssertEqual(reason { $0 = Array($0.prefix(26)) }, .short)
        XCTAssertEqual(reason { $0 = Array($0.prefix(12)) }, .short)
        XCTAssertEqual(reason { $0[20] = 0x22 }, .type)
        XCTAssertEqual(reason { $0[20] = 0x51 }, .version)
        XCTAssertEqual(reason({ _ in }, AdvertExpectations(version: 3, vrid: 51, auth: .none, intervalSeconds: 1, addresses: vips)), .version)
        XCTAssertEqual(reason({ _ in }, AdvertExpectations(version: 2, vrid: 9, auth: .none, intervalSeconds: 1, addresses: vips)), .unknownVRID)
        XCTAssertEqual(reason({ _ in }, AdvertExpectations(version: 2, vrid: 51, auth: .none, intervalSeconds: 2, addresses: vips)), .interval)
        XCTAssertEqual(reason({ _ in }, AdvertExpectations(version: 2, vrid: 51, auth: .none, intervalSeconds: 1, addresses: [vips[0]])), .addressList)
        XCTAssertNil(reason({ _ in }, AdvertExpectations(version: 2, vrid: 51, auth: .none, intervalSeconds: 1, addresses: [vips[0]], checkAddresses: false)))
        XCTAssertEqual(reason({ _ in }, AdvertExpectations(version: 2, vrid: 51, auth: .none, intervalSeconds: 1, addresses: vips, ownAddresses: [src])), .ownAddress)
        XCTAssertEqual(reason({ _ in }, AdvertExpectations(version: 2, vrid: 51, auth: .none, intervalSeconds: 1, addresses: vips, unicastPeers: [IPv4Address("10.77.1.9")!])), .unicastSource)
        // A count that claims more addresses than the packet holds.
        XCTAssertEqual(reason { $0[23] = 9 }, .addressCount)
        XCTAssertEqual(reason { $0[9] = 6 }, .badIPHeader)
    }

    func testGratuitousARPMatchesKeepalived() {
        // keepalived 2.2.7's GARP for 10.77.1.100 from MAC 96:00:84:ca:31:ae, as captured.
        let captured = "ffffffffffff960084ca31ae0806" + "000108000604000196" + "0084ca31ae0a4d0164ffffffffffff0a4d0164"
        let f = GratuitousARP.frame(mac: [0x96, 0x00, 0x84, 0xca, 0x31, 0xae], address: vips[0])
        XCTAssertEqual(f.map { String(format: "%02x", $0) }.joined(), captured)
    }

    func testAddressParsing() {
        XCTAssertEqual(IPv4Address("10.77.0.1")?.description, "10.77.0.1")
        XCTAssertNil(IPv4Address("10.77.0"))
        XCTAssertNil(IPv4Address("10.77.0.256"))
        XCTAssertNil(IPv4Address("10.77.0.x"))
        XCTAssertNil(IPv4Address("10.77..1"))
        XCTAssertTrue(IPv4Address.vrrpGroup.isMulticast)
    }
}

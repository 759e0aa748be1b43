import XCTest
@testable import ProxyCore

/// What a ClientHello's signature_algorithms and ciphers say the client verifies; the
/// choice itself is checked against HAProxy in TLSCertificateChoiceTests.
final class ClientAbilitiesTests: XCTestCase {
    private func abilities(_ algorithms: [UInt16]?, ecdsaSuite: Bool = true) -> ClientAbilities {
        ClientAbilities(signatureAlgorithms: algorithms, offersECDSASuite: ecdsaSuite)
    }

    func testSignatureAlgorithms() {
        XCTAssertEqual(abilities([0x0403]), ClientAbilities(verifiesECDSA: true, verifiesRSA: false))
        XCTAssertEqual(abilities([0x0401]), ClientAbilities(verifiesECDSA: false, verifiesRSA: true))
        XCTAssertEqual(abilities([0x0804]), ClientAbilities(verifiesECDSA: false, verifiesRSA: true),
                       "RSA-PSS counts as RSA (HAProxy 2.6 does not count it)")
        XCTAssertEqual(abilities([0x0807]), ClientAbilities(verifiesECDSA: false, verifiesRSA: false), "Ed25519 only")
        XCTAssertEqual(abilities([0x0403, 0x0804, 0x0401]), ClientAbilities(verifiesECDSA: true, verifiesRSA: true))
    }

    func testECDSANeedsATLS12ECDSASuiteAndNoExtensionMeansRSA() {
        XCTAssertEqual(abilities([0x0403, 0x0804], ecdsaSuite: false), ClientAbilities(verifiesECDSA: false, verifiesRSA: true))
        XCTAssertEqual(abilities(nil), ClientAbilities(verifiesECDSA: false, verifiesRSA: true))
    }

    func testExtensionBodies() {
        let body: [UInt8] = [0x00, 0x04, 0x04, 0x03, 0x08, 0x04]
        XCTAssertEqual(body.withUnsafeBufferPointer(ClientAbilities.signatureAlgorithms), [0x0403, 0x0804])
        let short: [UInt8] = [0x00, 0x06, 0x04, 0x03]
        XCTAssertNil(short.withUnsafeBufferPointer(ClientAbilities.signatureAlgorithms))
        let odd: [UInt8] = [0x00, 0x01, 0x04]
        XCTAssertNil(odd.withUnsafeBufferPointer(ClientAbilities.signatureAlgorithms))
    }
}

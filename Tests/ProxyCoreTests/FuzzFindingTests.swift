import XCTest
@testable import ProxyCore

/// Inputs `scripts/fuzz` found crashing ProxyCore's parsers, cut down to what matters;
/// the fuzzer's own files are in Fuzz/corpus. Each crashed (a trap) before its fix.
final class FuzzFindingTests: XCTestCase {
    /// haproxy-lexer: an error past column 80 on a line with multi-byte characters. The
    /// caret column counts bytes, the echo window characters: the window started past the
    /// end of the line.
    func testLexerErrorEchoWithMultiByteCharacters() {
        let line = "a" + String(repeating: "é", count: 60) + " \"x"
        guard case let .failure(error) = ConfigLexer.split(line, environment: [:]) else {
            return XCTFail("an unmatched quote must be refused")
        }
        XCTAssertTrue(error.message.hasPrefix("unmatched quote at position "), error.message)
    }

    /// client-hello: a server_name extension whose length runs past the end of the
    /// message, with a name entry that does too: the name was read past the message.
    func testClientHelloWithServerNameRunningPastTheMessage() {
        var body: [UInt8] = [0x03, 0x03] + [UInt8](repeating: 0, count: 32) + [0x00]  // version, random, no session id
        body += [0x00, 0x02, 0x13, 0x01, 0x01, 0x00]  // one cipher, one compression method
        let serverName: [UInt8] = [0x00, 0x00, 0x00, 0xff,  // server_name, claiming 255 bytes
                                   0x00, 0x0b,  // list length 11
                                   0x00, 0x00, 0x08] + Array("abc".utf8)  // host_name of 8 bytes, 3 present
        body += [0x00, UInt8(serverName.count)] + serverName
        let handshake: [UInt8] = [0x01, 0x00, 0x00, UInt8(body.count)] + body
        let record: [UInt8] = [0x16, 0x03, 0x01, 0x00, UInt8(handshake.count)] + handshake
        XCTAssertEqual(ClientHelloParser.parse(record), .hello(type: 1, serverName: nil))
    }
}

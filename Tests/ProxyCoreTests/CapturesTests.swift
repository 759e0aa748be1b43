import XCTest
@testable import ProxyCore
import Shared

/// Captures and unique ids (issue 15): the parser's model and messages, and how captures
/// are logged.
final class CapturesTests: XCTestCase {
    func load(_ body: String) -> LoadResult {
        FrontendConfig.load(body)
    }

    func messages(_ r: LoadResult) -> String { FrontendConfig.messages(r) }

    func testSlotsAreNumberedInDeclarationOrder() throws {
        let r = load("""
        \tcapture request header Host len 5
        \tdeclare capture request len 8
        \tdeclare capture response len 4
        \tcapture response header Content-Type len 6
        \thttp-request capture path id 1
        \thttp-request capture req.hdr(x-extra),upper len 3
        \thttp-response capture res.hdr(x-r) id 0
        \tunique-id-format %{+X}o\\ %ci:%cp_%rt
        \tunique-id-header X-Unique-ID
        """)
        XCTAssertEqual(r.exitCode, 0, messages(r))
        let fe = try XCTUnwrap(r.configuration?.proxies.first { $0.name == "fe" })
        XCTAssertEqual(fe.captures.request, [CaptureSlot(header: "Host", length: 5), CaptureSlot(header: nil, length: 8),
                                             CaptureSlot(header: nil, length: 3)])
        XCTAssertEqual(fe.captures.response, [CaptureSlot(header: nil, length: 4), CaptureSlot(header: "Content-Type", length: 6)])
        guard case .capture(let byID) = fe.httpRequestRules[0].action, case .capture(let declared) = fe.httpRequestRules[1].action,
              case .capture(let response) = fe.httpResponseRules[0].action else { return XCTFail("captures") }
        XCTAssertEqual(byID.slot, 1)
        XCTAssertEqual(declared.slot, 2, "`len` declares the next slot")
        XCTAssertEqual(response.slot, 0)
        XCTAssertEqual(fe.uniqueIDFormat?.raw, "%{+X}o %ci:%cp_%rt")
        XCTAssertEqual(fe.uniqueIDHeader, "X-Unique-ID")
    }

    func testErrorsNameTheLine() {
        let cases: [(String, String)] = [
            ("\tcapture request header Host", "parsing [t.cfg:8] : 'capture request' expects 'header' <header_name> 'len' <len>."),
            ("\tcapture foo", "parsing [t.cfg:8] : 'capture' expects 'cookie' or 'request header' or 'response header'."),
            ("\tdeclare capture request", "parsing [t.cfg:8] : 'declare capture' requires a capture length ('len')"),
            ("\thttp-request capture req.hdr(x) id 0", "Proxy 'fe': unable to find capture id '0' referenced by http-request capture rule."),
            ("\thttp-response capture res.hdr(x) len 5", "parsing [t.cfg:8] : error detected in frontend 'fe' while parsing 'http-response capture' rule : expects 'id', found 'len'."),
            ("\tunique-id-format %zz", "Parsing [t.cfg:8]: failed to parse unique-id : no such format variable 'zz'."),
        ]
        for (line, expected) in cases {
            let r = load(line)
            XCTAssertEqual(r.exitCode, 1, line)
            XCTAssertTrue(messages(r).contains(expected), "\(line)\n\(messages(r))")
        }
    }

    func testCapturesAreLoggedAsHAProxyWritesThem() {
        func log(_ captures: [[UInt8]?], braces: Bool) -> String {
            var line: [UInt8] = []
            HeaderCaptures.appendLog(captures, braces: braces, to: &line)
            return String(decoding: line, as: UTF8.self)
        }
        let captures: [[UInt8]?] = [Array("a|b\"".utf8), nil, Array("c d".utf8)]
        XCTAssertEqual(log(captures, braces: true), "{a#7Cb#22||c d}")
        XCTAssertEqual(log(captures, braces: false), "a#7Cb#22 - c d")
        XCTAssertEqual(log([], braces: true), "", "no capture declared: nothing")
    }
}

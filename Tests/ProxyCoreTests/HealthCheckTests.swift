import XCTest
@testable import ProxyCore

/// HAProxy's health arithmetic, driven by results and a fake clock (no sockets, no sleep).
final class HealthStateMachineTests: XCTestCase {
    func testStartsUpAndFirstFailureMarksDown() {
        var h = CheckHealth(rise: 2, fall: 3)
        XCTAssertTrue(h.isUp)
        let change = h.record(passed: false)
        XCTAssertEqual(change, .init(moved: true, transition: .wentDown))
        XCTAssertEqual(h.statusText(), "0/2 DOWN")
    }

    func testFirstSuccessAtStartJumpsToTop() {
        var h = CheckHealth(rise: 2, fall: 3)
        XCTAssertEqual(h.record(passed: true), .init(moved: true, transition: nil))
        XCTAssertEqual(h.statusText(), "3/3 UP")
        XCTAssertEqual(h.record(passed: true), .init(moved: false, transition: nil), "at the top: nothing moves")
    }

    func testFallThenRise() {
        var h = CheckHealth(rise: 2, fall: 3)
        _ = h.record(passed: true)
        XCTAssertEqual(h.record(passed: false).transition, nil)
        XCTAssertEqual(h.statusText(), "2/3 UP")
        XCTAssertEqual(h.record(passed: false).transition, nil)
        XCTAssertEqual(h.statusText(), "1/3 UP")
        XCTAssertEqual(h.record(passed: false).transition, .wentDown)
        XCTAssertEqual(h.statusText(), "0/2 DOWN")
        XCTAssertEqual(h.record(passed: false), .init(moved: false, transition: nil), "at 0 a failure moves nothing")
        XCTAssertEqual(h.record(passed: true).transition, nil)
        XCTAssertEqual(h.statusText(), "1/2 DOWN")
        XCTAssertEqual(h.record(passed: true).transition, .wentUp)
        XCTAssertEqual(h.statusText(), "3/3 UP")
        XCTAssertEqual(h.statusText(draining: true), "3/3 DRAIN")
    }

    func testFailureThatDoesNotCount() {
        var h = CheckHealth(rise: 1, fall: 1)
        XCTAssertEqual(h.record(passed: false, counts: false), .init(moved: false, transition: nil))
        XCTAssertEqual(h.statusText(), "1/1 UP")
        XCTAssertEqual(h.record(passed: false).transition, .wentDown)
        XCTAssertEqual(h.statusText(), "0/1 DOWN")
    }

    /// A fake clock: each check takes no time and the next one comes after the interval
    /// the state machine asks for. `inter 10s fastinter 1s downinter 5s fall 3 rise 2`,
    /// the server dies at t=0 and comes back at t=60 s.
    func testDetectionTimesWithFakeClock() {
        var h = CheckHealth(rise: 2, fall: 3)
        var now = 0
        var events: [(Int, CheckHealth.Transition)] = []
        _ = h.record(passed: true)  // the first check at start: healthy
        now += h.nextInterval(inter: 10_000, fastInter: 1_000, downInter: 5_000)
        XCTAssertEqual(now, 10_000)
        while now < 90_000 {
            let alive = now >= 60_000
            if let t = h.record(passed: alive).transition { events.append((now, t)) }
            now += h.nextInterval(inter: 10_000, fastInter: 1_000, downInter: 5_000)
        }
        // Down: failures at 10 s (then fastinter), 11 s, 12 s → DOWN at 12 s.
        // Up: checks every 5 s while down (17, 22, … 57, 62 s): the first success at
        // 62 s, the second one fastinter later.
        XCTAssertEqual(events.map { $0.0 }, [12_000, 63_000])
        XCTAssertEqual(events.map { $0.1 }, [.wentDown, .wentUp])
    }

    func testIntervalsFallBackToInter() {
        var h = CheckHealth(rise: 2, fall: 3)
        XCTAssertEqual(h.nextInterval(inter: 2000, fastInter: nil, downInter: nil), 2000)
        XCTAssertEqual(h.nextInterval(inter: 2000, fastInter: 500, downInter: nil), 500, "at start: between states")
        _ = h.record(passed: false)
        XCTAssertEqual(h.nextInterval(inter: 2000, fastInter: 500, downInter: nil), 2000, "down: downinter, else inter")
        XCTAssertEqual(h.nextInterval(inter: 2000, fastInter: 500, downInter: 7000), 7000)
    }
}

/// What checks send and how answers are judged, with HAProxy 2.6's wording.
final class HealthCheckEvaluationTests: XCTestCase {
    func testHTTPRequestBytes() {
        XCTAssertEqual(String(decoding: CheckEvaluation.httpRequest(HTTPCheckRequest()), as: UTF8.self),
                       "OPTIONS / HTTP/1.0\r\n\r\n")
        let r = HTTPCheckRequest(method: "GET", uri: "/hc", version: "HTTP/1.1", headers: [("Host", "www")])
        XCTAssertEqual(String(decoding: CheckEvaluation.httpRequest(r), as: UTF8.self),
                       "GET /hc HTTP/1.1\r\nhost: www\r\nconnection: close\r\n\r\n")
        let old = HTTPCheckRequest(method: "HEAD", uri: "/x", version: "HTTP/1.1\r\nHost: foo")
        XCTAssertEqual(String(decoding: CheckEvaluation.httpRequest(old), as: UTF8.self),
                       "HEAD /x HTTP/1.1\r\nhost: foo\r\nconnection: close\r\n\r\n")
    }

    private func response(_ status: String, _ body: String = "") -> [UInt8] {
        Array("HTTP/1.1 \(status)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8)
    }

    private func regex(_ s: String) -> CompiledRegex {
        try! CompiledRegex.compile(s).get()
    }

    func testHTTPJudgement() {
        let ok = CheckEvaluation.judgeHTTP(response("200 OK"), expectations: [])
        XCTAssertEqual(ok, CheckResult(status: .l7ok, code: 200))
        let bad = CheckEvaluation.judgeHTTP(response("500 Internal Server Error"), expectations: [])
        XCTAssertEqual(bad.logDetails,
                       ", reason: Layer7 wrong status, code: 500, info: \"Internal Server Error\", check duration: 0ms")
        // The lab's ssl-termination expectation.
        let lab = [CheckExpectation(kind: .statusRegex(regex("(2|3)[0-9][0-9]")))]
        XCTAssertEqual(CheckEvaluation.judgeHTTP(response("302 Found"), expectations: lab).status, .l7ok)
        XCTAssertEqual(CheckEvaluation.judgeHTTP(response("404 Not Found"), expectations: lab).status, .l7status)
        let status = [CheckExpectation(kind: .status([200...200]))]
        XCTAssertEqual(CheckEvaluation.judgeHTTP(response("204 No Content"), expectations: status).status, .l7status)
        let string = [CheckExpectation(kind: .string("hello"))]
        XCTAssertEqual(CheckEvaluation.judgeHTTP(response("200 OK", "hello\n"), expectations: string).status, .l7ok)
        XCTAssertEqual(CheckEvaluation.judgeHTTP(response("200 OK", "bye"), expectations: string).info,
                       "HTTP content check did not match")
        XCTAssertEqual(CheckEvaluation.judgeHTTP(response("200 OK"), expectations: string).info,
                       "HTTP content check could not find a response body")
        let negated = [CheckExpectation(negated: true, kind: .string("hello"))]
        XCTAssertEqual(CheckEvaluation.judgeHTTP(response("200 OK", "hello"), expectations: negated).info,
                       "HTTP check matched unwanted content")
        XCTAssertEqual(CheckEvaluation.judgeHTTP(response("200 OK", "hi"), expectations: negated).status, .l7ok)
        let rstring = [CheckExpectation(kind: .stringRegex(regex("hel+o")))]
        XCTAssertEqual(CheckEvaluation.judgeHTTP(response("200 OK", "helllo"), expectations: rstring).status, .l7ok)
        XCTAssertEqual(CheckEvaluation.judgeHTTP(Array("+OK hello\r\n".utf8), expectations: []),
                       CheckResult(status: .l7response))
        XCTAssertEqual(CheckEvaluation.parseHead(Array("HTTP/1.1 200 OK\r\n".utf8)), .incomplete)
    }

    /// The head parser works on bytes (step 11): the cuts it makes are the ones the String
    /// version made (lines at CR LF, the status line at its first two spaces, a header at
    /// its first colon with both sides non-empty, the name in any case).
    func testResponseHeadParsedFromBytes() {
        func head(_ text: String) -> CheckEvaluation.HeadParse { CheckEvaluation.parseHead(Array(text.utf8)) }
        typealias Head = CheckEvaluation.HTTPResponseHead
        XCTAssertEqual(head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"),
                       .complete(Head(code: 200, reason: "OK", bodyStart: 38, contentLength: 5)))
        XCTAssertEqual(head("HTTP/1.0 503 Service  Unavailable\r\nCONTENT-LENGTH:\t7 \r\nX: y\r\n\r\n"),
                       .complete(Head(code: 503, reason: "Service  Unavailable", bodyStart: 63, contentLength: 7)))
        XCTAssertEqual(head("HTTP/1.1 204\r\n\r\n"), .complete(Head(code: 204, reason: "", bodyStart: 16, contentLength: nil)))
        // An empty value, a value that is not a number, a name with a leading colon.
        XCTAssertEqual(head("HTTP/1.1 200 OK\r\ncontent-length: 4\r\nContent-Length:\r\n\r\n"),
                       .complete(Head(code: 200, reason: "OK", bodyStart: 55, contentLength: 4)))
        XCTAssertEqual(head("HTTP/1.1 200 OK\r\nContent-Length: 4x\r\n\r\n"),
                       .complete(Head(code: 200, reason: "OK", bodyStart: 39, contentLength: nil)))
        XCTAssertEqual(head("HTTP/1.1 200 OK\r\n:Content-Length: 9\r\n\r\n"),
                       .complete(Head(code: 200, reason: "OK", bodyStart: 39, contentLength: 9)))
        // A bare LF does not end a line; a bare CR stays in the reason.
        XCTAssertEqual(head("HTTP/1.1 200 OK\nContent-Length: 3\r\n\r\n"),
                       .complete(Head(code: 200, reason: "OK\nContent-Length: 3", bodyStart: 37, contentLength: nil)))
        XCTAssertEqual(head("HTTP/1.1 200 OK\r\r\n\r\n"), .complete(Head(code: 200, reason: "OK\r", bodyStart: 20, contentLength: nil)))
        XCTAssertEqual(head("HTTP/1.1 20 OK\r\n\r\n"), .invalid)
        XCTAssertEqual(head("HTTP/1.1 2000 OK\r\n\r\n"), .invalid)
        XCTAssertEqual(head("HTTP/1.1\r\n\r\n"), .invalid)
        XCTAssertEqual(head("HTTX/1.1 200 OK\r\n\r\n"), .invalid)
        XCTAssertEqual(head("HTT"), .incomplete)
        XCTAssertEqual(head("HTX"), .invalid)
        XCTAssertEqual(head(""), .incomplete)
    }

    func testTCPCheckSteps() {
        let expect = CheckExpectation(kind: .string("+OK"))
        XCTAssertEqual(CheckEvaluation.judgeTCP(Array("+OK hi".utf8), expect, step: 2, final: false), .matched)
        XCTAssertEqual(CheckEvaluation.judgeTCP(Array("+O".utf8), expect, step: 2, final: false), .needMore)
        XCTAssertEqual(CheckEvaluation.judgeTCP(Array("-ERR no".utf8), expect, step: 2, final: true),
                       .failed("TCPCHK did not match content '+OK' at step 2"))
        let rstring = CheckExpectation(kind: .stringRegex(regex("^\\+OK")))
        XCTAssertEqual(CheckEvaluation.judgeTCP(Array("-ERR".utf8), rstring, step: 3, final: true),
                       .failed("TCPCHK did not match content (regex) at step 3"))
        XCTAssertEqual(CheckEvaluation.timeoutInfo(expect, step: 2), " at step 2 of tcp-check (expect string '+OK')")
        let binary = CheckExpectation(kind: .binary([0x2b, 0x4f, 0x4b]))
        XCTAssertEqual(CheckEvaluation.judgeTCP(Array("x+OK".utf8), binary, step: 2, final: false), .matched)
        let steps = CheckEvaluation.tcpSteps([.send("PING\r\n"), .expect(expect)])
        XCTAssertEqual(steps.count, 3, "an implicit connect comes first")
    }

    func testAgentWords() {
        typealias R = CheckEvaluation.AgentReply
        XCTAssertEqual(CheckEvaluation.parseAgent("75%\n"), R(weightPercent: 75))
        XCTAssertEqual(CheckEvaluation.parseAgent("drain\n"), R(admin: .drain))
        XCTAssertEqual(CheckEvaluation.parseAgent("maint\n"), R(admin: .maintenance))
        XCTAssertEqual(CheckEvaluation.parseAgent("ready,up 50%\n"), R(weightPercent: 50, admin: .ready, operational: .up))
        XCTAssertEqual(CheckEvaluation.parseAgent("down #going away\n"),
                       R(operational: .down(word: "down", reason: "going away")))
        XCTAssertEqual(CheckEvaluation.parseAgent("stopped\n"), R(operational: .down(word: "stopped", reason: nil)))
        // HAProxy 2.6 ignores a word it does not know, `down#gone` included.
        XCTAssertTrue(CheckEvaluation.parseAgent("down#gone\n").isEmpty)
        XCTAssertEqual(CheckEvaluation.parseAgent("maxconn:30\n"), R(maxconn: 30))
    }

    func testLogDetails() {
        XCTAssertEqual(CheckResult(status: .l4connection, info: "Connection refused").logDetails,
                       ", reason: Layer4 connection problem, info: \"Connection refused\", check duration: 0ms")
        XCTAssertEqual(CheckResult(status: .l4timeout, durationMilliseconds: 1001).logDetails,
                       ", reason: Layer4 timeout, check duration: 1001ms")
        XCTAssertEqual(CheckResult(status: .l7ok, code: 0, info: "(tcp-check)", durationMilliseconds: 3).logDetails,
                       ", reason: Layer7 check passed, code: 0, info: \"(tcp-check)\", check duration: 3ms")
        XCTAssertEqual(CheckStatus.allCases.map(\.code).filter { $0.hasPrefix("L") },
                       ["L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP", "L7TOUT", "L7RSP", "L7OK", "L7OKC", "L7STS"])
    }
}

/// `observe layer4|layer7` with `error-limit`: traffic errors counted like HAProxy's.
final class HealthObserveTests: XCTestCase {
    func testLayer4CountsConnectFailuresAndConnectionsClear() {
        let health = ServerHealth(check: nil, agent: nil, observe: .layer4, errorLimit: 3)
        var reached: [(Int, String)] = []
        health.errorsReached = { reached.append(($0, $1)) }
        health.observed(.connectFailed)
        health.observed(.connectFailed)
        health.observed(.connected)  // clears
        health.observed(.connectFailed)
        health.observed(.connectFailed)
        health.observed(.httpStatus(503))  // not layer4's business
        XCTAssertTrue(reached.isEmpty)
        health.observed(.connectFailed)
        XCTAssertEqual(reached.map(\.0), [3])
        XCTAssertEqual(reached.map(\.1), ["L4 unsuccessful connection"])
    }

    func testLayer7Counts5xxButNot501Nor505() {
        let health = ServerHealth(check: nil, agent: nil, observe: .layer7, errorLimit: 2)
        var reached: [String] = []
        health.errorsReached = { reached.append($1) }
        health.observed(.httpStatus(501))
        health.observed(.httpStatus(505))
        health.observed(.httpStatus(500))
        health.observed(.httpStatus(200))  // clears
        health.observed(.httpStatus(502))
        health.observed(.connected)  // a connection is not an answer: no change
        health.observed(.invalidResponse)
        XCTAssertEqual(reached, ["Invalid http response"])
    }

    func testNoObserveTouchesNothing() {
        let health = ServerHealth(check: nil, agent: nil)
        var called = false
        health.errorsReached = { _, _ in called = true }
        for _ in 0..<20 { health.observed(.connectFailed) }
        XCTAssertFalse(called)
    }

    func testOnErrorArithmetic() {
        var h = CheckHealth(rise: 2, fall: 3)
        _ = h.record(passed: true)  // 3/3 UP
        h.preFatal()
        XCTAssertEqual(h.record(passed: false).transition, nil, "sudden-death: still up…")
        XCTAssertEqual(h.record(passed: false).transition, .wentDown, "…and the next failure marks it down")
        var m = CheckHealth(rise: 2, fall: 3)
        _ = m.record(passed: true)
        m.lastChance()
        XCTAssertEqual(m.record(passed: false).transition, .wentDown, "mark-down")
        XCTAssertEqual(CheckResult(status: .healthAnalyze, info: "Detected 2 consecutive errors, last one was: L4 unsuccessful connection").logDetails,
                       ", reason: Health analyze, info: \"Detected 2 consecutive errors, last one was: L4 unsuccessful connection\"")
    }
}

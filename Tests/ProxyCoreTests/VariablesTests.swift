import XCTest
@testable import ProxyCore
import Shared

/// Variables (issue 15): the parser's model of `set-var`/`set-var-fmt`/`unset-var` and
/// `var()`, sample expressions, HAProxy's casts, converters and scope lifetimes.
final class VariablesTests: XCTestCase {
    func load(_ body: String, global: String = "") -> LoadResult {
        FrontendConfig.load(body, global: global)
    }

    func messages(_ r: LoadResult) -> String { FrontendConfig.messages(r) }

    func testRulesAreModelled() throws {
        let r = load("""
        \thttp-request set-var(txn.user,ifnotexists) req.hdr(x-user),lower if { path_beg /api }
        \thttp-request set-var-fmt(sess.tag) "a-%[src]"
        \thttp-request unset-var(req.x)
        \thttp-response set-var(res.code) status
        \tacl admin var(txn.user) -m str admin
        """, global: "\tset-var proc.site str(edge)")
        XCTAssertEqual(r.exitCode, 0, messages(r))
        let config = try XCTUnwrap(r.configuration)
        let fe = try XCTUnwrap(config.proxies.first { $0.name == "fe" })
        guard case .setVariable(let first) = fe.httpRequestRules[0].action,
              case .expression(let expression) = first.value else { return XCTFail("\(fe.httpRequestRules[0].action)") }
        XCTAssertEqual(first.variable, VariableName(scope: .txn, name: "user"))
        XCTAssertEqual(first.conditions, [.ifnotexists])
        XCTAssertEqual(expression.fetch, .init(name: "req.hdr", arguments: ["x-user"]))
        XCTAssertEqual(expression.converters.map(\.name), ["lower"])
        XCTAssertNotNil(fe.httpRequestRules[0].condition)
        guard case .setVariable(let second) = fe.httpRequestRules[1].action, case .format(let format) = second.value else {
            return XCTFail("set-var-fmt")
        }
        XCTAssertEqual(format.parts, [.literal("a-"), .sample("src")])
        XCTAssertEqual(fe.httpRequestRules[2].action, .setVariable(VariableAssignment(variable: VariableName(scope: .req, name: "x"), value: .unset)))
        guard case .setVariable(let response) = fe.httpResponseRules[0].action else { return XCTFail("http-response") }
        XCTAssertEqual(response.variable.scope, .res)
        XCTAssertEqual(config.global.variables.map(\.variable.description), ["proc.site"])
        let acl = try XCTUnwrap(fe.acls.first { $0.name == "admin" })
        guard case .expression(let fetch) = acl.criterion.fetch else { return XCTFail("var() is no expression") }
        XCTAssertEqual(fetch.fetch.name, "var")
        XCTAssertEqual(acl.criterion.match, .string)
    }

    func testErrorsNameTheLine() {
        let cases: [(String, String)] = [
            ("\thttp-request set-var(foo) str(a)", "parsing [t.cfg:10] : error detected in frontend 'fe' while parsing 'http-request set-var(foo)' rule : invalid variable name 'foo'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'."),
            ("\thttp-request set-var(txn.x) nosuch", "parsing [t.cfg:10] : error detected in frontend 'fe' while parsing 'http-request set-var(txn.x)' rule : unknown fetch method 'nosuch'."),
            ("\thttp-request set-var(txn.x) str(a),nosuch", "parsing [t.cfg:10] : error detected in frontend 'fe' while parsing 'http-request set-var(txn.x)' rule : unknown converter 'nosuch'."),
            ("\thttp-request set-var(txn.x) ssl_c_der", "parsing [t.cfg:10] : error detected in frontend 'fe' while parsing 'http-request set-var(txn.x)' rule : fetch method 'ssl_c_der' is valid in HAProxy but not supported by proxyd yet."),
            ("\tacl x var(txn.x) bar", "parsing [t.cfg:10] : error detected while parsing ACL 'x' : matching method must be specified first (using '-m') when using a sample fetch of this type ('var')."),
        ]
        for (line, expected) in cases {
            let r = load(line)
            XCTAssertEqual(r.exitCode, 1, line)
            XCTAssertTrue(messages(r).contains(expected), "\(line)\n\(messages(r))")
        }
        let global = load("", global: "\tset-var txn.x str(a)")
        XCTAssertTrue(messages(global).contains("parsing [t.cfg:2] : 'set-var': cannot set variable 'txn.x', only scope 'proc' is permitted in the global section."), messages(global))
    }

    func testCastsAndConverters() throws {
        XCTAssertEqual(SampleValue.string(Array("42abc".utf8)).integer, 42)
        XCTAssertEqual(SampleValue.string(Array("-7".utf8)).integer, -7)
        XCTAssertNil(SampleValue.string(Array("abc".utf8)).integer)
        XCTAssertEqual(SampleValue.boolean(true).text, Array("1".utf8))
        XCTAssertEqual(SampleValue.address([10, 0, 0, 1]).text, Array("10.0.0.1".utf8))
        func evaluate(_ text: String, _ values: StreamValues? = nil) throws -> String? {
            let expression = try SampleExpression.parse(text).get()
            return CompiledSample(expression).evaluate(nil, values: values).map { String(decoding: $0.text, as: UTF8.self) }
        }
        XCTAssertEqual(try evaluate("str(MiXed),lower"), "mixed")
        XCTAssertEqual(try evaluate("str(MiXed),upper,length"), "5")
        XCTAssertEqual(try evaluate("int(7),mul(3),sub(1),div(4)"), "5")
        XCTAssertEqual(try evaluate("int(7),mod(0)"), "0")
        XCTAssertEqual(try evaluate("int(-9223372036854775808),div(-1)"), "-9223372036854775808", "no overflow trap")
        XCTAssertEqual(try evaluate("int(3),odd"), "1")
        XCTAssertEqual(try evaluate("str(ab),hex"), "6162")
        XCTAssertEqual(try evaluate("str(a::b:c:),base64"), "YTo6YjpjOg==")
        XCTAssertEqual(try evaluate("str(a::b:c:),field(3,:)"), "b")
        XCTAssertEqual(try evaluate("str(a::b:c:),word(2,:,0)"), "b:c:")
        XCTAssertEqual(try evaluate("str(a::b:c:),field(-2,:,2)"), "b:c")
        XCTAssertEqual(try evaluate("str(a%2Fb+c),url_dec"), "a/b+c")
        XCTAssertNil(try evaluate("str(a%2),url_dec"), "a malformed escape gives no sample")
        XCTAssertEqual(try evaluate("int(0),iif(yes,no)"), "no")
        XCTAssertNil(try evaluate("str(x),add(1)"), "a string with no digits has no integer")
        let values = StreamValues()
        values.set(VariableName(scope: .txn, name: "n"), .integer(10))
        XCTAssertEqual(try evaluate("int(5),add(txn.n)", values), "15")
        XCTAssertEqual(try evaluate("str(a),concat(<,txn.n,>)", values), "a<10>")
        XCTAssertEqual(try evaluate("var(txn.none,dflt)", values), "dflt")
        XCTAssertNil(try evaluate("var(txn.none)", values))
    }

    func testScopesLiveAsInHAProxy() throws {
        let values = StreamValues()
        let txn = VariableName(scope: .txn, name: "a"), sess = VariableName(scope: .sess, name: "a")
        let req = VariableName(scope: .req, name: "a"), res = VariableName(scope: .res, name: "a")
        values.set(txn, .integer(1)); values.set(sess, .integer(2)); values.set(req, .integer(3))
        values.endRequestProcessing()
        XCTAssertNil(values.get(req), "req variables end with the request's processing")
        XCTAssertEqual(values.get(txn), .integer(1))
        values.set(res, .integer(4))
        XCTAssertEqual(values.get(res), .integer(4))
        values.beginTransaction()
        XCTAssertNil(values.get(txn))
        XCTAssertNil(values.get(res))
        XCTAssertEqual(values.get(sess), .integer(2), "sess variables live as long as the connection")
    }

    func testGlobalSetVarFillsProcessVariables() throws {
        ProcessVariables.setUp([
            VariableAssignment(variable: VariableName(scope: .proc, name: "a"), value: .expression(try SampleExpression.parse("int(20),add(1)").get())),
            VariableAssignment(variable: VariableName(scope: .proc, name: "b"),
                               value: .format(try HTTPRuleParser.format("x-%[var(proc.a)]").get())),
        ])
        defer { ProcessVariables.shared.removeAll() }
        XCTAssertEqual(ProcessVariables.shared.get("a"), .integer(21))
        XCTAssertEqual(ProcessVariables.shared.get("b"), .string(Array("x-21".utf8)))
    }
}

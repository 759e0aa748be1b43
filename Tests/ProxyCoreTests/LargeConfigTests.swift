import XCTest
@testable import ProxyCore

/// A generated configuration with thousands of servers and hundreds of backends: every
/// server and backend reaches the runtime API, in config order, with its own settings.
/// (How long loading takes is measured by `scripts/bench`, not here.)
final class LargeConfigTests: XCTestCase {
    static let bigServers = 2_000
    static let smallBackends = 300

    /// `big` (2,000 checked servers), `trackers` (one server tracking each tenth big one),
    /// and 300 one-server backends reached by `use_backend` rules.
    static func config() -> String {
        var text = """
            global
                nbthread 1
                stats socket /tmp/unused.sock level admin

            defaults
                mode http
                timeout connect 5s
                timeout client 30s
                timeout server 30s

            frontend fe
                bind 127.0.0.1:1

            """
        for b in 0..<smallBackends {
            text += "    use_backend small\(b) if { path_beg /small\(b)/ }\n"
        }
        text += "    default_backend big\n\nbackend big\n"
        for i in 0..<bigServers {
            text += "    server s\(i) 10.\(i / 250).\(i % 250).1:\(8000 + i % 100) check inter 2s weight \(1 + i % 7)\n"
        }
        text += "\nbackend trackers\n"
        for i in stride(from: 0, to: bigServers, by: 10) {
            text += "    server t\(i) 10.200.\(i / 250).\(i % 250):80 track big/s\(i)\n"
        }
        for b in 0..<smallBackends {
            text += "\nbackend small\(b)\n    server only 10.201.\(b / 250).\(b % 250):80\n"
        }
        return text
    }

    func testEveryServerOfALargeConfigReachesTheRuntimeAPI() throws {
        let result = ConfigurationLoader.load(text: Self.config(), name: "large.cfg")
        XCTAssertEqual(result.diagnostics.map(\.description), [])
        let configuration = try XCTUnwrap(result.configuration)
        XCTAssertEqual(configuration.proxies.count, 2 + 1 + Self.smallBackends)
        let runtime = try RuntimeBuilder.build(configuration, threads: 1)
        defer { runtime.shutdown() }
        let plane = ControlPlane(runtime: runtime, configuration: configuration)

        // `show stat`: frontend, then each backend's servers and its BACKEND row, in order.
        let stat = plane.execute("show stat")
        let rows = stat.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        var expected = ["fe/FRONTEND"]
        expected += (0..<Self.bigServers).map { "big/s\($0)" } + ["big/BACKEND"]
        expected += stride(from: 0, to: Self.bigServers, by: 10).map { "trackers/t\($0)" } + ["trackers/BACKEND"]
        for b in 0..<Self.smallBackends { expected += ["small\(b)/only", "small\(b)/BACKEND"] }
        XCTAssertEqual(rows.map { "\($0[0])/\($0[1])" }, expected)
        // Server ids count from 1 in each backend; proxy ids from 2 in config order.
        let last = try XCTUnwrap(rows.first { $0[0] == "big" && $0[1] == "s\(Self.bigServers - 1)" })
        XCTAssertEqual(last[27], "3", "iid")
        XCTAssertEqual(last[28], "\(Self.bigServers)", "sid")
        XCTAssertEqual(last[18], "\(1 + (Self.bigServers - 1) % 7)", "weight")

        // `show servers state`: one line per server of the backend, with its address.
        let state = plane.execute("show servers state big")
        let lines = state.split(separator: "\n").dropFirst(2)
        XCTAssertEqual(lines.count, Self.bigServers)
        for (i, line) in lines.enumerated() {
            let fields = line.split(separator: " ")
            XCTAssertEqual(fields[2], "\(i + 1)"[...])
            XCTAssertEqual(fields[3], "s\(i)"[...])
            XCTAssertEqual(fields[4], "10.\(i / 250).\(i % 250).1"[...])
        }
        let all = plane.execute("show servers state")
        let serverLines = all.split(separator: "\n").dropFirst(2)
        XCTAssertEqual(serverLines.count, Self.bigServers + Self.bigServers / 10 + Self.smallBackends)
        XCTAssertTrue(all.contains("\n\(Self.smallBackends + 4) small\(Self.smallBackends - 1) 1 only 10.201.1.49 "), all.suffix(300).description)

        // The runtime API finds the last server of each kind by name.
        XCTAssertEqual(plane.execute("get weight big/s\(Self.bigServers - 1)"),
                       "\(1 + (Self.bigServers - 1) % 7) (initial \(1 + (Self.bigServers - 1) % 7))\n\n")
        XCTAssertEqual(plane.execute("get weight small\(Self.smallBackends - 1)/only"), "1 (initial 1)\n\n")
    }

    func testNameClashesAndTrackErrorsAreStillFoundInLargeConfigs() throws {
        let lines = Self.config().split(separator: "\n", omittingEmptySubsequences: false)
        let first = try XCTUnwrap(lines.firstIndex(of: "backend big")) + 1
        let clash = ConfigurationLoader.load(text: Self.config() + "\nbackend big\n    server x 10.0.0.1:80\n",
                                             name: "large.cfg")
        XCTAssertNil(clash.configuration)
        XCTAssertEqual(clash.diagnostics.first?.description,
                       "[ALERT]    (0) : config : Parsing [large.cfg:\(lines.count + 1)]: backend 'big' has the same name as backend 'big' declared at large.cfg:\(first).")

        var text = Self.config()
        text += "\nbackend late\n    server a 10.0.0.1:80 track big/s\(Self.bigServers)\n"
        text += "    server b 10.0.0.1:80 track small\(Self.smallBackends)/only\n"
        // A tracker may be tracked (a chain, as HAProxy 2.6 accepts); an unchecked server may not.
        text += "    server c 10.0.0.1:80 track trackers/t10\n"
        text += "    server d 10.0.0.1:80 track small0/only\n"
        let result = ConfigurationLoader.load(text: text, name: "large.cfg")
        XCTAssertNil(result.configuration)
        let messages = result.diagnostics.map(\.description)
        XCTAssertEqual(messages.filter { $0.contains("'server late/") }.map { $0.components(separatedBy: "' : ").last! }, [
            "unable to find required server 's\(Self.bigServers)' for tracking.",
            "unable to find required proxy 'small\(Self.smallBackends)' for tracking.",
            "unable to use small0/only for tracking as it does not have any check nor agent enabled.",
        ])
    }
}

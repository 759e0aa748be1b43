import Foundation
import XCTest

/// proxyd's HTML stats page beside the real HAProxy 2.6's, on the same config and
/// traffic (Support/StatsSideBySide): the same elements, classes and cells, and
/// screenshots of both that look alike.
final class StatsPageParityTests: XCTestCase {
    /// A page as a list of tags (with their attributes) and trimmed texts, from `<body>`.
    static func tokens(_ html: String) -> [String] {
        let body = html.range(of: "<body").map { String(html[$0.lowerBound...]) } ?? html
        let expression = try! NSRegularExpression(pattern: "<[^>]+>|[^<]+")
        let range = NSRange(body.startIndex..., in: body)
        return expression.matches(in: body, range: range).compactMap { match in
            let token = String(body[Range(match.range, in: body)!]).trimmingCharacters(in: .whitespacesAndNewlines)
            return token.isEmpty ? nil : token
        }
    }

    /// What legitimately differs, taken out: the product line (`<h1>`), HAProxy's links
    /// to its web site and JSON schema, the admin actions offered (proxyd has no agent
    /// checks, NOLB or session kill; StatsHTML.adminActions); and values that depend on the moment: numbers
    /// and durations become `N` and `T`, the bit rate `R`.
    static func shape(_ html: String) -> [String] {
        // Thousands groups go: how many there are depends on the moment.
        var text = html.replacingOccurrences(of: "(<span class=\"rls\">[0-9]+</span>)+", with: "",
                                             options: .regularExpression)
        let removals = [
            "<h1>.*?</h1>",
            " \\(<a href=\"[^\"]*;json-schema\">schema</a>\\)",
            "<option value=\"[^\"]*\">[^<]*</option>",
            "(?s)<td align=\"left\" valign=\"top\" nowrap width=\"1%\"><b>External resources:</b>.*?</ul></td>",
        ]
        for pattern in removals {
            text = text.replacingOccurrences(of: pattern, with: "", options: [.regularExpression])
        }
        return tokens(text).map { token in
            token.hasPrefix("<") ? token : mask(token)
        }
    }

    static func mask(_ text: String) -> String {
        var text = maskTimes(text)
        for (pattern, replacement) in [("bit rate = [0-9.]+ [kMG]?bps", "bit rate = R"), ("^\\?$", "T"),
                                       ("[0-9]+", "N")] {
            text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return text
    }

    /// Durations (`3s`, `1m4s`) become `T` and check times `in Nms`; other numbers stay.
    /// HAProxy's `* ` before a check status (a check running at that moment) goes too.
    static func maskTimes(_ text: String) -> String {
        var text = text
        for (pattern, replacement) in [("\\b[0-9]+[dhms]([0-9]+[hms])?\\b", "T"), ("in [0-9]+ms", "in Nms"),
                                       ("^\\* ", "")] {
            text = text.replacingOccurrences(of: pattern, with: replacement, options: .regularExpression)
        }
        return text
    }

    /// The visible cells of the row anchored `proxy/name` (tooltips left out).
    static func cells(_ tokens: [String], row anchor: String) -> [String]? {
        // From the name cell: an admin page's checkbox cell before it is left out.
        guard let start = tokens.firstIndex(of: "<a name=\"\(anchor)\">"), start > 0 else { return nil }
        let rowStart = start - 2
        var cells: [String] = []
        var tables = 0, divs = 0
        for token in tokens[(rowStart + 1)...] {
            if token.hasPrefix("<table") { tables += 1 } else if token == "</table>" { tables -= 1 }
            if token.hasPrefix("<div") { divs += 1 } else if token == "</div>" { divs -= 1 }
            if tables == 0, divs == 0 {
                if token == "</tr>" { break }
                if token.hasPrefix("<td") {
                    cells.append(token.contains("colspan") ? "[\(token)]" : "")
                } else if !token.hasPrefix("<"), !cells.isEmpty {
                    cells[cells.count - 1] += token
                } else if token == "<i>" || token == "</i>" {
                    cells[cells.count - 1] += token
                }
            }
        }
        return cells
    }

    /// The first place two token lists part, with what comes before it.
    static func firstDifference(_ a: [String], _ b: [String]) -> String? {
        for i in 0..<max(a.count, b.count) where i >= a.count || i >= b.count || a[i] != b[i] {
            let context = a[max(0, i - 6)..<min(a.count, i)].joined(separator: " ")
            return "at token \(i) after …\(context): haproxy \(i < a.count ? a[i] : "(end)"), proxyd \(i < b.count ? b[i] : "(end)")"
        }
        return nil
    }

    func testPageHasHAProxysStructureAndCells() throws {
        let pair = try StatsSideBySide()
        defer { pair.stop() }
        let hapPage = try pair.sides[0].page(), pxdPage = try pair.sides[1].page()
        let hapShape = Self.shape(hapPage), pxdShape = Self.shape(pxdPage)
        XCTAssertGreaterThan(hapShape.count, 1000)
        XCTAssertNil(Self.firstDifference(hapShape, pxdShape), "the page's elements, classes and masked texts")

        // The product is proxyd, with its own version; HAProxy's links are not there.
        XCTAssertTrue(pxdPage.contains(">proxyd version "), "proxyd names itself")
        XCTAssertFalse(pxdPage.contains("HAProxy version"))
        XCTAssertFalse(pxdPage.contains("haproxy.org"))

        // Cell by cell where the value depends on config and traffic, not on the moment:
        // everything but the rates, maxima, byte counts and times.
        let variable: Set<Int> = [4, 5, 8, 13, 14]  // columns after the name cell: rate, rate max, smax, in, out
        let hapTokens = Self.tokens(hapPage), pxdTokens = Self.tokens(pxdPage)
        let rows = ["pool/a", "pool/b", "pool/c", "pool/d", "pool/e", "pool/Backend",
                    "redispatch/r1", "redispatch/ok", "redispatch/Backend", "tcpx/r1", "tcpx/ok", "tcpx/Backend"]
        for row in rows {
            guard let hap = Self.cells(hapTokens, row: row), let pxd = Self.cells(pxdTokens, row: row) else {
                XCTFail("\(row): row missing"); continue
            }
            XCTAssertEqual(hap.count, pxd.count, "\(row): cells \(hap) / \(pxd)")
            for (index, (h, p)) in zip(hap, pxd).enumerated() where !variable.contains(index) {
                // Durations (last change, last session, downtime) and check times vary.
                XCTAssertEqual(Self.maskTimes(h), Self.maskTimes(p), "\(row) cell \(index)")
            }
        }
        // A few cells spelled out, as an operator reads them.
        // (Cells after the name: 1-3 queue, 4-6 session rate, 7-12 sessions, 13-14 bytes,
        // 15-16 denied, 17-19 errors, 20-21 warnings, 22 status, 23 last check, 24 weight…)
        let e = Self.cells(pxdTokens, row: "pool/e") ?? []
        XCTAssertEqual(e.count, 29, "an unchecked server: Chk, Dwn and Dwntme in one cell")
        if e.count == 29 {
            XCTAssertEqual(e[9], "7", "session limit")
            XCTAssertEqual(e[24], "20/20", "weight shown while draining")
            XCTAssertTrue(e[22].hasSuffix("DRAIN &darr;") || e[22].hasSuffix("DRAIN ↓"), e[22])
        }
        let a = Self.cells(pxdTokens, row: "pool/a") ?? []
        XCTAssertEqual(a.count, 31)
        if a.count == 31 {
            XCTAssertEqual(a[9], "-", "no limit")
            XCTAssertEqual(a[24], "1/1")
            XCTAssertEqual(a[25], "Y")
            XCTAssertTrue(Self.maskTimes(a[23]).hasSuffix("L4OK in Nms"), a[23])
        }
        let r1 = Self.cells(pxdTokens, row: "redispatch/r1") ?? []
        if r1.count > 21 { XCTAssertEqual(r1[10] + "/" + r1[11] + "/" + r1[21], "3/3/3", "stot/lbtot/wredis") }

        // `;scope=` (and the form's `?scope=`) keep the proxies whose name contains it.
        for side in pair.sides {
            for suffix in [";scope=redis", "?scope=redis"] {
                let scoped = try side.page(suffix)
                XCTAssertTrue(scoped.contains("<a name=\"redispatch\">"), "\(side.name) \(suffix)")
                XCTAssertFalse(scoped.contains("<a name=\"pool\">"), "\(side.name) \(suffix)")
                XCTAssertTrue(scoped.contains("<input value=\"redis\" name=\"scope\""), "\(side.name) \(suffix)")
                XCTAssertTrue(scoped.contains("<a href=\"/stats;up?scope=redis\">Hide 'DOWN' servers</a>"),
                              "\(side.name) \(suffix)")
            }
        }
        let hapUp = Self.shape(try pair.sides[0].page(";up")), pxdUp = Self.shape(try pair.sides[1].page(";up"))
        XCTAssertNil(Self.firstDifference(hapUp, pxdUp), "the ;up page")

        try compareScreenshots(pair)
    }

    /// Headless Chromium draws both pages; the two pictures must have the same colours
    /// in about the same amounts (the legend, title bars and one colour per row state)
    /// and the first proxy's title bar at about the same height.
    private func compareScreenshots(_ pair: StatsSideBySide) throws {
        let chromium = try ControlClient.require("chromium", package: "chromium")
        let python = "/usr/bin/python3"
        guard (try? ControlClient.run(python, ["-c", "import PIL"], timeout: 10).status) == 0 else {
            throw XCTSkip("python3-pil is not installed (scripts/install-deps installs it)")
        }
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("stt-shots-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        var measures: [[String: Int]] = []
        for side in pair.sides {
            let shot = directory.appendingPathComponent(side.name + ".png").path
            _ = try ControlClient.run(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                                             "--window-size=1400,1800", "--screenshot=" + shot,
                                             "http://127.0.0.1:\(side.statsPort)/stats"], timeout: 60)
            let output = try ControlClient.run(python, ["-c", Self.measureScript, shot], timeout: 30).output
            let values = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Int] ?? [:]
            measures.append(values)
        }
        let (hap, pxd) = (measures[0], measures[1])
        print("screenshot pixels, haproxy: \(hap.sorted { $0.key < $1.key })")
        print("screenshot pixels, proxyd:  \(pxd.sorted { $0.key < $1.key })")
        // Colours each page must show, and must show in about the same amount.
        for name in ["titre", "pxname", "frontend", "active_up", "backup_up", "active_down", "maintain",
                     "active_draining", "backup_no_check", "active_going_up", "active_going_down", "backup_going_up"] {
            let h = hap[name] ?? 0, p = pxd[name] ?? 0
            XCTAssertGreaterThan(h, 0, "haproxy shows \(name)")
            XCTAssertGreaterThan(p, 0, "proxyd shows \(name)")
            let ratio = Double(p) / Double(max(1, h))
            XCTAssertTrue(ratio > 0.8 && ratio < 1.25, "\(name): proxyd \(p) px, haproxy \(h) px")
        }
        for key in ["first_pxname_y", "last_row_y"] {
            let h = hap[key] ?? -1, p = pxd[key] ?? -1
            XCTAssertGreaterThan(h, 0, key)
            XCTAssertLessThanOrEqual(abs(h - p), max(12, h / 50), "\(key): proxyd \(p), haproxy \(h)")
        }
    }

    /// Counts the pixels of each state colour, and finds where the first proxy title bar
    /// starts and the last coloured row ends (python3-pil).
    static let measureScript = """
    import json, sys
    from PIL import Image
    colours = {"titre": (0x20, 0xd0, 0xd0), "pxname": (0xb0, 0x00, 0x40), "frontend": (0xe8, 0xe8, 0xd0),
               "active_up": (0xc0, 0xff, 0xc0), "backup_up": (0xb0, 0xd0, 0xff), "active_down": (0xff, 0x90, 0x90),
               "maintain": (0xc0, 0x78, 0x20), "active_draining": (0x20, 0xa0, 0xff),
               "backup_no_check": (0xe0, 0xe0, 0xe0), "active_going_up": (0xff, 0xd0, 0x20),
               "active_going_down": (0xff, 0xff, 0xa0), "backup_going_up": (0xff, 0x80, 0xff)}
    image = Image.open(sys.argv[1]).convert("RGB")
    width, height = image.size
    found = {rgb: n for n, rgb in image.getcolors(width * height)}
    result = {name: found.get(rgb, 0) for name, rgb in colours.items()}
    rows = {colours[n] for n in ("active_up", "active_down", "maintain", "active_draining", "backup_no_check")}
    result["first_pxname_y"], result["last_row_y"] = -1, -1
    for y in range(height):
        line = {rgb for _, rgb in image.crop((0, y, width, y + 1)).getcolors(width)}
        if result["first_pxname_y"] < 0 and colours["pxname"] in line:
            result["first_pxname_y"] = y
        if line & rows:
            result["last_row_y"] = y
    print(json.dumps(result))
    """
}

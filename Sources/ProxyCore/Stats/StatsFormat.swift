import Shared
/// `show stat` as CSV, typed lines or JSON, byte for byte as HAProxy 2.6 prints them.
public enum StatsFormat {
    /// `# pxname,svname,…,agg_check_status,-,ssl_sess,…,h1_spliced_bytes_out,`
    public static var csvHeader: String {
        "# " + StatFields.names[..<StatFields.fixedCount].joined(separator: ",") + ",-,"
            + StatFields.names[StatFields.fixedCount...].joined(separator: ",") + ",\n"
    }

    public static func csvLine(_ row: StatRow) -> String {
        var line = ""
        line.reserveCapacity(400)
        for (index, value) in row.values.enumerated() {
            if index == StatFields.fixedCount { line += "-," }
            line += csvField(value.csv)
            line += ","
        }
        return line + "\n"
    }

    /// HAProxy's csv_enc: quotes a field that holds a comma, a quote or a line break.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingAll("\"", with: "\"\"") + "\""
    }

    public static func csv(_ rows: [StatRow]) -> String {
        var out = csvHeader
        for row in rows { out += csvLine(row) }
        return out
    }

    /// `F.2.0.4.scur.1:MGP:u32:0`: one line per non-empty field.
    public static func typed(_ rows: [StatRow]) -> String {
        var out = ""
        for row in rows {
            for (index, value) in row.values.enumerated() where value != .empty {
                out += "\(row.kind.letter).\(row.proxyID).\(row.serverID).\(index).\(StatFields.names[index]).1:"
                out += StatFields.tag(index, row.kind) + ":" + value.csv + "\n"
            }
        }
        return out
    }

    public static func json(_ rows: [StatRow]) -> String {
        var objects: [String] = []
        for row in rows {
            var items: [String] = []
            for (index, value) in row.values.enumerated() where value != .empty {
                let tag = StatFields.tag(index, row.kind)
                items.append("{\"objType\":\"\(row.kind.jsonName)\",\"proxyId\":\(row.proxyID),\"id\":\(row.serverID),"
                    + "\"field\":{\"pos\":\(index),\"name\":\"\(StatFields.names[index])\"},\"processNum\":1,"
                    + jsonTags(tag) + ",\"value\":" + jsonValue(value, type: tag) + "}")
            }
            objects.append("[" + items.joined(separator: ",") + "]")
        }
        return "[" + objects.joined(separator: ",") + "]\n"
    }

    static let origins: [Character: String] = ["K": "Key", "C": "Config", "P": "Product", "M": "Metric", "S": "Status"]
    static let natures: [Character: String] = ["A": "Age", "a": "Avg", "C": "Counter", "D": "Duration", "G": "Gauge",
                                               "L": "Limit", "M": "Max", "N": "Name", "O": "Output", "R": "Rate", "T": "Time"]
    static let scopes: [Character: String] = ["P": "Process", "S": "Service", "s": "System"]

    /// `"tags":{"origin":"Metric","nature":"Gauge","scope":"Process"}` from `MGP:u32`.
    static func jsonTags(_ tag: String) -> String {
        let letters = Array(tag.prefix(3))
        return "\"tags\":{\"origin\":\"\(origins[letters[0]] ?? "Unknown")\",\"nature\":\"\(natures[letters[1]] ?? "Unknown")\","
            + "\"scope\":\"\(scopes[letters[2]] ?? "Unknown")\"}"
    }

    static func jsonValue(_ value: StatValue, type tag: String) -> String {
        let type = String(tag.split(separator: ":").last ?? "str")
        switch value {
        case .number(let n) where type != "str": return "{\"type\":\"\(type)\",\"value\":\(n)}"
        default: return "{\"type\":\"str\",\"value\":\(jsonString(value.csv))}"
        }
    }

    static func jsonString(_ text: String) -> String { JSONText.quoted(text) }
}

extension String {
    /// Replaces every occurrence of `target` (no Foundation).
    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty, firstRange(of: target) != nil else { return self }
        var out = ""
        var rest = self[...]
        while let range = rest.firstRange(of: target) {
            out += rest[..<range.lowerBound]
            out += replacement
            rest = rest[range.upperBound...]
        }
        return out + rest
    }
}

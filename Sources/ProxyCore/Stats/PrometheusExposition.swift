/// The Prometheus text exposition of HAProxy 2.6's built-in exporter
/// (`http-request use-service prometheus-exporter`): the same metric names, types, help
/// and labels, read from the same rows as `show stat` and `show info`.
public enum PrometheusExposition {
    /// Server metrics HAProxy prints as NaN when the field is empty.
    static let notANumberWhenEmpty: Set<String> = [
        "haproxy_server_limit_sessions", "haproxy_server_queue_limit", "haproxy_server_check_failures_total",
        "haproxy_server_check_up_down_total", "haproxy_server_downtime_seconds_total",
    ]
    static let serverStates = ["DOWN", "UP", "MAINT", "DRAIN", "NOLB"]
    static let codes = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"]

    public static func render(_ context: StatsContext) -> String {
        var out = ""
        let info = ShowInfo.values(context)
        for family in PrometheusTable.process {
            guard case .number(let value) = info[family.field] ?? .empty else { continue }
            out += header(family) + "\(family.name) \(value)\n"
        }
        let rows = context.rows()
        out += section(PrometheusTable.frontend, rows.filter { $0.kind == .frontend })
        out += section(PrometheusTable.backend, rows.filter { $0.kind == .backend })
        out += section(PrometheusTable.server, rows.filter { $0.kind == .server })
        return out
    }

    static func header(_ family: (name: String, type: String, help: String, field: String)) -> String {
        "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.type)\n"
    }

    static func labels(_ row: StatRow) -> String {
        let proxy = "proxy=\"\(escape(row["pxname"].csv))\""
        return row.kind == .server ? proxy + ",server=\"\(escape(row["svname"].csv))\"" : proxy
    }

    static func section(_ families: [(name: String, type: String, help: String, field: String)],
                        _ rows: [StatRow]) -> String {
        var out = ""
        for family in families {
            out += header(family)
            switch family.field {
            case "status":
                for row in rows {
                    let status = row["status"].csv
                    if row.kind == .server {
                        // `UP 1/3`, `DRAIN 2/3`…: the state without the health counter.
                        let word = status.split(separator: " ").first.map(String.init) ?? status
                        let state = status == "no check" ? "UP" : word
                        for name in serverStates {
                            out += "\(family.name){\(labels(row)),state=\"\(name)\"} \(name == state ? 1 : 0)\n"
                        }
                    } else {
                        let up = status == "OPEN" || status == "UP"
                        out += "\(family.name){\(labels(row)),state=\"DOWN\"} \(up ? 0 : 1)\n"
                        out += "\(family.name){\(labels(row)),state=\"UP\"} \(up ? 1 : 0)\n"
                    }
                }
            case "hrsp":
                for (slot, code) in codes.enumerated() {
                    let field = "hrsp_" + (slot == 5 ? "other" : code)
                    for row in rows {
                        guard case .number(let value) = row[field] else { continue }
                        out += "\(family.name){\(labels(row)),code=\"\(code)\"} \(value)\n"
                    }
                }
            default:
                // Times are kept in milliseconds and exposed in seconds, with six decimals.
                let milliseconds = family.name.hasSuffix("time_seconds") || family.name.hasSuffix("time_average_seconds")
                for row in rows {
                    switch row[family.field] {
                    case .number(let value) where milliseconds:
                        out += "\(family.name){\(labels(row))} \(value / 1000).\(String(value % 1000 * 1000).leftPadded(to: 6))\n"
                    case .number(let value):
                        out += "\(family.name){\(labels(row))} \(value)\n"
                    case .empty where notANumberWhenEmpty.contains(family.name):
                        out += "\(family.name){\(labels(row))} NaN\n"
                    default:
                        continue
                    }
                }
            }
        }
        return out
    }

    static func escape(_ text: String) -> String {
        text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"").replacingAll("\n", with: "\\n")
    }
}

private extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}

import Shared

/// Pattern files for `acl NAME FETCH -f FILE` (and `-M`: a map file, whose lines are
/// `KEY VALUE` and whose keys are the patterns), read as HAProxy 2.6 reads them: a line
/// starting with `#` is a comment, leading blanks go, the rest of the line up to its end
/// (inner and trailing blanks included) is one pattern, empty lines are skipped.
enum PatternFile {
    struct Entry: Equatable {
        var line: Int
        var key: String
        /// The map value (after the key and its blanks); nil in a pattern file.
        var value: String?
    }

    /// The entries of `path`, or HAProxy's words when it cannot be read.
    static func read(_ path: String, asMap: Bool) -> Result<[Entry], ACLParser.Failure> {
        guard case let .success(bytes) = FileSystem.read(path) else {
            return .failure(ACLParser.Failure(message: "failed to open pattern file <\(path)>"))
        }
        return .success(parse(bytes, asMap: asMap))
    }

    static func parse(_ bytes: [UInt8], asMap: Bool) -> [Entry] {
        var entries: [Entry] = []
        var number = 0
        for raw in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            number += 1
            if raw.first == UInt8(ascii: "#") { continue }
            var line = raw.drop { $0 == 0x20 || $0 == 0x09 }
            if let end = line.firstIndex(of: 0x0D) { line = line[..<end] }
            guard !line.isEmpty else { continue }
            guard asMap else {
                entries.append(Entry(line: number, key: String(decoding: line, as: UTF8.self), value: nil))
                continue
            }
            // A map line: the key up to the first blank, then the value after the blanks.
            let keyEnd = line.firstIndex { $0 == 0x20 || $0 == 0x09 } ?? line.endIndex
            let value = line[keyEnd...].drop { $0 == 0x20 || $0 == 0x09 }
            entries.append(Entry(line: number, key: String(decoding: line[..<keyEnd], as: UTF8.self),
                                 value: String(decoding: value, as: UTF8.self)))
        }
        return entries
    }
}

extension PatternFile {
    /// One pattern of a file, for the ACL's match method (a whole line: no `eq`/`lt` words).
    static func pattern(_ text: String, method: MatchMethod, ignoreCase: Bool, name: String) -> Result<ACLPattern, ACLParser.Failure> {
        switch method {
        case .regex:
            switch CompiledRegex.compile(text, caseInsensitive: ignoreCase) {
            case let .success(r): return .success(.regex(r))
            case let .failure(e): return .failure(ACLParser.Failure(message: "regex '\(text)' is invalid (error=\(e.message))"))
            }
        case .ip:
            guard let net = ACLParser.parseNetwork(text) else {
                return .failure(ACLParser.Failure(message: "'\(text)' is not a valid IPv4 or IPv6 address"))
            }
            return .success(.network(net))
        case .integer, .length:
            guard let r = ACLParser.parseRange(text) else { return .failure(ACLParser.Failure(message: "'\(text)' is not a number")) }
            return .success(r)
        case .found, .boolean:
            return .failure(ACLParser.Failure(message: "fetch method '\(name)' : no pattern expected with '-m \(method.rawValue)' (got '\(text)')"))
        default:
            return .success(.string(text))
        }
    }
}

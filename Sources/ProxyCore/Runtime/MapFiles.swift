import NIOConcurrencyHelpers
import Shared

/// A map file (`KEY VALUE` lines) as the `map*` converters and the runtime API see it:
/// loaded once at start, shared by every thread, edited in place by `add map`, `set map`,
/// `del map`, `clear map` (Control/MapCommands.swift). Lookups take a lock: maps are read
/// once per request that routes through one, where a lock costs little beside the rest.
final class MapFile: @unchecked Sendable {
    struct Entry {
        var key: String
        var value: String
        var id: Int
        /// The key compiled, for `map_reg` (nil when it is no valid regex).
        var regex: CompiledRegex?
    }
    let path: String
    private let lock = NIOLock()
    private var entries: [Entry] = []
    private var nextID = 0

    /// Where the configuration first uses it, and its number in `show map` (load order).
    let usedAt: SourceLocation?
    let number: Int

    init(path: String, entries: [PatternFile.Entry], usedAt: SourceLocation?, number: Int) {
        self.path = path
        self.usedAt = usedAt
        self.number = number
        for entry in entries { append(entry.key, entry.value ?? "") }
    }

    private func append(_ key: String, _ value: String) {
        let regex = try? CompiledRegex.compile(key).get()
        entries.append(Entry(key: key, value: value, id: nextID, regex: regex))
        nextID += 1
    }

    /// The value of the first entry that matches `sample` by `method` (HAProxy's lists; `ip`
    /// takes the longest prefix, as HAProxy's tree does), or nil.
    func lookup(_ sample: String, method: MatchMethod) -> String? {
        lock.withLock {
            switch method {
            case .ip:
                guard let address = ACLParser.parseNetwork(sample)?.address else { return nil }
                var best: (Int, String)? = nil
                for entry in entries {
                    guard let network = ACLParser.parseNetwork(entry.key), network.contains(address) else { continue }
                    if best == nil || network.prefixLength > best!.0 { best = (network.prefixLength, entry.value) }
                }
                return best?.1
            case .regex:
                return entries.first { $0.regex?.matches(sample) ?? false }?.value
            default:
                return entries.first { Self.matches(sample, $0.key, method) }?.value
            }
        }
    }

    static func matches(_ sample: String, _ key: String, _ method: MatchMethod) -> Bool {
        switch method {
        case .beginning: return sample.hasPrefix(key)
        case .end: return sample.hasSuffix(key)
        case .substring: return key.isEmpty || Array(sample.utf8).firstRange(of: Array(key.utf8)) != nil
        case .directory, .domain:
            // The key delimited by `/` (dir) or `.`/`/` (dom) or the ends, as ACLs match it.
            let text = Array(sample.utf8), pattern = Array(key.utf8)
            let n = text.count, m = pattern.count
            guard m > 0, n >= m else { return false }
            func delimiter(_ c: UInt8) -> Bool { c == UInt8(ascii: "/") || (method == .domain && c == UInt8(ascii: ".")) }
            for offset in 0...(n - m) where text[offset..<(offset + m)].elementsEqual(pattern) {
                if (offset == 0 || delimiter(text[offset - 1])) && (offset + m == n || delimiter(text[offset + m])) { return true }
            }
            return false
        default: return sample == key
        }
    }

    // The runtime API's edits.
    var snapshot: [Entry] { lock.withLock { entries } }
    func add(_ key: String, _ value: String) { lock.withLock { append(key, value) } }
    /// `set map`: every entry with the key takes the value; false when there is none.
    func set(_ key: String, _ value: String) -> Bool {
        lock.withLock {
            var found = false
            for i in entries.indices where entries[i].key == key { entries[i].value = value; found = true }
            return found
        }
    }
    func delete(_ key: String) -> Bool {
        lock.withLock {
            let before = entries.count
            entries.removeAll { $0.key == key }
            return entries.count != before
        }
    }
    func clear() { lock.withLock { entries.removeAll() } }
}

/// Every map file the running configuration reads, by path as written (what `show map`
/// lists and the runtime API names).
enum MapFiles {
    static let current = NIOLockedValueBox<[String: MapFile]>([:])

    /// The file at `path`, loaded on first use at build time.
    static func load(_ path: String, usedAt location: SourceLocation?) throws -> MapFile {
        if let loaded = current.withLockedValue({ $0[path] }) { return loaded }
        switch PatternFile.read(path, asMap: true) {
        case let .failure(e): throw RuntimeBuilder.Failure(location: location, message: e.message)
        case let .success(entries):
            return current.withLockedValue { maps in
                let file = MapFile(path: path, entries: entries, usedAt: location, number: maps.count)
                maps[path] = file
                return file
            }
        }
    }

    /// A map named as the runtime API names it: its file, or `#NUMBER`.
    static func named(_ name: String) -> MapFile? {
        current.withLockedValue { maps in
            if name.hasPrefix("#"), let number = Int(name.dropFirst()) { return maps.values.first { $0.number == number } }
            return maps[name]
        }
    }

    /// The `map*` converters proxyd evaluates: the match method of each.
    static let converters: [String: MatchMethod] = [
        "map": .string, "map_str": .string, "map_beg": .beginning, "map_sub": .substring, "map_dir": .directory,
        "map_dom": .domain, "map_end": .end, "map_reg": .regex, "map_ip": .ip,
    ]

    /// HAProxy's complaint about a `map*(FILE…)` converter in a sample expression whose file
    /// cannot be read (`proxyd -c` says it as `haproxy -c` does), or nil.
    static func fileProblem(_ expression: String) -> String? {
        var depth = 0, item = ""
        var items: [String] = []
        for ch in expression {
            if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
            if ch == "," && depth == 0 { items.append(item); item = ""; continue }
            item.append(ch)
        }
        items.append(item)
        for conv in items.dropFirst() {
            let name = String(conv.prefix { $0 != "(" })
            guard name.hasPrefix("map"), conv.hasSuffix(")"), let open = conv.firstIndex(of: "(") else { continue }
            let file = String(conv[conv.index(after: open)..<conv.index(before: conv.endIndex)].prefix { $0 != "," })
            if !FileSystem.exists(file) {
                return "invalid args in converter '\(name)' : failed to open pattern file <\(file)>"
            }
        }
        return nil
    }
}

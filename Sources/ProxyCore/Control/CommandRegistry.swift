/// Access levels of the runtime API, lowest first (`stats socket … level`).
public enum ControlLevel: Int, Comparable, Sendable {
    case user = 0, `operator` = 1, admin = 2

    public init(_ level: StatsSocket.Level) {
        switch level {
        case .user: self = .user
        case .operator: self = .operator
        case .admin: self = .admin
        }
    }

    public static func < (a: ControlLevel, b: ControlLevel) -> Bool { a.rawValue < b.rawValue }

    var name: String { self == .user ? "user" : self == .operator ? "operator" : "admin" }
}

/// The state of one connection to the control socket that commands may change.
final class ControlSessionState {
    var level: ControlLevel
    var interactive = false
    var quitting = false
    /// `set timeout cli`, milliseconds.
    var timeout: Int
    /// `show sess` lines gathered from the event loops before the command line runs.
    var sessions: String?

    init(level: ControlLevel, timeout: Int) {
        self.level = level
        self.timeout = timeout
    }
}

/// One runtime API command, registered by its leading keywords as HAProxy's `cli_kw`
/// lists are: the longest matching keyword list wins.
struct ControlCommand {
    let words: [String]
    let usage: String
    let help: String
    /// The answer: text ending with a newline, or "" for a silent success.
    let run: (_ arguments: [String], _ session: ControlSessionState, _ context: StatsContext) -> String

    var helpLine: String {
        let padded = usage.count < 40 ? usage + String(repeating: " ", count: 40 - usage.count) : usage
        return "  " + padded + ": " + help + "\n"
    }
}

/// Finds and runs commands; formats `help` and the unknown-command answers as HAProxy
/// 2.6 does.
struct CommandRegistry {
    var commands: [ControlCommand] = []

    mutating func add(_ words: String, usage: String, help: String,
                      _ run: @escaping ([String], ControlSessionState, StatsContext) -> String) {
        commands.append(ControlCommand(words: words.split(separator: " ").map(String.init),
                                       usage: usage, help: help, run: run))
    }

    /// Commands in HAProxy's help order: alphabetical, then `help`, `prompt`, `quit`.
    var listed: [ControlCommand] {
        commands.sorted { $0.usage < $1.usage }
    }

    static let trailer = [
        ("help [<command>]", "list matching or all commands"),
        ("prompt", "toggle interactive mode with prompt"),
        ("quit", "disconnect"),
    ].map { ControlCommand(words: [], usage: $0.0, help: $0.1, run: { _, _, _ in "" }) }

    func find(_ arguments: [String]) -> ControlCommand? {
        var best: ControlCommand?
        for command in commands where arguments.count >= command.words.count
            && Array(arguments[..<command.words.count]) == command.words {
            if best == nil || command.words.count > best!.words.count { best = command }
        }
        return best
    }

    func helpText(matching words: [String]) -> String {
        var lines = listed
        if !words.isEmpty {
            let matching = lines.filter { command in
                zip(words, command.words).allSatisfy { $0 == $1 } && !command.words.isEmpty
            }
            if !matching.isEmpty { lines = matching }
        }
        return "The following commands are valid at this level:\n"
            + (lines + Self.trailer).map(\.helpLine).joined()
    }

    /// The answer to a command line nobody registered.
    func unknown(_ arguments: [String]) -> String {
        if arguments.isEmpty {
            return "Unknown command. Please enter one of the following commands only:\n"
                + (listed + Self.trailer).map(\.helpLine).joined()
        }
        // Commands that share the first word, else the closest ones by spelling.
        var suggestions = listed.filter { $0.words.first == arguments[0] }
        if suggestions.isEmpty {
            let typed = arguments.prefix(3).joined(separator: " ")
            suggestions = listed
                .map { ($0, Self.distance(typed, $0.words.joined(separator: " "))) }
                .sorted { $0.1 < $1.1 }
                .prefix(5)
                .map { $0.0 }
        }
        return "Unknown command, but maybe one of the following ones is a better match:\n"
            + (suggestions + Self.trailer).map(\.helpLine).joined()
    }

    /// Distance between the character-pair counts of two phrases.
    static func distance(_ a: String, _ b: String) -> Int {
        func pairs(_ s: String) -> [UInt16: Int] {
            var counts: [UInt16: Int] = [:]
            var previous: UInt8 = 0
            for c in s.utf8 {
                counts[UInt16(previous) << 8 | UInt16(c), default: 0] += 1
                previous = c
            }
            counts[UInt16(previous) << 8, default: 0] += 1
            return counts
        }
        let pa = pairs(a), pb = pairs(b)
        var d = 0
        for (k, v) in pa { d += abs(v - (pb[k] ?? 0)) }
        for (k, v) in pb where pa[k] == nil { d += v }
        return d
    }

    /// Splits a command line into commands at unescaped `;` and each command into words
    /// at spaces and tabs; `\` escapes the next character.
    static func split(_ line: String) -> [[String]] {
        var commands: [[String]] = []
        var words: [String] = []
        var word = ""
        var escaped = false
        var inWord = false
        for c in line {
            if escaped {
                word.append(c)
                escaped = false
                inWord = true
                continue
            }
            switch c {
            case "\\":
                escaped = true
            case ";":
                if inWord { words.append(word) }
                word = ""
                inWord = false
                commands.append(words)
                words = []
            case " ", "\t":
                if inWord { words.append(word) }
                word = ""
                inWord = false
            default:
                word.append(c)
                inWord = true
            }
        }
        if inWord { words.append(word) }
        commands.append(words)
        return commands
    }
}

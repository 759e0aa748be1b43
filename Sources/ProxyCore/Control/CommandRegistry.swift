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

    /// This command's line in `help` and in the unknown-command answers (made once: an
    /// unknown command lists many).
    let helpLine: String

    init(words: [String], usage: String, help: String,
         run: @escaping (_ arguments: [String], _ session: ControlSessionState, _ context: StatsContext) -> String) {
        self.words = words
        self.usage = usage
        self.help = help
        self.run = run
        let padded = usage.count < 40 ? usage + String(repeating: " ", count: 40 - usage.count) : usage
        helpLine = "  " + padded + ": " + help + "\n"
    }
}

/// Finds and runs commands; formats `help` and the unknown-command answers as HAProxy
/// 2.6 does.
struct CommandRegistry {
    private(set) var commands: [ControlCommand] = []
    /// Commands in HAProxy's help order: alphabetical, then `help`, `prompt`, `quit`
    /// (`trailer`). Kept sorted as commands are added (each after those of the same usage,
    /// as a stable sort places it) rather than sorted for every unknown command.
    private(set) var listed: [ControlCommand] = []
    /// The sorted character pairs of each listed command's words, for `unknown`.
    private var listedPairs: [[UInt16]] = []

    mutating func add(_ words: String, usage: String, help: String,
                      _ run: @escaping ([String], ControlSessionState, StatsContext) -> String) {
        let command = ControlCommand(words: words.split(separator: " ").map(String.init),
                                     usage: usage, help: help, run: run)
        commands.append(command)
        let at = listed.firstIndex { $0.usage > usage } ?? listed.endIndex
        listed.insert(command, at: at)
        listedPairs.insert(Self.pairs(command.words.joined(separator: " ")), at: at)
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
            // The five closest in help order among equals: the first five of a stable sort
            // by distance, without sorting them all.
            let typed = Self.pairs(arguments.prefix(3).joined(separator: " "))
            var closest: [(index: Int, distance: Int)] = []
            for (index, pairs) in listedPairs.enumerated() {
                // The distance is at least the difference in pair counts.
                if closest.count == 5, abs(typed.count - pairs.count) >= closest[4].distance { continue }
                let distance = Self.distance(typed, pairs)
                if closest.count == 5, distance >= closest[4].distance { continue }
                closest.insert((index, distance), at: closest.firstIndex { $0.distance > distance } ?? closest.endIndex)
                if closest.count > 5 { closest.removeLast() }
            }
            suggestions = closest.map { listed[$0.index] }
        }
        return "Unknown command, but maybe one of the following ones is a better match:\n"
            + (suggestions + Self.trailer).map(\.helpLine).joined()
    }

    /// The character pairs of a phrase (its bytes, with the start and the end as byte 0),
    /// sorted, so that two phrases compare in one merge.
    static func pairs(_ phrase: String) -> [UInt16] {
        var codes: [UInt16] = []
        codes.reserveCapacity(phrase.utf8.count + 1)
        var previous: UInt8 = 0
        for c in phrase.utf8 {
            codes.append(UInt16(previous) << 8 | UInt16(c))
            previous = c
        }
        codes.append(UInt16(previous) << 8)
        codes.sort()
        return codes
    }

    /// Distance between the character-pair counts of two phrases: the pairs one has and
    /// the other has not.
    static func distance(_ a: [UInt16], _ b: [UInt16]) -> Int {
        var i = 0, j = 0, shared = 0
        while i < a.count && j < b.count {
            if a[i] == b[j] {
                shared += 1
                i += 1
                j += 1
            } else if a[i] < b[j] {
                i += 1
            } else {
                j += 1
            }
        }
        return a.count + b.count - 2 * shared
    }

    static func distance(_ a: String, _ b: String) -> Int { distance(pairs(a), pairs(b)) }

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

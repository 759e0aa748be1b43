/// The expressions of HAProxy's conditional blocks (`.if`, `.elif`) and of `proxyd -cc`,
/// as HAProxy 2.6 reads them (configuration.txt §2.4):
///
///     expr := and ( "||" and )*        and := term ( "&&" term )*
///     term := "!" term | "(" expr ")" | integer | predicate "(" args ")"
///
/// An empty expression is false, an integer is true unless it is 0, and `&&` binds
/// tighter than `||`. The predicates: `defined(VAR)`, `feature(NAME)` (a `+NAME` of
/// `proxyd -vv`), `streq(a,b)`, `strneq(a,b)`, `version_atleast(V)`, `version_before(V)`.
public enum ConfigCondition {
    /// The HAProxy release whose configuration language proxyd reads: `version_atleast`
    /// and `version_before` compare with it, not with proxyd's own version, because the
    /// configs that use them were written to choose between HAProxy releases' syntaxes.
    public static let haproxyVersion = "2.6.12"

    public struct Failure: Error, Equatable, Sendable {
        /// HAProxy's words, e.g. `unparsable conditional expression 'foo'`.
        public var message: String
        /// 1-based position in the expression where reading stopped.
        public var position: Int
    }

    /// Evaluates `text`, reading `defined()` in `environment`.
    public static func evaluate(_ text: String, environment: [String: String]) -> Result<Bool, Failure> {
        var reader = Reader(chars: Array(text.utf8), environment: environment)
        reader.skipSpaces()
        if reader.atEnd { return .success(false) }
        do {
            let value = try reader.expression()
            reader.skipSpaces()
            if !reader.atEnd {
                let c = Character(Unicode.Scalar(reader.chars[reader.at]))
                throw Failure(message: "unexpected character '\(c)' at the end of conditional expression '\(text)'",
                              position: reader.at + 1)
            }
            return .success(value)
        } catch let failure as Failure {
            return .failure(failure)
        } catch {
            return .failure(Failure(message: "\(error)", position: 1))
        }
    }

    private struct Reader {
        let chars: [UInt8]
        let environment: [String: String]
        var at = 0

        var atEnd: Bool { at >= chars.count }

        mutating func skipSpaces() {
            while at < chars.count, chars[at] == 0x20 || chars[at] == 0x09 { at += 1 }
        }

        func rest(from start: Int) -> String { String(decoding: chars[start...], as: UTF8.self) }

        /// The two-byte operator `c c` (`&&`, `||`) is next.
        func peekPair(_ c: UInt8) -> Bool {
            at + 1 < chars.count && chars[at] == c && chars[at + 1] == c
        }

        /// `or` of `and`s. Every term is read (an error anywhere is an error), as HAProxy
        /// parses the whole expression before it evaluates it.
        mutating func expression() throws -> Bool {
            var value = try conjunction()
            while true {
                skipSpaces()
                guard peekPair(0x7C) else { return value }
                let operatorAt = at
                at += 2
                skipSpaces()
                if atEnd { throw unparsable(from: operatorAt) }
                value = try conjunction() || value
            }
        }

        mutating func conjunction() throws -> Bool {
            var value = try term()
            while true {
                skipSpaces()
                guard peekPair(0x26) else { return value }
                let operatorAt = at
                at += 2
                skipSpaces()
                if atEnd { throw unparsable(from: operatorAt) }
                value = try term() && value
            }
        }

        func unparsable(from start: Int) -> Failure {
            Failure(message: "unparsable conditional expression '\(rest(from: start))'", position: start + 1)
        }

        mutating func term() throws -> Bool {
            skipSpaces()
            let start = at
            guard !atEnd else { throw unparsable(from: start) }
            if chars[at] == 0x21 { // !
                at += 1
                return !(try term())
            }
            if chars[at] == 0x28 { // (
                at += 1
                let value = try expression()
                skipSpaces()
                guard !atEnd, chars[at] == 0x29 else {
                    throw Failure(message: "expected ')' after conditional expression '\(rest(from: start))'",
                                  position: start + 1)
                }
                at += 1
                return value
            }
            // An integer: true unless zero.
            if chars[at] == 0x2D || (chars[at] >= 0x30 && chars[at] <= 0x39) {
                var end = at + (chars[at] == 0x2D ? 1 : 0)
                let digits = end
                while end < chars.count, chars[end] >= 0x30, chars[end] <= 0x39 { end += 1 }
                guard end > digits else { throw unparsable(from: start) }
                let nonZero = chars[digits..<end].contains { $0 != 0x30 }
                at = end
                return nonZero
            }
            // A predicate and its arguments.
            var end = at
            while end < chars.count, chars[end] == 0x5F || (chars[end] | 0x20 >= 0x61 && chars[end] | 0x20 <= 0x7A)
                    || (chars[end] >= 0x30 && chars[end] <= 0x39) {
                end += 1
            }
            let name = String(decoding: chars[at..<end], as: UTF8.self)
            guard let predicate = Predicate(rawValue: name), end < chars.count, chars[end] == 0x28 else {
                throw unparsable(from: start)
            }
            at = end + 1
            var arguments: [String] = []
            var current: [UInt8] = []
            while true {
                guard !atEnd else { throw unparsable(from: start) }
                let c = chars[at]
                at += 1
                if c == 0x29 { break }
                if c == 0x2C { arguments.append(String(decoding: current, as: UTF8.self)); current = [] } else { current.append(c) }
            }
            if !current.isEmpty || !arguments.isEmpty { arguments.append(String(decoding: current, as: UTF8.self)) }
            if arguments.count < predicate.arity {
                throw Failure(message: "missing arguments (got \(arguments.count)/\(predicate.arity)), type 'string' expected in argument \(arguments.count) of predicate '\(name)' used in conditional expression",
                              position: at)
            }
            return predicate.evaluate(arguments, environment: environment)
        }
    }

    private enum Predicate: String {
        case defined, feature, streq, strneq
        case versionAtLeast = "version_atleast"
        case versionBefore = "version_before"

        var arity: Int {
            switch self {
            case .streq, .strneq: return 2
            default: return 0
            }
        }

        func evaluate(_ arguments: [String], environment: [String: String]) -> Bool {
            let first = arguments.first ?? ""
            switch self {
            case .defined: return !first.isEmpty && environment[first] != nil
            case .feature: return BuildOptions.features.contains { $0.0 == first && $0.1 }
            case .streq: return arguments[0] == arguments[1]
            case .strneq: return arguments[0] != arguments[1]
            case .versionAtLeast, .versionBefore:
                guard let asked = Version(first), let ours = Version(ConfigCondition.haproxyVersion) else { return false }
                return self == .versionAtLeast ? !(ours < asked) : ours < asked
            }
        }
    }

    /// `2.6`, `2.6.12`, `2.4-dev19`, `2.5-rc2`: missing components are zero, and a
    /// development or candidate release comes before the release itself.
    struct Version: Comparable {
        var numbers: [Int]
        /// 0 dev, 1 rc, 2 release; then the dev or rc number.
        var stage: Int
        var stageNumber: Int

        init?(_ text: String) {
            let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            let numbers = parts[0].split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
            guard !numbers.isEmpty, numbers.allSatisfy({ $0 != nil }) else { return nil }
            self.numbers = numbers.map { $0! } + Array(repeating: 0, count: max(0, 3 - numbers.count))
            stage = 2
            stageNumber = 0
            if parts.count == 2 {
                let suffix = parts[1]
                if suffix.hasPrefix("dev") { stage = 0; stageNumber = Int(suffix.dropFirst(3)) ?? 0 }
                else if suffix.hasPrefix("rc") { stage = 1; stageNumber = Int(suffix.dropFirst(2)) ?? 0 }
            }
        }

        static func < (a: Version, b: Version) -> Bool {
            let n = max(a.numbers.count, b.numbers.count)
            for i in 0..<n {
                let x = i < a.numbers.count ? a.numbers[i] : 0, y = i < b.numbers.count ? b.numbers[i] : 0
                if x != y { return x < y }
            }
            return (a.stage, a.stageNumber) < (b.stage, b.stageNumber)
        }
    }
}

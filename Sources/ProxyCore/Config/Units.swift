/// Time values and sizes, as HAProxy reads them.
public enum ConfigUnits {
    public enum TimeError: Error, Equatable, Sendable {
        /// The first character that is neither a digit nor a valid unit.
        case unexpectedCharacter(Character)
        /// More than 2147483647 ms.
        case overflow
        /// Nothing to read.
        case empty
    }

    /// Parses `10`, `10ms`, `1500us`, `10s`, `2m`, `1h`, `1d` into milliseconds
    /// (no unit = milliseconds; microseconds round up to the next millisecond).
    /// As HAProxy 2.6: what follows a valid unit is ignored (`1s[` is one second;
    /// `trailingAfterUnit` finds it so the parser can warn), but a character where the unit
    /// belongs is an error (`1x`, and the `u` of `1ux`).
    public static func milliseconds(_ text: String) -> Result<Int, TimeError> {
        let chars = Array(text)
        if chars.isEmpty { return .failure(.empty) }
        var value: Int64 = 0
        var i = 0
        var overflow = false
        while i < chars.count, let d = chars[i].wholeNumberValue, chars[i].isASCII {
            value = value * 10 + Int64(d)
            if value > Int64(Int32.max) * 1000 { overflow = true; value = Int64(Int32.max) * 1000 }
            i += 1
        }
        if i == 0 { return .failure(.unexpectedCharacter(chars[0])) }
        let ms: Int64
        switch unit(chars, at: i) {
        case .none: ms = value
        case .invalid(let c): return .failure(.unexpectedCharacter(c))
        case .valid(let multiplier, let divisor, _):
            if divisor > 1 {
                ms = (value + divisor - 1) / divisor
            } else {
                // `value` may be near the cap (2^31 s): days of it pass Int64.
                let (product, overflowed) = value.multipliedReportingOverflow(by: multiplier)
                if overflowed { return .failure(.overflow) }
                ms = product
            }
        }
        if overflow || ms > Int64(Int32.max) { return .failure(.overflow) }
        return .success(Int(ms))
    }

    /// The first character after a time value's unit (`[` in `1s[`), which HAProxy 2.6
    /// ignores with a warning; nil when the value ends with its unit, or is not valid.
    public static func trailingAfterUnit(_ text: String) -> Character? {
        let chars = Array(text)
        var i = 0
        while i < chars.count, chars[i].isASCII, chars[i].wholeNumberValue != nil { i += 1 }
        guard i > 0, case .valid(_, _, let length) = unit(chars, at: i),
              i + length < chars.count else { return nil }
        return chars[i + length]
    }

    /// HAProxy's warning for `trailingAfterUnit`.
    public static func trailingAfterUnitWarning(_ text: String, _ c: Character) -> String {
        "unexpected character '\(c)' after the timer value '\(text)', only "
            + "(us=microseconds,ms=milliseconds,s=seconds,m=minutes,h=hours,d=days) are supported. "
            + "This will be reported as an error in next versions."
    }

    /// A time value's unit: none, one (multiplier to ms, divisor for microseconds, how many
    /// characters it takes), or the character that cannot start one.
    private enum TimeUnit {
        case none
        case valid(multiplier: Int64, divisor: Int64, length: Int)
        case invalid(Character)
    }

    private static func unit(_ chars: [Character], at i: Int) -> TimeUnit {
        guard i < chars.count else { return .none }
        let next: Character? = i + 1 < chars.count ? chars[i + 1] : nil
        switch chars[i] {
        case "u": return next == "s" ? .valid(multiplier: 1, divisor: 1000, length: 2) : .invalid("u")
        case "m": return next == "s" ? .valid(multiplier: 1, divisor: 1, length: 2)
                                     : .valid(multiplier: 60_000, divisor: 1, length: 1)
        case "s": return .valid(multiplier: 1000, divisor: 1, length: 1)
        case "h": return .valid(multiplier: 3_600_000, divisor: 1, length: 1)
        case "d": return .valid(multiplier: 86_400_000, divisor: 1, length: 1)
        default: return .invalid(chars[i])
        }
    }

    public enum SizeError: Error, Equatable, Sendable {
        case unexpectedCharacter(Character)
        case overflow
        case empty
    }

    /// Parses `16384`, `16k`, `1m`, `1g` (case-insensitive suffix) into bytes.
    public static func bytes(_ text: String) -> Result<Int, SizeError> {
        let chars = Array(text)
        if chars.isEmpty { return .failure(.empty) }
        var value = 0
        var i = 0
        while i < chars.count, chars[i].isASCII, let d = chars[i].wholeNumberValue {
            value = value * 10 + d
            if value > Int(UInt32.max) { return .failure(.overflow) }
            i += 1
        }
        if i == 0 { return .failure(.unexpectedCharacter(chars[0])) }
        guard i < chars.count else { return .success(value) }
        let factor: Int
        switch chars[i] {
        case "k", "K": factor = 1 << 10
        case "m", "M": factor = 1 << 20
        case "g", "G": factor = 1 << 30
        default: return .failure(.unexpectedCharacter(chars[i]))
        }
        if i + 1 < chars.count { return .failure(.unexpectedCharacter(chars[i + 1])) }
        let result = value * factor
        if result > Int(UInt32.max) { return .failure(.overflow) }
        return .success(result)
    }

    /// A plain non-negative decimal integer (HAProxy's `atol` with a digits check).
    public static func integer(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), text.utf8.count <= 18 else { return nil }
        return Int(text)
    }
}

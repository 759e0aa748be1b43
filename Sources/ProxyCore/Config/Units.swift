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
        let unit = String(chars[i...])
        let ms: Int64
        switch unit {
        case "": ms = value
        case "us": ms = (value + 999) / 1000
        case "ms": ms = value
        case "s": ms = value * 1000
        case "m": ms = value * 60_000
        case "h": ms = value * 3_600_000
        case "d": ms = value * 86_400_000
        default:
            // HAProxy reports the first character it could not use.
            let rest = Array(unit)
            var bad = rest[0]
            if rest.count > 1 {
                if rest[0] == "u" || rest[0] == "m" {
                    bad = rest[1] == "s" ? (rest.count > 2 ? rest[2] : rest[1]) : rest[1]
                } else if rest[0] == "s" || rest[0] == "h" || rest[0] == "d" {
                    bad = rest[1]
                }
            }
            return .failure(.unexpectedCharacter(bad))
        }
        if overflow || ms > Int64(Int32.max) { return .failure(.overflow) }
        return .success(Int(ms))
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

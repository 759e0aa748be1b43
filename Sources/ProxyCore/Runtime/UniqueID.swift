import Atomics
import Shared
#if canImport(Glibc)
import Glibc
#endif

/// A frontend's `unique-id-format` (and `unique-id-header`), compiled: made once per
/// request before the frontend's rules, kept in the stream's values for `%ID`, the
/// `unique-id` fetch and the header sent to the server.
struct UniqueIDRule {
    enum Part {
        case literal([UInt8])
        case sample(CompiledSample)
        /// A log-format variable, in hexadecimal after `%{+X}o` as HAProxy writes it.
        case clientAddress(hex: Bool), clientPort(hex: Bool), localAddress(hex: Bool), localPort(hex: Bool)
        case acceptSeconds(hex: Bool), requestCounter(hex: Bool), pid(hex: Bool)
    }
    let parts: [Part]
    /// `unique-id-header`: the header's name, nil when none is sent.
    let header: [UInt8]?

    /// HAProxy's count of streams, which `%rt` writes: one per request, process-wide.
    static let requestCounter = ManagedAtomic<Int>(0)

    init(format: FormatString, header: String?, at location: SourceLocation?) throws {
        self.header = header.map { Array($0.utf8) }
        var hex = false
        var parts: [Part] = []
        for part in format.parts {
            switch part {
            case .literal(let text):
                // Spaces are separators in a log-format: none is written before the first item.
                let bytes = parts.isEmpty ? Array(text.utf8).drop { $0 == UInt8(ascii: " ") } : Array(text.utf8)[...]
                if !bytes.isEmpty { parts.append(.literal(Array(bytes))) }
            case .sample(let expression):
                switch SampleExpression.parse(expression) {
                case .success(let parsed): parts.append(.sample(CompiledSample(parsed)))
                case .failure(let failure):
                    throw RuntimeBuilder.Failure(location: location,
                        message: "sample '%[\(expression)]' in unique-id-format is not supported yet (\(failure.message))")
                }
            case .variable(let written):
                // `{+X}ci`: flags, then the name.
                let flags = written.hasPrefix("{") ? String(written.prefix { $0 != "}" }) : ""
                let name = written.hasPrefix("{") ? String(written.drop { $0 != "}" }.dropFirst()) : written
                let thisHex = flags.contains("+X") || (hex && !flags.contains("-X"))
                switch name {
                case "o": hex = flags.contains("+X") ? true : flags.contains("-X") ? false : hex
                case "ci": parts.append(.clientAddress(hex: thisHex))
                case "cp": parts.append(.clientPort(hex: thisHex))
                case "fi": parts.append(.localAddress(hex: thisHex))
                case "fp": parts.append(.localPort(hex: thisHex))
                case "Ts": parts.append(.acceptSeconds(hex: thisHex))
                case "rt": parts.append(.requestCounter(hex: thisHex))
                case "pid": parts.append(.pid(hex: thisHex))
                default:
                    throw RuntimeBuilder.Failure(location: location,
                        message: "'%\(name)' in unique-id-format is not supported yet")
                }
            }
        }
        self.parts = parts
    }

    /// The id of the request `facts` is about; counts it (`%rt`).
    func make(_ facts: RequestFacts, values: StreamValues?) -> [UInt8] {
        let counter = Self.requestCounter.loadThenWrappingIncrement(ordering: .relaxed)
        var out: [UInt8] = []
        func number(_ n: Int, hex: Bool, width: Int) {
            if hex {
                var text = String(UInt(bitPattern: n), radix: 16, uppercase: true)
                if text.count < width { text = String(repeating: "0", count: width - text.count) + text }
                out += Array(text.utf8)
            } else {
                out += Array(String(n).utf8)
            }
        }
        func address(_ bytes: [UInt8], hex: Bool) {
            guard !bytes.isEmpty else { return }
            if hex {
                for byte in bytes { number(Int(byte), hex: true, width: 2) }
            } else {
                out += SampleValue.address(bytes).text
            }
        }
        for part in parts {
            switch part {
            case .literal(let bytes): out += bytes
            case .sample(let sample):
                // Control characters as `%XX`, as HAProxy builds the ID: it goes into the
                // `unique-id-header` the server gets (ValueTemplate.appendEscaped).
                if let value = sample.evaluate(facts, values: values) { ValueTemplate.appendEscaped(value.text, to: &out) }
            case .clientAddress(let hex): address(facts.connection.clientAddress, hex: hex)
            case .clientPort(let hex): number(facts.connection.clientPort, hex: hex, width: 4)
            case .localAddress(let hex): address(facts.connection.localAddress, hex: hex)
            case .localPort(let hex): number(facts.connection.localPort, hex: hex, width: 4)
            case .acceptSeconds(let hex): number(Int(time(nil)), hex: hex, width: 8)
            case .requestCounter(let hex): number(counter, hex: hex, width: 4)
            case .pid(let hex): number(Int(getpid()), hex: hex, width: 4)
            }
        }
        return out
    }
}

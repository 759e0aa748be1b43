import NIOConcurrencyHelpers

/// A sample's value, typed as HAProxy types them (string, signed integer, boolean,
/// address); each converts to the others as HAProxy casts them.
enum SampleValue: Equatable {
    case string([UInt8])
    case integer(Int)
    case boolean(Bool)
    /// 4 or 16 address bytes.
    case address([UInt8])

    /// The value as text: integers in decimal, booleans `1`/`0`, addresses as written.
    var text: [UInt8] {
        switch self {
        case .string(let bytes): return bytes
        case .integer(let n): return Array(String(n).utf8)
        case .boolean(let b): return b ? [UInt8(ascii: "1")] : [UInt8(ascii: "0")]
        case .address(let bytes):
            let ip: IPAddress = bytes.count == 4 ? .v4(bytes[0], bytes[1], bytes[2], bytes[3]) : .v6(bytes)
            return Array(ip.description.utf8)
        }
    }

    /// The value as an integer, nil when it has none. A string gives its leading decimal
    /// digits (with a sign), as HAProxy's string-to-integer cast does.
    var integer: Int? {
        switch self {
        case .integer(let n): return n
        case .boolean(let b): return b ? 1 : 0
        case .address: return nil
        case .string(let bytes):
            var i = 0, negative = false, value = 0
            if i < bytes.count, bytes[i] == UInt8(ascii: "-") || bytes[i] == UInt8(ascii: "+") {
                negative = bytes[i] == UInt8(ascii: "-")
                i += 1
            }
            let start = i
            while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 {
                value = value &* 10 &+ Int(bytes[i] - 0x30)
                i += 1
            }
            guard i > start else { return nil }
            return negative ? -value : value
        }
    }
}

/// Variables of the `proc` scope: one set for the process, shared by every event loop
/// (hence the lock; they are rare and small). `global` `set-var` fills them at start.
final class ProcessVariables: @unchecked Sendable {
    static let shared = ProcessVariables()
    private let values = NIOLockedValueBox<[String: SampleValue]>([:])

    func get(_ name: String) -> SampleValue? { values.withLockedValue { $0[name] } }
    func set(_ name: String, _ value: SampleValue) { values.withLockedValue { $0[name] = value } }
    func unset(_ name: String) { _ = values.withLockedValue { $0.removeValue(forKey: name) } }
    /// A new configuration starts from nothing (tests build several runtimes in one process).
    func removeAll() { values.withLockedValue { $0.removeAll() } }
}

/// What rules store during one client connection, beside the stick counters: the
/// variables of the `sess`, `txn`, `req` and `res` scopes, the transaction's captures and
/// its unique id. Belongs to the connection's event loop; made at accept only when the
/// configuration sets variables, captures or unique ids.
final class StreamValues {
    private var session: [String: SampleValue] = [:]
    private var transaction: [String: SampleValue] = [:]
    /// `req` and `res` share one set, as in HAProxy: `req.x` and `res.x` are one variable.
    private var requestResponse: [String: SampleValue] = [:]
    /// `capture request header`, `http-request capture`: one slot per declared capture.
    var requestCaptures: [[UInt8]?] = []
    var responseCaptures: [[UInt8]?] = []
    /// `capture cookie`: the request's and the response's cookie (`%CC`, `%CS`).
    var requestCookie: [UInt8]?
    var responseCookie: [UInt8]?
    /// `unique-id-format`'s value for the current transaction, made at its first use.
    var uniqueID: [UInt8]?
    /// The frontend's capture slots and their lengths (shared, read only).
    var captureLengths: HeaderCaptures?
    /// A request was read on the connection: HAProxy logs no capture (not even `{}`)
    /// for a connection that never had one.
    private(set) var hadTransaction = false

    init(requestCaptures: Int = 0, responseCaptures: Int = 0) {
        self.requestCaptures = Array(repeating: nil, count: requestCaptures)
        self.responseCaptures = Array(repeating: nil, count: responseCaptures)
    }

    /// A new request on the connection: the previous transaction's values are gone.
    func beginTransaction() {
        hadTransaction = true
        if !transaction.isEmpty { transaction.removeAll(keepingCapacity: true) }
        if !requestResponse.isEmpty { requestResponse.removeAll(keepingCapacity: true) }
        for i in requestCaptures.indices { requestCaptures[i] = nil }
        for i in responseCaptures.indices { responseCaptures[i] = nil }
        uniqueID = nil
        requestCookie = nil
        responseCookie = nil
    }

    /// The request has been processed: its `req` variables are gone before the
    /// response's rules run (HAProxy 2.6 frees them there; `res` ones stay to the log).
    func endRequestProcessing() {
        if !requestResponse.isEmpty { requestResponse.removeAll(keepingCapacity: true) }
    }

    func get(_ variable: VariableName) -> SampleValue? {
        switch variable.scope {
        case .proc: return ProcessVariables.shared.get(variable.name)
        case .sess: return session[variable.name]
        case .txn: return transaction[variable.name]
        case .req, .res: return requestResponse[variable.name]
        case .check: return nil
        }
    }

    func set(_ variable: VariableName, _ value: SampleValue) {
        switch variable.scope {
        case .proc: ProcessVariables.shared.set(variable.name, value)
        case .sess: session[variable.name] = value
        case .txn: transaction[variable.name] = value
        case .req, .res: requestResponse[variable.name] = value
        case .check: break
        }
    }

    func unset(_ variable: VariableName) {
        switch variable.scope {
        case .proc: ProcessVariables.shared.unset(variable.name)
        case .sess: session.removeValue(forKey: variable.name)
        case .txn: transaction.removeValue(forKey: variable.name)
        case .req, .res: requestResponse.removeValue(forKey: variable.name)
        case .check: break
        }
    }

    /// Reads a variable with or without a connection (`proc` needs none).
    static func read(_ variable: VariableName, in values: StreamValues?) -> SampleValue? {
        if let values { return values.get(variable) }
        return variable.scope == .proc ? ProcessVariables.shared.get(variable.name) : nil
    }
}

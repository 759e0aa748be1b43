import Shared

/// What a stick table stores per key (`store …`). The raw values are HAProxy 2.6's data
/// type numbers: `show table` prints an entry's data in this order.
public enum StickDataType: Int, Sendable, Hashable, CaseIterable, Comparable {
    case serverID = 0, gpt0, gpc0, gpc0Rate, connCount, connRate, connCurrent, sessionCount, sessionRate
    case httpRequestCount, httpRequestRate, httpErrorCount, httpErrorRate
    case bytesInCount, bytesInRate, bytesOutCount, bytesOutRate, gpc1, gpc1Rate
    /// The stuck server's name, stored with `server_id` by `stick` rules.
    case serverKey

    /// The name in `store` and in `show table` (`http_req_rate`).
    public var name: String {
        switch self {
        case .serverID: return "server_id"
        case .gpt0: return "gpt0"
        case .gpc0: return "gpc0"
        case .gpc0Rate: return "gpc0_rate"
        case .connCount: return "conn_cnt"
        case .connRate: return "conn_rate"
        case .connCurrent: return "conn_cur"
        case .sessionCount: return "sess_cnt"
        case .sessionRate: return "sess_rate"
        case .httpRequestCount: return "http_req_cnt"
        case .httpRequestRate: return "http_req_rate"
        case .httpErrorCount: return "http_err_cnt"
        case .httpErrorRate: return "http_err_rate"
        case .bytesInCount: return "bytes_in_cnt"
        case .bytesInRate: return "bytes_in_rate"
        case .bytesOutCount: return "bytes_out_cnt"
        case .bytesOutRate: return "bytes_out_rate"
        case .gpc1: return "gpc1"
        case .gpc1Rate: return "gpc1_rate"
        case .serverKey: return "server_key"
        }
    }

    /// Rates take a period: `http_req_rate(10s)`.
    public var isRate: Bool {
        switch self {
        case .gpc0Rate, .connRate, .sessionRate, .httpRequestRate, .httpErrorRate, .bytesInRate, .bytesOutRate, .gpc1Rate:
            return true
        default:
            return false
        }
    }

    public static func named(_ name: String) -> StickDataType? {
        allCases.first { $0.name == name }
    }

    public static func < (a: StickDataType, b: StickDataType) -> Bool { a.rawValue < b.rawValue }
}

/// The type of a stick table's keys.
public enum StickKeyType: Sendable, Hashable {
    case ip, ipv6, integer
    /// `string [len N]` (default 32 bytes), `binary [len N]` (default 32 bytes).
    case string(length: Int)
    case binary(length: Int)

    /// The name `show table` prints.
    public var name: String {
        switch self {
        case .ip: return "ip"
        case .ipv6: return "ipv6"
        case .integer: return "integer"
        case .string: return "string"
        case .binary: return "binary"
        }
    }
}

/// `stick-table type … size … [expire …] [nopurge] [peers …] [store …]` of a proxy.
public struct StickTableDefinition: Sendable, Hashable {
    /// The proxy's name: HAProxy names a table after the section holding it.
    public var name: String
    public var keyType: StickKeyType
    public var size: Int
    /// Milliseconds an entry lives after its last use; nil: entries never expire.
    public var expireMs: Int?
    public var noPurge: Bool
    public var peers: String?
    /// What is stored, each rate with its period in milliseconds.
    public var stores: [StickDataType: Int]
    public var location: SourceLocation?

    public init(name: String, keyType: StickKeyType, size: Int, expireMs: Int? = nil, noPurge: Bool = false,
                peers: String? = nil, stores: [StickDataType: Int] = [:], location: SourceLocation? = nil) {
        self.name = name
        self.keyType = keyType
        self.size = size
        self.expireMs = expireMs
        self.noPurge = noPurge
        self.peers = peers
        self.stores = stores
        self.location = location
    }
}

/// How a track rule or a stick fetch computes its key: a sample of the client connection
/// or of the request.
public enum StickKeySample: Sendable, Hashable {
    case source
    case destination
    case header(name: String)
    case urlParameter(name: String)
    case path
    /// `base`: Host header value followed by the path.
    case base
}

/// `track-sc0|1|2 KEY [table T]` (tcp-request connection/content, http-request).
public struct TrackAction: Sendable, Hashable {
    /// 0, 1 or 2.
    public var counter: Int
    public var key: StickKeySample
    /// The table's proxy name (the rule's own proxy when not given).
    public var table: String

    public init(counter: Int, key: StickKeySample, table: String) {
        self.counter = counter
        self.key = key
        self.table = table
    }
}

/// A `sc_*`, `scN_*`, `src_*` or `table_*` fetch, used in ACLs.
public struct StickFetch: Sendable, Hashable {
    public enum Subject: Sendable, Hashable {
        /// The entry tracked by counter N (`sc0_…`, `sc_…(N)`), possibly read in another table.
        case counter(Int)
        /// The entry of the client's address (`src_…`), looked up without creating it.
        case source
        /// The table itself (`table_cnt`, `table_avl`).
        case table
    }
    public enum Operation: Sendable, Hashable {
        /// Read a stored value.
        case read(StickDataType)
        case incrementGPC(Int)
        case clearGPC(Int)
        /// `sc_tracked`: 1 when the counter tracks something.
        case tracked
        /// `sc_trackers`/`src_…`: the entry's use count.
        case trackers
        case tableCount
        case tableAvailable
    }
    public var subject: Subject
    public var operation: Operation
    /// The table named in the fetch's arguments, or nil (the tracked entry's own table,
    /// or for `src_*` and `table_*`, the proxy's own table).
    public var table: String?

    public init(subject: Subject, operation: Operation, table: String?) {
        self.subject = subject
        self.operation = operation
        self.table = table
    }
}

/// `stick match|on|store-request KEY [table T] [if|unless COND]` of a backend.
public struct StickRule: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// `stick match`: a known key sends the request to its server, when usable.
        case match
        /// `stick on`: match, then store.
        case on
        /// `stick store-request`: the server the request went to is stored for the key.
        case storeRequest = "store-request"

        public var matches: Bool { self != .storeRequest }
        public var stores: Bool { self != .match }
    }
    public var kind: Kind
    public var key: StickKeySample
    public var table: String
    public var condition: Condition?
    public var location: SourceLocation?

    public init(kind: Kind, key: StickKeySample, table: String, condition: Condition? = nil, location: SourceLocation? = nil) {
        self.kind = kind
        self.key = key
        self.table = table
        self.condition = condition
        self.location = location
    }
}

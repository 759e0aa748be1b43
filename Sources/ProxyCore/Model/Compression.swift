/// A `compression algo` name.
public enum CompressionAlgorithm: String, Sendable, Equatable, CaseIterable {
    case identity
    case gzip
    case deflate
    case rawDeflate = "raw-deflate"

    /// The name clients ask for in `Accept-Encoding` and get in `Content-Encoding`.
    var token: String {
        switch self {
        case .identity: return "identity"
        case .gzip: return "gzip"
        case .deflate, .rawDeflate: return "deflate"
        }
    }
}

/// `compression algo|type|offload` in a defaults, frontend, listen or backend section.
public struct CompressionSettings: Sendable, Equatable {
    /// In HAProxy's order: each name goes to the head of the list, so the last written
    /// comes first (what a client's `*` gets).
    public var algorithms: [CompressionAlgorithm] = []
    /// Content types (prefixes of the response's `Content-Type`, any case); empty: any.
    public var types: [String] = []
    /// `compression offload`: the server does not see `Accept-Encoding` when proxyd compresses.
    public var offload = false

    public init() {}

    public var isEmpty: Bool { algorithms.isEmpty && types.isEmpty && !offload }
}

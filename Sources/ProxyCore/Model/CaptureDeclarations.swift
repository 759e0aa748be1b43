/// One capture slot of a frontend (`capture request header NAME len N`, `declare capture
/// request len N`, `http-request capture EXPR len N`): slots are numbered in the order
/// they are declared, each direction apart, and logged in that order (`%hr`, `%hs`).
public struct CaptureSlot: Sendable, Hashable {
    /// The header the slot captures by itself (`capture … header`), nil when rules fill it.
    public var header: String?
    /// At most this many bytes are kept.
    public var length: Int

    public init(header: String?, length: Int) {
        self.header = header
        self.length = length
    }
}

/// `capture cookie NAME len N`: the first cookie whose name starts with NAME, in the
/// request's `Cookie` (logged as `%CC`) and the response's `Set-Cookie` (`%CS`).
public struct CookieCapture: Sendable, Hashable {
    public var name: String
    public var length: Int
    public init(name: String, length: Int) {
        self.name = name
        self.length = length
    }
}

/// A frontend's capture slots.
public struct CaptureDeclarations: Sendable, Hashable {
    public var request: [CaptureSlot] = []
    public var response: [CaptureSlot] = []
    public var cookie: CookieCapture?
    public init() {}
    public var isEmpty: Bool { request.isEmpty && response.isEmpty && cookie == nil }
}

/// `http-request capture EXPR len N|id N`, `http-response capture EXPR id N`: the value of
/// the expression goes into slot `slot` of the frontend's request (response) captures.
public struct CaptureAction: Sendable, Hashable {
    public var expression: SampleExpression
    public var slot: Int
    public init(expression: SampleExpression, slot: Int) {
        self.expression = expression
        self.slot = slot
    }
}

/// `retry-on KEYWORD…` (Config/RetryOnParser.swift): when a backend tries a request again,
/// within its `retries`. HAProxy 2.6's default is `conn-failure` alone.
public struct RetryConditions: Sendable, Equatable {
    public var connectionFailure = true
    public var emptyResponse = false
    public var junkResponse = false
    public var responseTimeout = false
    public var zeroRTTRejected = false
    /// Response statuses that are retried (401, 403, 404, 408, 425, 500…504).
    public var statuses: Set<Int> = []

    public init() {}

    /// Whether a request must be kept to be sent again after its response began to come.
    public var retriesAfterSending: Bool { !statuses.isEmpty || emptyResponse || responseTimeout }

    public static let retryableStatuses: Set<Int> = [401, 403, 404, 408, 425, 500, 501, 502, 503, 504]
}

import NIOCore

/// `retry-on 503 …` (Model/RetryConditions.swift): a response whose status the backend
/// retries is dropped and the request goes to the same server again on a new connection,
/// within `retries`, as HAProxy 2.6's layer-7 retries do (its `%rc` counts them). Only
/// requests without a body are retried here (HAProxy also retries one whose body fits in
/// its buffer).
extension HTTPSession {
    func retryOnStatus(_ status: Int) -> Bool {
        guard let backend, backend.retryOn.statuses.contains(status), let kept = stream.headForStatusRetry,
              stream.statusRetries < backend.retries, let connection else { return false }
        stream.statusRetries += 1
        backend.counters.retries.increment()
        connection.server.counters.retries.increment()
        self.connection = nil
        connection.owner = nil
        releaseServer(connection, reusable: false)
        stream.chosenServer = connection.server
        stream.chosenSlotTaken = false
        stream.headForStatusRetry = nil
        stream.pendingHead = kept
        stream.responseHeadBuffer = nil
        phase = .connecting
        acquireConnection(allowPool: false)
        return true
    }
}

import NIOCore

/// `retry-on 503 …` (Model/RetryConditions.swift): a response whose status the backend
/// retries (or none at all: `empty-response`, `response-timeout`) is dropped and the
/// request goes to the same server again on a new connection,
/// within `retries`, as HAProxy 2.6's layer-7 retries do (its `%rc` counts them). Only
/// requests without a body are retried here (HAProxy also retries one whose body fits in
/// its buffer).
extension HTTPSession {
    func retryOnStatus(_ status: Int) -> Bool {
        guard let backend, backend.retryOn.statuses.contains(status), let server = connection?.server else { return false }
        return retryAgain(on: server)
    }

    /// `retry-on empty-response`: the server (`server`, its connection released already)
    /// closed without a byte of response.
    func retryOnEmptyResponse(from server: RuntimeServer) -> Bool {
        guard let backend, backend.retryOn.emptyResponse, !stream.responseStarted, stream.responseHeadBuffer == nil else {
            return false
        }
        return retryAgain(on: server)
    }

    /// `retry-on response-timeout`: `timeout server` passed before a response began.
    func retryOnResponseTimeout() -> Bool {
        guard let backend, backend.retryOn.responseTimeout, !stream.responseStarted, let server = connection?.server else {
            return false
        }
        return retryAgain(on: server)
    }

    private func retryAgain(on server: RuntimeServer) -> Bool {
        guard let backend, let kept = stream.headForStatusRetry, stream.statusRetries < backend.retries else { return false }
        stream.statusRetries += 1
        backend.counters.retries.increment()
        server.counters.retries.increment()
        if let connection {
            self.connection = nil
            connection.owner = nil
            releaseServer(connection, reusable: false)
        }
        stream.chosenServer = server
        stream.chosenSlotTaken = false
        stream.headForStatusRetry = nil
        stream.pendingHead = kept
        stream.responseHeadBuffer = nil
        phase = .connecting
        acquireConnection(allowPool: false)
        return true
    }
}

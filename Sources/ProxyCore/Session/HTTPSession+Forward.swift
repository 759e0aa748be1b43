import NIOCore

/// Phase 6, forward: request bodies to the server, the server's events back.
extension HTTPSession {
    /// Forwards client bytes that belong to the request body; keeps any excess (the next
    /// pipelined request) in `inbound`.
    func forwardRequestBody(_ buffer: ByteBuffer) {
        guard let channel = connection?.transport else { append(buffer); return }
        idle.touch()
        countRequestBytes(buffer.readableBytes)  // stats (issue 4)
        switch buffer.withUnsafeReadableBytes({ stream.requestBody.feed($0) }) {
        case .needsMore:
            channel.write(buffer)
        case .complete(let consumed):
            var rest = buffer
            if consumed > 0 { channel.write(rest.readSlice(length: consumed)!) }
            stream.requestComplete = true
            if rest.readableBytes > 0 { append(rest) }
        case .error:
            counters.requestErrors.increment()
            abortExchange(status: 400)
        }
    }

    // MARK: - Server events (same event loop)

    func serverRead(_ buffer: ByteBuffer, from connection: ServerConnection) {
        guard connection === self.connection else { return }
        idle.touch()
        counters.bytesOut.add(buffer.readableBytes)
        stickTrackers?.bytesOut(buffer.readableBytes)
        stream.log?.bytesOut += buffer.readableBytes
        backend?.counters.bytesOut.add(buffer.readableBytes)  // stats (issue 4)
        connection.server.counters.bytesOut.add(buffer.readableBytes)
        switch phase {
        case .tunnel:
            stream.responseStarted = true
            client.write(buffer)
        case .exchanging:
            if stream.responseHeadDone {
                forwardResponseBody(buffer)
            } else {
                if stream.responseHeadBuffer == nil || stream.responseHeadBuffer!.readableBytes == 0 {
                    stream.responseHeadBuffer = buffer
                } else {
                    var incoming = buffer
                    stream.responseHeadBuffer!.writeBuffer(&incoming)
                }
                parseResponse()
            }
        default:
            break
        }
    }

    func serverReadComplete(_ connection: ServerConnection) {
        guard connection === self.connection else { return }
        client.flush()
        guard phase == .exchanging || phase == .tunnel else { return }
        if client.isWritable { connection.transport.read() } else { serverReadPending = true }
    }

    func serverWritabilityChanged(_ connection: ServerConnection) {
        if connection.transport.isWritable, clientReadPending {
            clientReadPending = false
            readClient()
        }
    }

    func serverClosed(_ connection: ServerConnection) {
        guard connection === self.connection else { return }
        self.connection = nil
        releaseServer(connection, reusable: false)
        switch phase {
        case .tunnel:
            client.flush()
            close()
        case .exchanging:
            if stream.responseHeadDone, stream.responseUntilClose {
                // The close is the end of this response.
                client.flush()
                close()
            } else if !stream.responseStarted, let kept = stream.keptHeadForRetry, stream.requestComplete, !stream.requestHasBody,
                      !stream.retriedOnReusedConnection {
                // A reused connection the server closed before answering: once more on
                // a fresh connection, as HAProxy does.
                stream.retriedOnReusedConnection = true
                stream.keptHeadForRetry = nil
                stream.pendingHead = kept
                phase = .connecting
                acquireConnection(allowPool: false)
            } else if retryOnEmptyResponse(from: connection.server) {  // `retry-on empty-response` (HTTPSession+RetryOn.swift)
            } else if !stream.responseStarted {
                stream.log?.terminate("S", "H")
                countResponseError(connection.server)  // eresp (issue 4)
                sendError(502, close: true)
            } else {
                stream.log?.terminate("S", "D")
                countServerAbort(connection.server)  // eresp + srv_abrt (issue 13)
                client.flush()
                close()
            }
        default:
            break
        }
    }

}

import NIOCore

/// Phase 6, forward: request bodies to the server, the server's events back.
extension HTTPSession {
    /// Forwards client bytes that belong to the request body; keeps any excess (the next
    /// pipelined request) in `inbound`.
    func forwardRequestBody(_ buffer: ByteBuffer) {
        guard let channel = connection?.transport else { append(buffer); return }
        idle.touch()
        countRequestBytes(buffer.readableBytes)  // stats (issue 4)
        switch buffer.withUnsafeReadableBytes({ requestBody.feed($0) }) {
        case .needsMore:
            channel.write(buffer)
        case .complete(let consumed):
            var rest = buffer
            if consumed > 0 { channel.write(rest.readSlice(length: consumed)!) }
            requestComplete = true
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
        log?.bytesOut += buffer.readableBytes
        backend?.counters.bytesOut.add(buffer.readableBytes)  // stats (issue 4)
        connection.server.counters.bytesOut.add(buffer.readableBytes)
        switch phase {
        case .tunnel:
            responseStarted = true
            client.write(buffer)
        case .exchanging:
            if responseHeadDone {
                forwardResponseBody(buffer)
            } else {
                if responseHeadBuffer == nil || responseHeadBuffer!.readableBytes == 0 {
                    responseHeadBuffer = buffer
                } else {
                    var incoming = buffer
                    responseHeadBuffer!.writeBuffer(&incoming)
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
            if responseHeadDone, responseUntilClose {
                // The close is the end of this response.
                client.flush()
                close()
            } else if !responseStarted, let kept = keptHeadForRetry, requestComplete, !requestHasBody,
                      !retriedOnReusedConnection {
                // A reused connection the server closed before answering: once more on
                // a fresh connection, as HAProxy does.
                retriedOnReusedConnection = true
                keptHeadForRetry = nil
                pendingHead = kept
                phase = .connecting
                acquireConnection(allowPool: false)
            } else if !responseStarted {
                log?.terminate("S", "H")
                countResponseError(connection.server)  // eresp (issue 4)
                sendError(502, close: true)
            } else {
                log?.terminate("S", "D")
                countServerAbort(connection.server)  // eresp + srv_abrt (issue 13)
                client.flush()
                close()
            }
        default:
            break
        }
    }

}

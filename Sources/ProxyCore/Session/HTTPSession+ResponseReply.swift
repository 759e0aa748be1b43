import NIOCore

/// `http-response deny` and `http-response return`: proxyd's answer in place of the
/// server's, as HAProxy 2.6 gives it. The server's response is dropped with its
/// connection (its body is never read); the client gets the reply and keeps its
/// connection; the log says `PH` (deny) or `LH` (return), with no response time, and a
/// deny counts in `dresp`.
extension HTTPSession {
    func answerInPlaceOfServer(_ reply: ByteBuffer, denied: Bool) {
        stream.serverReusable = false
        if denied {  // dresp of the frontend, the backend and the server
            counters.deniedResponses.increment()
            backend?.counters.deniedResponses.increment()
            connection?.server.counters.deniedResponses.increment()
        }
        if let connection {
            self.connection = nil
            connection.owner = nil
            releaseServer(connection, reusable: false)
        }
        // The server's status was counted when its head came; the reply's bytes go out.
        counters.bytesOut.add(reply.readableBytes)
        stickTrackers?.bytesOut(reply.readableBytes)
        if stream.log != nil {
            stream.log?.responseAt = nil
            stream.log?.terminate(denied ? "P" : "L", "H")
        }
        sendReply(reply, close: false)
    }
}

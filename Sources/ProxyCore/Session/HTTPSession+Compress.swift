import NIOCore

/// `compression` (issue 15), in the forward phases: the request chooses an algorithm from
/// its `Accept-Encoding`, the response head is edited when it is compressed, and its body
/// goes out compressed, in chunks. The decisions are CompressionPolicy's.
extension HTTPSession {
    /// The backend's algorithms (its types, its offload) when it has some, else the
    /// frontend's, as HAProxy picks them.
    private func compressionSettings(_ backend: RuntimeBackend?) -> (algorithms: [CompressionAlgorithm],
                                                                      types: [String], offload: Bool)? {
        let own = backend?.compression, front = frontend.compression
        guard own != nil || front != nil else { return nil }
        let algorithms = own.map(\.algorithms).flatMap { $0.isEmpty ? nil : $0 } ?? front?.algorithms ?? []
        let types = own.map(\.types).flatMap { $0.isEmpty ? nil : $0 } ?? front?.types ?? []
        return (algorithms, types, (own?.offload ?? false) || (front?.offload ?? false))
    }

    func chooseCompression(head: HTTPRequestHead, buffer: ByteBuffer, backend: RuntimeBackend,
                           rewrite: inout HeadRewrite) {
        stream.compression = nil
        stream.compressedBody = nil
        guard let settings = compressionSettings(backend), head.method != .head else { return }
        let headers = stream.requestParser.headers
        let chosen = buffer.withUnsafeReadableBytes {
            CompressionPolicy.choose(settings.algorithms, version: head.version, headers: headers, bytes: $0)
        }
        guard let chosen else { return }
        stream.compression = chosen
        // The server is not to compress what proxyd will.
        if settings.offload { rewrite.dropNames.append(Array("accept-encoding".utf8)) }
    }

    func startCompression(head: HTTPResponseHead, headBytes: ByteBuffer, rewrite: inout HeadRewrite) {
        guard let algorithm = stream.compression, let settings = compressionSettings(backend) else { return }
        let headers = stream.responseParser.headers
        let compresses = headBytes.withUnsafeReadableBytes { bytes -> Bool in
            guard CompressionPolicy.compresses(status: head.status, version: head.version, framing: head.framing,
                                               types: settings.types, headers: headers, bytes: bytes) else { return false }
            CompressionPolicy.editResponse(algorithm, framing: head.framing, headers: headers, bytes: bytes,
                                           rewrite: &rewrite)
            return true
        }
        guard compresses else { return }
        stream.compressedBody = CompressedBody(algorithm, serverChunked: head.framing == .chunked)
        counters.compressedResponses.increment()
        backend?.counters.compressedResponses.increment()
    }

    /// Body bytes of a compressed response: checked by the framer as any body, then
    /// compressed; the end of the body ends the compressed stream.
    func forwardCompressedBody(_ buffer: ByteBuffer) {
        guard let body = stream.compressedBody else { return }
        func send(_ bytes: [UInt8]) {
            // comp_in/comp_out, before the exchange ends (it lets the backend go).
            let counts = body.takeCounts()
            counters.compressionIn.add(counts.in)
            counters.compressionOut.add(counts.out)
            backend?.counters.compressionIn.add(counts.in)
            backend?.counters.compressionOut.add(counts.out)
            guard !bytes.isEmpty else { return }
            var out = ByteBuffer()
            out.writeBytes(bytes)
            client.write(out)
        }
        switch buffer.withUnsafeReadableBytes({ stream.responseBody.feed($0) }) {
        case .needsMore:
            send(buffer.withUnsafeReadableBytes { body.feed($0) })
        case .complete(let consumed):
            send(buffer.withUnsafeReadableBytes { body.feed(UnsafeRawBufferPointer(rebasing: $0[0..<consumed])) })
            send(body.finish())
            stream.compressedBody = nil
            // Bytes after the end of a response were never asked for.
            if buffer.readableBytes > consumed { stream.serverReusable = false }
            finishExchange()
        case .error:
            stream.compressedBody = nil
            abortExchange(status: 502)
        }
    }
}

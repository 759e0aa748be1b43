import ProxyCore

/// The chunked body framer fed the same bytes whole and in slices (the slice lengths come
/// from the first bytes of the input): the answer must not depend on how reads fell.
enum ChunkedTarget {
    static func run(_ input: UnsafeRawBufferPointer) {
        guard input.count >= 4 else { return }
        let cuts = Array(input.prefix(4))
        let body = UnsafeRawBufferPointer(rebasing: input.dropFirst(4))

        var whole = ChunkedBodyFramer(maxLineLength: 64, maxTrailerLength: 256)
        let expected = whole.feed(body)

        var sliced = ChunkedBodyFramer(maxLineLength: 64, maxTrailerLength: 256)
        var offset = 0
        var turn = 0
        var result = ChunkedFeedResult.needsMore
        while offset < body.count {
            let length = min(body.count - offset, Int(cuts[turn % cuts.count]) % 17 + 1)
            turn += 1
            switch sliced.feed(UnsafeRawBufferPointer(rebasing: body[offset..<(offset + length)])) {
            case .needsMore:
                offset += length
                continue
            case .complete(let consumed):
                require(consumed >= 0 && consumed <= length, "consumed \(consumed) of a \(length)-byte slice")
                result = .complete(consumed: offset + consumed)
            case .error(let e):
                result = .error(e)
            }
            break
        }
        require(result == expected, "whole: \(expected), in slices: \(result)")
        if case .complete(let consumed) = expected {
            require(consumed <= body.count, "consumed \(consumed) of \(body.count)")
            require(whole.isComplete, "complete but not isComplete")
            require(whole.dataBytes <= UInt64(consumed), "more data than bytes")
        }
    }
}

import NIOCore

/// Undoes an obs-fold in place, as HAProxy does: the line break before the folded line
/// (which starts at `lineStart`, relative to the reader index) becomes spaces, so the
/// folded text joins the value above. The head's length is unchanged. False if no line
/// break precedes `lineStart` (nothing was changed: parsing again would not progress).
func unfoldLine(at lineStart: Int, in buffer: inout ByteBuffer) -> Bool {
    let index = buffer.readerIndex + lineStart
    guard lineStart >= 1, buffer.getInteger(at: index - 1, as: UInt8.self) == asciiLF else { return false }
    buffer.setInteger(asciiSP, at: index - 1)
    if lineStart >= 2, buffer.getInteger(at: index - 2, as: UInt8.self) == asciiCR {
        buffer.setInteger(asciiSP, at: index - 2)
    }
    return true
}

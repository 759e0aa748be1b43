import NIOCore

/// Copies a parsed head out with a few edits: header lines dropped, lines added before the
/// empty line that ends the head. Kept bytes go out as slices of the original buffer
/// (no copy); only added lines are new bytes. With no edit, the head is one slice.
struct HeadRewrite {
    /// Drop every `Connection` header line (before adding our own).
    var dropConnection = false
    /// Lower-case names of header lines to drop (`del-header`, `set-header`).
    var dropNames: [[UInt8]] = []
    /// Lines to add, each `Name: value\r\n`.
    var added: [UInt8] = []
    /// Header lines rewritten where they stand (cookie persistence edits one `Cookie` or
    /// `Set-Cookie` among several), by the offset of the line: the new whole line, or
    /// nothing to remove it.
    var replaced: [Int: [UInt8]] = [:]
    /// A new first line, CRLF included (`set-path`, `replace-uri`, `set-method`,
    /// `set-status` …: Runtime/RequestLineRewrite.swift).
    var startLine: [UInt8]? = nil
    /// The method and target of a rewritten request line, which later rules read.
    var requestMethod: RewrittenBytes? = nil
    var requestTarget: RewrittenBytes? = nil
    /// `set-log-level`, `set-src` (Runtime/RuleEffects.swift): not head edits, but what the
    /// same rules leave for the session.
    var effects = RuleEffects()

    var isEmpty: Bool {
        !dropConnection && dropNames.isEmpty && added.isEmpty && replaced.isEmpty && startLine == nil
    }

    mutating func replace(lineAt start: Int, with line: [UInt8]) {
        replaced[start] = line
    }

    mutating func add(_ name: [UInt8], _ value: [UInt8]) {
        added += name
        added += [0x3A, 0x20]
        added += value
        added += [0x0D, 0x0A]
    }

    mutating func add(_ line: StaticString) {
        added += UnsafeBufferPointer(start: line.utf8Start, count: line.utf8CodeUnitCount)
        added += [0x0D, 0x0A]
    }

    /// Emits the head found at `buffer`'s readable bytes (`start..<length`, spans relative
    /// to the reader index; `headersEnd`: where the empty line that ends the head begins)
    /// through `write`.
    func emit(from buffer: ByteBuffer, start: Int, length: Int, headersEnd: Int,
              headers: [HTTPHeaderField], write: (ByteBuffer) -> Void) {
        let base = buffer.readerIndex
        if isEmpty {
            write(buffer.getSlice(at: base + start, length: length - start)!)
            return
        }
        // Kept runs of header lines go out as slices; dropped lines are skipped.
        var pendingStart = start
        if let startLine {
            let lineEnd = buffer.withUnsafeReadableBytes { bytes in
                (bytes[start..<headersEnd].firstIndex(of: 0x0A) ?? headersEnd - 1) + 1
            }
            var line = ByteBuffer()
            line.writeBytes(startLine)
            write(line)
            pendingStart = lineEnd
        }
        if dropConnection || !dropNames.isEmpty || !replaced.isEmpty {
            buffer.withUnsafeReadableBytes { bytes in
                for field in headers {
                    let replacement = replaced[field.name.start]
                    guard replacement != nil || shouldDrop(field, in: bytes) else { continue }
                    let lineStart = field.name.start
                    if lineStart > pendingStart {
                        write(buffer.getSlice(at: base + pendingStart, length: lineStart - pendingStart)!)
                    }
                    if let replacement, !replacement.isEmpty, !shouldDrop(field, in: bytes) {
                        var line = ByteBuffer()
                        line.writeBytes(replacement)
                        write(line)
                    }
                    pendingStart = field.lineEnd(in: bytes)
                }
            }
        }
        if headersEnd > pendingStart {
            write(buffer.getSlice(at: base + pendingStart, length: headersEnd - pendingStart)!)
        }
        var tail = ByteBuffer()
        tail.reserveCapacity(added.count + 2)
        tail.writeBytes(added)
        tail.writeStaticString("\r\n")
        write(tail)
    }

    private func shouldDrop(_ field: HTTPHeaderField, in bytes: UnsafeRawBufferPointer) -> Bool {
        if dropConnection, field.name.equalsCaseInsensitive("connection", in: bytes) { return true }
        for name in dropNames {
            let matches = name.withUnsafeBufferPointer { field.name.equalsCaseInsensitive(lowercased: $0, in: bytes) }
            if matches { return true }
        }
        return false
    }
}

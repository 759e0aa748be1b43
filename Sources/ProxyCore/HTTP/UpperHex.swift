/// Bytes as upper-case hexadecimal digits, as HAProxy writes them: `%0D` in an escaped
/// header value, `#22` in a logged capture, the `hex` converter, TLS log fields, tcp-check
/// reports. Appends into the caller's buffer: no array is made per byte (captures and
/// escaped headers are written per request).
enum UpperHex {
    /// The digit of the low four bits of `nibble`.
    @inline(__always)
    static func digit(_ nibble: UInt8) -> UInt8 {
        let n = nibble & 0x0F
        return n < 10 ? UInt8(ascii: "0") + n : UInt8(ascii: "A") + n - 10
    }

    /// Appends the two digits of `byte`.
    @inline(__always)
    static func append(_ byte: UInt8, to out: inout [UInt8]) {
        out.append(digit(byte >> 4))
        out.append(digit(byte))
    }

    /// Appends the two digits of every byte of `bytes`.
    static func append<Bytes: Sequence>(contentsOf bytes: Bytes, to out: inout [UInt8]) where Bytes.Element == UInt8 {
        for byte in bytes { append(byte, to: &out) }
    }
}

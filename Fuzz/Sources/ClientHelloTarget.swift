@testable import ProxyCore

/// The ClientHello inspector behind `req.ssl_sni`, on a stream as it arrives: every
/// answer on a prefix must agree with the answer on the whole (a decision once taken is
/// final: `notTLS` or a hello stays so with more bytes).
enum ClientHelloTarget {
    static func run(_ input: UnsafeRawBufferPointer) {
        guard !input.isEmpty else { return }
        let bytes = Array(input.dropFirst())
        let whole = ClientHelloParser.parse(bytes)
        let cut = Int(input[0]) * bytes.count / 256
        let early = ClientHelloParser.parse(Array(bytes[..<cut]))
        if early != .needMore {
            require(early == whole, "\(cut) bytes give \(early), all \(bytes.count) give \(whole)")
        }
    }
}

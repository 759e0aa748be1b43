import Glibc

/// A failed socket call, with the call's name and errno.
enum SocketCallError: Error, Equatable, CustomStringConvertible {
    /// EMFILE or ENFILE: the process or the system is out of descriptors. Apart because an
    /// accept loop reacts to it differently (pause the listener) than to a lost connection.
    case outOfDescriptors(call: String, errno: CInt)
    case failed(call: String, errno: CInt)

    var errno: CInt {
        switch self {
        case .outOfDescriptors(_, let code), .failed(_, let code): return code
        }
    }

    var description: String {
        switch self {
        case .outOfDescriptors(let call, let code), .failed(let call, let code):
            return "\(call): \(String(cString: strerror(code))) (errno \(code))"
        }
    }

    static func from(_ call: String, _ code: CInt) -> SocketCallError {
        code == EMFILE || code == ENFILE ? .outOfDescriptors(call: call, errno: code)
                                         : .failed(call: call, errno: code)
    }
}

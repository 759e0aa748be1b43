#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Which ways a `mode tcp` stream is spliced (`option splice-request`, `splice-response`,
/// `splice-auto`); a frontend's and its backend's settings add up, as in HAProxy.
struct SpliceDirections: Equatable {
    var request = false
    var response = false

    func union(_ other: SpliceDirections) -> SpliceDirections {
        SpliceDirections(request: request || other.request, response: response || other.response)
    }
}

/// One way of a spliced stream: the source connection's bytes go into a pipe and from it
/// to the destination's socket, both moves inside the kernel (`splice(2)`), so they never
/// reach user space. The source splices in only when the pipe is empty: the bytes in it
/// are the stream's whole buffer, and until the destination has taken them it counts as
/// unwritable, which stops the source as a full write queue does.
final class SplicePump {
    private(set) var pipeRead: CInt
    private(set) var pipeWrite: CInt
    /// What one splice moves at most: the pipe's size.
    let capacity: Int
    /// Bytes in the pipe, not yet taken by the destination.
    var inPipe = 0
    weak var destination: NativeConnection?

    /// nil when no pipe could be had (out of descriptors): the stream is copied instead.
    init?(destination: NativeConnection) {
        var ends: [CInt] = [-1, -1]
        guard pipe2(&ends, O_NONBLOCK | O_CLOEXEC) == 0 else { return nil }
        pipeRead = ends[0]
        pipeWrite = ends[1]
        // 64 KiB is Linux's default pipe size; asked anyway, in case the default is smaller.
        let size = fcntl(pipeWrite, CLINUX_F_SETPIPE_SZ, Self.preferredSize)
        capacity = size > 0 ? Int(size) : 65536
        self.destination = destination
    }

    static let preferredSize: CInt = 65536

    var isOpen: Bool { pipeRead >= 0 }

    /// Socket -> pipe; the count moved, 0 at the source's end, or -errno.
    func fill(from socket: CInt) -> Int {
        Self.move(from: socket, to: pipeWrite, count: capacity)
    }

    /// Pipe -> socket: what it took, or -errno.
    func drain(to socket: CInt) -> Int {
        Self.move(from: pipeRead, to: socket, count: inPipe)
    }

    func close() {
        guard isOpen else { return }
        Glibc.close(pipeRead)
        Glibc.close(pipeWrite)
        pipeRead = -1
        pipeWrite = -1
        inPipe = 0
    }

    deinit { close() }

    private static func move(from source: CInt, to target: CInt, count: Int) -> Int {
        while true {
            let moved = splice(source, nil, target, nil, count, UInt32(CLINUX_SPLICE_F_MOVE | CLINUX_SPLICE_F_NONBLOCK))
            if moved >= 0 { return moved }
            if errno == EINTR { continue }
            return -Int(errno == EWOULDBLOCK ? EAGAIN : errno)
        }
    }
}

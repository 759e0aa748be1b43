import Glibc
import ProxyCore

/// A worker's side of master-worker mode: what the master handed it through the
/// environment when it spawned it (MasterProcess), and the way to say it is serving.
///
/// `PROXYD_MASTER_LISTENERS` names the inherited listening sockets (`5,6,7`), matched to
/// the binds by address (InheritedListeners); `PROXYD_MASTER_READY` is the write end of a
/// pipe on which the worker says `OK` once it accepts, or why it could not start;
/// `PROXYD_MASTER_CLI` one end of a socket pair on which the master CLI forwards commands.
struct MasterLink {
    static let listenersVariable = "PROXYD_MASTER_LISTENERS"
    static let readyVariable = "PROXYD_MASTER_READY"
    static let cliVariable = "PROXYD_MASTER_CLI"

    let listeners: [Int32]
    private let readyFD: Int32
    /// The worker's end of the master CLI's link (`@1 show info`), served by ControlPlane.
    let cliFD: Int32?

    /// The link when this process is a worker spawned by a master; nil otherwise. The
    /// variables are removed so that nothing the worker starts inherits them.
    static func fromEnvironment() -> MasterLink? {
        guard let ready = getenv(readyVariable).flatMap({ Int32(String(cString: $0)) }) else { return nil }
        let list = getenv(listenersVariable).map { String(cString: $0) } ?? ""
        let cli = getenv(cliVariable).flatMap { Int32(String(cString: $0)) }
        unsetenv(readyVariable)
        unsetenv(listenersVariable)
        unsetenv(cliVariable)
        if let cli { _ = fcntl(cli, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(ready, F_SETFD, FD_CLOEXEC)
        let fds = list.split(separator: ",").compactMap { Int32($0) }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return MasterLink(listeners: fds, readyFD: ready, cliFD: cli)
    }

    /// Listening: the master may now stop the previous workers.
    func ready() {
        _ = "OK".withCString { write(readyFD, $0, 2) }
        close(readyFD)
    }

    /// Start-up failed: the master reports `message` as the reload's failure.
    func failed(_ message: String) {
        _ = message.withCString { write(readyFD, $0, strlen($0)) }
        close(readyFD)
    }
}

import Glibc
import ProxyCore

/// The listening sockets the master holds for its workers, by address. A reload keeps the
/// socket of every address the new configuration still listens on (so its queue and the
/// port itself never go away), opens the new ones, and closes the others only once the new
/// worker serves.
final class MasterListeners {
    struct Socket {
        let fd: Int32
        let file: UnixSocketFile?
    }

    /// The sockets the current workers were given.
    private(set) var current: [String: Socket] = [:]

    /// Sockets for every bind of `configuration`: those already open are reused, the
    /// others opened. Throws the bind error as HAProxy words it; nothing is left open then.
    func prepare(_ configuration: ProxyConfiguration) throws -> [String: Socket] {
        var next: [String: Socket] = [:]
        for proxy in configuration.listeners {
            for bind in proxy.binds {
                guard let key = InheritedListeners.key(of: bind.address), next[key] == nil else { continue }
                if let socket = current[key] {
                    next[key] = socket
                    continue
                }
                do {
                    // The worker's own bind would queue as many (ProxyRuntime.bind).
                    let maxconn = proxy.maxconn ?? configuration.global.maxconn ?? ResourceLimits.defaultMaxConnections()
                    let (fd, file) = try ListenerSocket.open(
                        bind, backlog: ListenerSocket.backlog(of: bind, frontendMaxConnections: maxconn))
                    next[key] = Socket(fd: fd, file: file)
                } catch {
                    discard(next)
                    throw MasterFailure("Binding [\(bind.location)] for frontend \(proxy.name): cannot bind socket (\(error)) for [\(bind.address)]",
                                        "[proxyd.main()] Some protocols failed to start their listeners! Exiting.")
                }
            }
        }
        return next
    }

    /// `fd@N` binds: descriptors the master itself inherited (systemd socket activation),
    /// passed on to every worker under the same number.
    static func passedThrough(_ configuration: ProxyConfiguration) -> [Int32] {
        configuration.listeners.flatMap { proxy in
            proxy.binds.compactMap { bind -> Int32? in
                if case .fileDescriptor(let fd) = bind.address { return fd }
                return nil
            }
        }
    }

    /// The new worker serves on `next`: sockets no longer listened on close (the old
    /// workers keep theirs until they stop).
    func commit(_ next: [String: Socket]) {
        for (key, socket) in current where next[key] == nil {
            close(socket.fd)
            socket.file?.removeIfStillOurs()
        }
        current = next
    }

    /// The reload failed: sockets opened for it close, the current ones stay.
    func discard(_ next: [String: Socket]) {
        for (key, socket) in next where current[key] == nil {
            close(socket.fd)
            socket.file?.removeIfStillOurs()
        }
    }

    /// The master exits.
    func closeAll() {
        commit([:])
    }
}

/// A start-up or reload failure: the alert lines to report.
struct MasterFailure: Error {
    let messages: [String]
    init(_ messages: String...) { self.messages = messages }
}

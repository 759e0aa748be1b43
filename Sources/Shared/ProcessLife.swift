#if canImport(Glibc)
import Glibc
#endif

/// Process-level chores both daemons share: detaching, pid files, dropping privileges.
public enum ProcessLife {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(_ description: String) { self.description = description }
    }

    /// Forks into the background. The parent waits until the child calls `Detached.ready()`
    /// or `Detached.failed(_:)`, prints the child's error if any, and exits with its status,
    /// so start-up errors (a port in use) still reach the operator's terminal.
    public static func detach() throws -> Detached {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw Failure("pipe: \(errnoText())") }
        let pid = fork()
        if pid < 0 { throw Failure("fork: \(errnoText())") }
        if pid > 0 {
            close(fds[1])
            var message: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 512)
            while true {
                let n = read(fds[0], &chunk, chunk.count)
                if n <= 0 { break }
                message.append(contentsOf: chunk[0..<n])
            }
            if message.isEmpty { exit(1) }  // the child died before saying anything
            if message == Array("OK".utf8) { exit(0) }
            let text = String(decoding: message, as: UTF8.self)
            fputs(text.hasSuffix("\n") ? text : text + "\n", stderr)
            exit(1)
        }
        close(fds[0])
        _ = setsid()
        // Whatever the launcher left open (a supervisor's status pipe, say) would keep
        // it waiting for us: a daemon keeps only stdio and its report pipe.
        let limit = min(Int32(truncatingIfNeeded: sysconf(Int32(_SC_OPEN_MAX))), 65536)
        if limit > 3 {
            for fd in 3..<limit where fd != fds[1] { close(fd) }
        }
        // /dev/null is opened now: after a chroot it may not exist.
        return Detached(reportFD: fds[1], nullFD: open("/dev/null", O_RDWR))
    }

    /// The child side of `detach()`.
    public struct Detached {
        let reportFD: Int32
        let nullFD: Int32

        /// Tells the waiting parent that start-up worked, and detaches stdio.
        public func ready() {
            _ = "OK".withCString { write(reportFD, $0, 2) }
            close(reportFD)
            if nullFD >= 0 {
                dup2(nullFD, 0); dup2(nullFD, 1); dup2(nullFD, 2)
                if nullFD > 2 { close(nullFD) }
            }
        }

        /// Tells the waiting parent why start-up failed; it prints it and exits 1.
        public func failed(_ message: String) {
            _ = message.withCString { write(reportFD, $0, strlen($0)) }
            close(reportFD)
        }
    }

    /// Writes our pid to `path` (`-p`, `pidfile`).
    public static func writePidFile(_ path: String, pid: Int32 = getpid()) throws {
        guard let file = fopen(path, "w") else {
            throw Failure("cannot create pidfile \(path)")
        }
        fputs("\(pid)\n", file)
        fclose(file)
    }

    /// `chroot DIR`, then change to its root. The way to systemd's notify socket is
    /// opened first: its path is outside the chroot.
    public static func chroot(to directory: String) throws {
        SystemdNotify.connectBeforeChroot()
        guard Glibc.chroot(directory) == 0, chdir("/") == 0 else {
            throw Failure("Cannot chroot(\(directory)).")
        }
    }

    /// The ids to drop to, looked up while the user and group databases are still
    /// reachable (before `chroot`).
    public struct Identity {
        public var uid: UInt32?
        public var gid: UInt32?
    }

    /// Resolves `user`/`group` names (or takes `uid`/`gid`). Without a group, `user`
    /// takes the user's own group: HAProxy 2.6 keeps gid 0 then, which leaves root's group
    /// to a process that meant to drop root (measured; we choose the safer side).
    public static func resolveIdentity(user: String?, group: String?, uid: UInt32?, gid: UInt32?) throws -> Identity {
        var identity = Identity(uid: uid, gid: gid)
        if let group {
            guard let entry = getgrnam(group) else { throw Failure("Can't find group id for '\(group)'") }
            identity.gid = entry.pointee.gr_gid
        }
        if let user {
            guard let entry = getpwnam(user) else { throw Failure("Can't find uid for '\(user)'") }
            identity.uid = entry.pointee.pw_uid
            if identity.gid == nil { identity.gid = entry.pointee.pw_gid }
        }
        return identity
    }

    /// Drops to the resolved identity, group first. The supplementary groups go too (as
    /// HAProxy 2.6, which clears them rather than taking the user's from /etc/group: a
    /// user in, say, `ssl-cert` must not carry it into the proxy).
    public static func drop(to identity: Identity) throws {
        if identity.gid != nil || identity.uid != nil, getuid() == 0 {
            guard setgroups(0, nil) == 0 else { throw Failure("Cannot drop supplementary groups") }
        }
        if let gid = identity.gid {
            guard setgid(gid) == 0 else { throw Failure("Cannot set gid \(gid).") }
        }
        if let uid = identity.uid {
            guard setuid(uid) == 0 else { throw Failure("Cannot set uid \(uid).") }
        }
    }

    public static func errnoText(_ code: Int32 = errno) -> String {
        String(cString: strerror(code))
    }
}

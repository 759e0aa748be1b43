#if canImport(Glibc)
import Glibc
#endif
import CLinux  // SOCK_*, IPPROTO_*: a clean build finds them in CLinux's module (which includes their headers)
import Atomics

/// A listening Unix socket put in place as HAProxy does it, so that a reload never leaves
/// its path missing or pointing at the wrong process.
///
/// The socket is bound under a temporary name in the same directory (`PATH.<pid>.tmp`),
/// given its mode and owner, listening, and only then renamed onto PATH: rename() replaces
/// an older process's socket in one step, so a client (vrrpd's probe, socat) finds either
/// the old socket or the new one, never nothing. At exit the path is removed only if it is
/// still the file this process created: after a `-sf` reload it is the new process's, and
/// removing it would cut the new process off from its runtime API.
///
/// NIO's own `bind(unixDomainSocketPath:)` is not used: it removes the path first (a gap
/// with no socket at all) and, worse, removes the path again when the channel closes,
/// whoever owns it by then.
public final class UnixSocketFile: @unchecked Sendable {
    /// `mode`, `uid`/`user` and `gid`/`group` of a `stats socket` or a `bind` line.
    struct Ownership {
        var mode: UInt32?
        var uid: UInt32?
        var gid: UInt32?
        var user: String?
        var group: String?
    }

    /// Why the socket could not be put in place; the text is what the bind error shows.
    struct Failure: Error, CustomStringConvertible {
        let description: String
        init(_ step: String, _ code: Int32 = errno) {
            description = step.isEmpty ? String(cString: strerror(code)) : step + ": " + String(cString: strerror(code))
        }
        init(text: String) { description = text }
    }

    let path: String
    /// The directory, opened before any chroot, so that the file can still be found (and
    /// removed) from inside one; -1 when it could not be opened.
    private let directory: Int32
    private let name: String
    /// Identity of the file we renamed into place. The change time tells our file from a
    /// later one that happens to reuse the same inode number.
    private let identity: (device: UInt64, inode: UInt64, changed: timespec)?
    private let released = ManagedAtomic(false)

    private init(path: String, directory: Int32, name: String,
                 identity: (device: UInt64, inode: UInt64, changed: timespec)?) {
        self.path = path
        self.directory = directory
        self.name = name
        self.identity = identity
    }

    /// Creates the listening socket at `path` and returns its descriptor (blocking; NIO
    /// makes it non-blocking when it takes it over) with the file's record.
    static func listen(path: String, backlog: Int32, ownership: Ownership) throws -> (Int32, UnixSocketFile) {
        var existing = stat()
        if lstat(path, &existing) == 0, existing.st_mode & S_IFMT != S_IFSOCK {
            throw Failure(text: "'\(path)' exists and is not a socket")
        }
        let temporary = "\(path).\(getpid()).tmp"
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard temporary.utf8.count < capacity else {
            throw Failure(text: "name too long for UNIX socket (limit \(capacity - 1 - (temporary.utf8.count - path.utf8.count)))")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in temporary.utf8.enumerated() { raw[i] = byte }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure("socket") }
        var done = false
        defer {
            if !done {
                close(fd)
                unlink(temporary)
            }
        }
        unlink(temporary)  // left over by a process with our pid that died before renaming
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0 else { throw Failure("") }
        try apply(ownership, to: temporary)
        guard Glibc.listen(fd, backlog) == 0 else { throw Failure("listen") }
        var before = stat()
        guard stat(temporary, &before) == 0 else { throw Failure("stat") }
        let directoryPath = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let directory = open(directoryPath.isEmpty ? "/" : directoryPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rename(temporary, path) == 0 else {
            let code = errno
            if directory >= 0 { close(directory) }
            throw Failure("rename", code)
        }
        done = true
        // rename() changes the file's ctime: read it back under the final name. Should
        // another process already have replaced it, we own nothing and remove nothing.
        var after = stat()
        var identity: (device: UInt64, inode: UInt64, changed: timespec)?
        if stat(path, &after) == 0, after.st_dev == before.st_dev, after.st_ino == before.st_ino {
            identity = (UInt64(after.st_dev), UInt64(after.st_ino), after.st_ctim)
        }
        let name = path.contains("/") ? String(path[path.index(after: path.lastIndex(of: "/")!)...]) : path
        return (fd, UnixSocketFile(path: path, directory: directory, name: name, identity: identity))
    }

    /// chmod/chown of the socket file, before it is reachable under its real name.
    private static func apply(_ ownership: Ownership, to path: String) throws {
        if let mode = ownership.mode, chmod(path, mode_t(mode)) != 0 {
            throw Failure("chmod")
        }
        var uid = ownership.uid.map { uid_t($0) } ?? uid_t.max
        var gid = ownership.gid.map { gid_t($0) } ?? gid_t.max
        if let user = ownership.user {
            guard let entry = getpwnam(user) else { throw Failure(text: "unknown user '\(user)'") }
            uid = entry.pointee.pw_uid
        }
        if let group = ownership.group {
            guard let entry = getgrnam(group) else { throw Failure(text: "unknown group '\(group)'") }
            gid = entry.pointee.gr_gid
        }
        if uid != uid_t.max || gid != gid_t.max, chown(path, uid, gid) != 0 {
            throw Failure("chown")
        }
    }

    /// Removes the path if it still is the file this process created; leaves it alone
    /// when a newer process has put its own socket there. Once; from any thread.
    public func removeIfStillOurs() {
        guard released.compareExchange(expected: false, desired: true, ordering: .relaxed).exchanged else { return }
        guard directory >= 0 else { return }
        defer { close(directory) }
        guard let identity else { return }
        var current = stat()
        guard fstatat(directory, name, &current, AT_SYMLINK_NOFOLLOW) == 0,
              UInt64(current.st_dev) == identity.device, UInt64(current.st_ino) == identity.inode,
              current.st_ctim.tv_sec == identity.changed.tv_sec,
              current.st_ctim.tv_nsec == identity.changed.tv_nsec else { return }
        // Unprivileged after a drop, the directory may no longer be writable: the file
        // then stays, as HAProxy's always does.
        unlinkat(directory, name, 0)
    }
}

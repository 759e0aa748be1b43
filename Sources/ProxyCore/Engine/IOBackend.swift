import CLinux
import Glibc

/// What a reactor waits on (issue 13): epoll, or io_uring where the kernel allows it.
///
/// `PROXYD_IO=uring` asks for io_uring; `epoll` (or nothing) keeps epoll, the default
/// until a quiet-machine benchmark says otherwise (docs/performance-log.md, step 9).
/// io_uring is taken only when a probe ring can be set up and the kernel has what the
/// reactor uses (multishot poll: 5.13, cancel by descriptor: 5.19; 6.0 is asked for);
/// otherwise the reactor runs on epoll and `fallbackReason` says why, for the log
/// (ProxyRuntime prints it as a warning): containers often forbid io_uring
/// (Docker's default seccomp profile: EPERM), and `kernel.io_uring_disabled` can too.
enum IOBackend: String, Sendable {
    case epoll
    case uring

    struct Choice: Equatable, Sendable {
        let backend: IOBackend
        /// Why io_uring was asked for and not taken; nil when the request was met.
        let fallbackReason: String?
    }

    /// The process's choice, made once, at the first reactor.
    static let selected: Choice = {
        let requested = getenv("PROXYD_IO").map { String(cString: $0) }
        return choose(requested: requested, probe: probeKernel)
    }()

    /// `probe` returns nil when io_uring is usable, else why not.
    static func choose(requested: String?, probe: () -> String?) -> Choice {
        switch requested?.lowercased() {
        case nil, "", "epoll":
            return Choice(backend: .epoll, fallbackReason: nil)
        case "uring", "io_uring":
            if let reason = probe() {
                return Choice(backend: .epoll, fallbackReason: reason)
            }
            return Choice(backend: .uring, fallbackReason: nil)
        case let other?:
            return Choice(backend: .epoll, fallbackReason: "PROXYD_IO=\(other) is neither epoll nor uring")
        }
    }

    /// Nil when a ring can be set up on this kernel with what the reactor needs.
    static func probeKernel() -> String? {
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let parts = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        if parts.count == 2, (parts[0], parts[1]) < (6, 0) {
            return "kernel \(release) is older than 6.0 (multishot poll, cancel by descriptor)"
        }
        var ring = clinux_uring()
        let result = clinux_uring_init(&ring, 4)
        guard result == 0 else {
            return "io_uring_setup failed: \(String(cString: strerror(-result)))"
        }
        clinux_uring_exit(&ring)
        return nil
    }
}

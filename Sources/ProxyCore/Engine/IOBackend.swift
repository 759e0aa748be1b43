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

    // MARK: Receives and sends in the ring

    /// Whether io_uring reactors also receive (multishot recv into provided buffers) and
    /// send (SQEs) in the ring, rather than with `read`/`sendto` calls after a poll
    /// (Reactor+RingIO.swift). Nil settings: they do not, and `reason` says why when
    /// that was not asked (ProxyRuntime's line about the backend repeats it). On by
    /// default with `PROXYD_IO=uring`; `PROXYD_URING_RINGIO=off` keeps io_uring as a
    /// poller; `PROXYD_URING_BUFFERS` sets the buffer count (a power of two).
    static let ringIO: (settings: RingIOSettings?, reason: String?) = {
        let requested = getenv("PROXYD_URING_RINGIO").map { String(cString: $0) }
        let count = getenv("PROXYD_URING_BUFFERS").flatMap { Int(String(cString: $0)) }
        return chooseRingIO(requested: requested, bufferCount: count, probe: probeRingIO)
    }()

    static func chooseRingIO(requested: String?, bufferCount: Int?,
                             probe: (RingIOSettings) -> String?) -> (settings: RingIOSettings?, reason: String?) {
        switch requested?.lowercased() {
        case "off", "0", "no":
            return (nil, nil)  // asked: nothing to warn about
        case nil, "", "on", "1", "yes":
            var settings = RingIOSettings()
            if let bufferCount {
                guard bufferCount > 0, bufferCount <= 32768, bufferCount & (bufferCount - 1) == 0 else {
                    return (nil, "PROXYD_URING_BUFFERS=\(bufferCount) is not a power of two from 1 to 32768")
                }
                settings.bufferCount = bufferCount
            }
            if let reason = probe(settings) { return (nil, reason) }
            return (settings, nil)
        case let other?:
            return (nil, "PROXYD_URING_RINGIO=\(other) is neither on nor off")
        }
    }

    /// Nil when a ring can register `settings`' buffers and knows the opcodes used.
    static func probeRingIO(_ settings: RingIOSettings) -> String? {
        var ring = clinux_uring()
        guard clinux_uring_init(&ring, 4) == 0 else { return "io_uring_setup failed" }
        defer { clinux_uring_exit(&ring) }
        let known = clinux_uring_probe_ring_io(&ring)
        if known != 0 { return "the kernel lacks an opcode (recv, send, sendmsg, close): \(String(cString: strerror(-known)))" }
        var buffers = clinux_buffer_ring()
        let registered = clinux_buffer_ring_setup(&ring, &buffers, UInt32(settings.bufferCount),
                                                  UInt32(settings.bufferSize), UringPoller.bufferGroup)
        if registered != 0 {
            return "IORING_REGISTER_PBUF_RING failed: \(String(cString: strerror(-registered)))"
        }
        clinux_uring_exit(&ring)
        clinux_buffer_ring_free(&buffers)
        return nil
    }
}

/// The provided buffers of one reactor's receives: `bufferCount` of `bufferSize` bytes.
/// Each completion fills one, which is copied into the session's buffer and handed back
/// at once, so the count bounds only the receives of one round: when they run out, a
/// receive ends with ENOBUFS, having taken nothing, and is armed again after the round's
/// buffers came back. 128 × 16 KiB (HAProxy's buffer size): 2 MiB per reactor.
struct RingIOSettings: Equatable, Sendable {
    var bufferCount = 128
    var bufferSize = 16384
}

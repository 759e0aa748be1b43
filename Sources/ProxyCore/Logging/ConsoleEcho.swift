#if canImport(Glibc)
import Glibc
#endif
import Atomics

/// What HAProxy prints on its standard error while it runs (its `ha_warning` and
/// `ha_alert`): a server going DOWN or UP, a backend left without servers, a log socket
/// that fails. `proxyd -db` in a terminal shows them as `haproxy -db` does; a daemon's
/// standard error is /dev/null, and under systemd it is the journal.
///
/// One `write` per line, so that lines from several event loops never interleave. An
/// event loop never waits on it: a stderr that cannot take a line now (a pipe nobody
/// reads) loses it, as a full syslog socket does.
public enum ConsoleEcho {
    private static let quiet = ManagedAtomic(false)

    /// `-q` (or the `quiet` global): nothing on standard error, as HAProxy's MODE_QUIET.
    public static func setQuiet(_ value: Bool) { quiet.store(value, ordering: .relaxed) }

    /// `[WARNING]  (pid) : message`
    public static func warning(_ message: String) { emit(.warning, message) }

    /// `[ALERT]    (pid) : message`
    public static func alert(_ message: String) { emit(.alert, message) }

    /// A bare line, without severity nor pid, as HAProxy prints a few (its `qfprintf`).
    public static func plain(_ message: String) { write(message + "\n") }

    static func emit(_ severity: Diagnostic.Severity, _ message: String) {
        write(DiagnosticRenderer.render(Diagnostic(severity, message, context: nil), pid: getpid()) + "\n")
    }

    private static func write(_ text: String) {
        guard !quiet.load(ordering: .relaxed) else { return }
        // A pipe that polls writable has a free page: a line (< PIPE_BUF) then fits whole.
        var ready = pollfd(fd: 2, events: Int16(POLLOUT), revents: 0)
        guard poll(&ready, 1, 0) == 1, ready.revents & Int16(POLLOUT) != 0 else { return }
        var line = text
        line.withUTF8 { bytes in
            var offset = 0
            // A short write to a pipe is finished; any error (a closed stderr) loses the line.
            while offset < bytes.count {
                let n = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { break }
            }
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Atomics

/// What HAProxy prints on its standard error while it runs (its `ha_warning` and
/// `ha_alert`): a server going DOWN or UP, a backend left without servers, a log socket
/// that fails. `proxyd -db` in a terminal shows them as `haproxy -db` does; a daemon's
/// standard error is /dev/null, and under systemd it is the journal.
///
/// One `write` per line, so that lines from several event loops never interleave.
public enum ConsoleEcho {
    private static let quiet = ManagedAtomic(false)

    /// `-q` (or the `quiet` global): nothing on standard error, as HAProxy's MODE_QUIET.
    public static func setQuiet(_ value: Bool) { quiet.store(value, ordering: .relaxed) }

    /// `[WARNING]  (pid) : message`
    public static func warning(_ message: String) { emit(.warning, message) }

    /// `[ALERT]    (pid) : message`
    public static func alert(_ message: String) { emit(.alert, message) }

    static func emit(_ severity: Diagnostic.Severity, _ message: String) {
        guard !quiet.load(ordering: .relaxed) else { return }
        var line = DiagnosticRenderer.render(Diagnostic(severity, message, context: nil), pid: getpid()) + "\n"
        line.withUTF8 { bytes in
            var offset = 0
            // A short write to a pipe is finished; any error (a closed stderr) loses the line.
            while offset < bytes.count {
                let n = write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if n > 0 { offset += n } else if n < 0 && errno == EINTR { continue } else { break }
            }
        }
    }
}

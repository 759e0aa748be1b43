import CSystemd

/// Readiness and status reports to systemd (`Type=notify` units).
/// Without `$NOTIFY_SOCKET` these are no-ops, as sd_notify itself is.
public enum SystemdNotify {
    public static func ready() { _ = sd_notify(0, "READY=1") }
    public static func stopping() { _ = sd_notify(0, "STOPPING=1") }
    public static func status(_ text: String) { _ = sd_notify(0, "STATUS=\(text)") }
}

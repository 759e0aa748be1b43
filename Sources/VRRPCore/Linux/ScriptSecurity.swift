#if canImport(Glibc)
import Glibc
#endif

/// `enable_script_security` as Keepalived 2.2 applies it (measured with keepalived 2.2.7
/// on the same files): a script that runs as root is unsafe when a user other than root
/// could change what it runs. Scripts that run as another user are not checked: whoever
/// can change them gains nothing that user does not already have.
public enum ScriptSecurity {
    /// True when the file or a directory on its path (the path as written and, when a
    /// symbolic link is on it, the real one) is owned by a non-root user, or is writable
    /// by everyone or by a group other than root. A directory with the sticky bit (as
    /// /tmp) is safe: others cannot replace what they do not own in it.
    public static func isUnsafe(_ path: String) -> Bool {
        var paths = [path]
        if let real = realpath(path, nil) {
            let resolved = String(cString: real)
            free(real)
            if resolved != path { paths.append(resolved) }
        }
        return paths.contains { chain(of: $0).contains(where: isUnsafeEntry) }
    }

    /// The path and every directory above it, up to `/`.
    static func chain(of path: String) -> [String] {
        var out: [String] = []
        var current = path
        while !current.isEmpty {
            out.append(current)
            guard current != "/" else { break }
            let trimmed = current.hasSuffix("/") ? String(current.dropLast()) : current
            guard let slash = trimmed.lastIndex(of: "/") else { break }
            current = slash == trimmed.startIndex ? "/" : String(trimmed[..<slash])
        }
        return out
    }

    static func isUnsafeEntry(_ path: String) -> Bool {
        var st = stat()
        // What cannot be examined cannot be trusted.
        guard stat(path, &st) == 0 else { return true }
        if st.st_uid != 0 { return true }
        let isDirectory = st.st_mode & S_IFMT == S_IFDIR
        if isDirectory && st.st_mode & S_ISVTX != 0 { return false }
        if st.st_mode & S_IWOTH != 0 { return true }
        return st.st_gid != 0 && st.st_mode & S_IWGRP != 0
    }

    /// What `vrrpd -t` says about the scripts, as `keepalived -t` does: the tracked
    /// scripts it would disable, or the warning when security is off and scripts run.
    public static func configTestLines(_ config: VRRPConfig) -> [String] {
        let tracked = Set(config.instances.flatMap { $0.trackScripts.map(\.name) })
        let scripts = config.scripts.filter { tracked.contains($0.name) }
        let notify = config.instances.flatMap { i in
            [i.notify.master, i.notify.backup, i.notify.fault, i.notify.stop, i.notify.generic].compactMap { $0 }
        }
        func unsafeAsRoot(_ argv: [String], user: String?, group: String?) -> Bool {
            if let user, ScriptSpawner.ids(user: user, group: group)?.0 ?? 0 != 0 { return false }
            guard case .ok(let path) = ScriptSpawner.resolve(argv) else { return false }
            return isUnsafe(path)
        }
        let global = config.global
        let unsafeTracked = scripts.filter { sc in
            unsafeAsRoot(sc.argv, user: sc.user ?? global.scriptUser, group: sc.user != nil ? sc.group : global.scriptGroup)
        }
        if global.enableScriptSecurity { return unsafeTracked.map { disablingTrackLine($0.name) } }
        guard !scripts.isEmpty || !notify.isEmpty else { return [] }
        let unsafeNotify = notify.contains { n in
            unsafeAsRoot(n.argv, user: n.user ?? global.scriptUser, group: n.user != nil ? n.group : global.scriptGroup)
        }
        return [violationLine(insecure: !unsafeTracked.isEmpty || unsafeNotify)]
    }

    // Keepalived 2.2's words.

    /// Logged for each unsafe script that runs as root; with security on, it is not run.
    public static func unsafeLine(_ path: String, disabling: Bool) -> String {
        "Unsafe permissions found for script '\(path)'\(disabling ? " - disabling" : "")."
    }

    public static func disablingTrackLine(_ name: String) -> String {
        "Disabling track script \(name) due to insecure"
    }

    /// Logged once when scripts run and `enable_script_security` is off.
    public static func violationLine(insecure: Bool) -> String {
        "SECURITY VIOLATION - scripts are being executed but script_security not enabled."
            + (insecure ? " There are insecure scripts." : "")
    }
}

#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Running track and notify scripts: path resolution with a clear reason when a script
/// cannot run, fork/exec as a user in its own process group, exit status in words.
public enum ScriptSpawner {
    public static let searchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public enum Resolution: Equatable {
        case ok(String)
        case failed(String)
    }

    /// Find the executable for argv[0] (PATH search when it has no '/').
    public static func resolve(_ argv: [String]) -> Resolution {
        guard let first = argv.first, !first.isEmpty else { return .failed("empty command") }
        if first.contains("/") {
            return check(first)
        }
        var notExec: String?
        for dir in searchPath.split(separator: ":") {
            let p = "\(dir)/\(first)"
            switch check(p) {
            case .ok(let r): return .ok(r)
            case .failed(let why): if access(p, F_OK) == 0 { notExec = why }
            }
        }
        return .failed(notExec ?? "script '\(first)' not found in \(searchPath)")
    }

    static func check(_ p: String) -> Resolution {
        var st = stat()
        guard stat(p, &st) == 0 else { return .failed("script '\(p)' not found") }
        guard (st.st_mode & S_IFMT) == S_IFREG else { return .failed("script '\(p)' is not a regular file") }
        guard access(p, X_OK) == 0 else { return .failed("script '\(p)' is not executable") }
        return .ok(p)
    }

    /// uid/gid for a user name (and optional group name).
    public static func ids(user: String, group: String?) -> (uid_t, gid_t)? {
        guard let pw = getpwnam(user) else { return nil }
        var gid = pw.pointee.pw_gid
        if let g = group {
            guard let gr = getgrnam(g) else { return nil }
            gid = gr.pointee.gr_gid
        }
        return (pw.pointee.pw_uid, gid)
    }

    /// Start a process; returns its pid or an error text.
    public static func spawn(path: String, argv: [String], env: [String] = [],
                             ids: (uid_t, gid_t)? = nil) -> Result<pid_t, SystemError> {
        let environment = ["PATH=\(searchPath)"] + env
        var cargs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        var cenv: [UnsafeMutablePointer<CChar>?] = environment.map { strdup($0) } + [nil]
        defer {
            for p in cargs { free(p) }
            for p in cenv { free(p) }
        }
        let pid = clinux_spawn(path, &cargs, &cenv, ids == nil ? 0 : 1, ids?.0 ?? 0, ids?.1 ?? 0)
        if pid < 0 { return .failure(SystemError("fork for \(path)", -pid)) }
        return .success(pid)
    }

    /// A wait status in keepalived's words.
    public static func describe(_ status: Int32) -> (success: Bool, text: String) {
        if clinux_wifexited(status) != 0 {
            let code = clinux_wexitstatus(status)
            if code == 127 { return (false, "exited with status 127 (cannot execute)") }
            if code == 126 { return (false, "exited with status 126 (cannot change user)") }
            return (code == 0, "exited with status \(code)")
        }
        if clinux_wifsignaled(status) != 0 { return (false, "killed by signal \(clinux_wtermsig(status))") }
        return (false, "status \(status)")
    }

    /// Every child that has exited, with its wait status.
    public static func reap() -> [(pid_t, Int32)] {
        var out: [(pid_t, Int32)] = []
        for _ in 0..<1024 {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid <= 0 { break }
            out.append((pid, status))
        }
        return out
    }
}

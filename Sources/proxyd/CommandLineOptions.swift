import Glibc

/// `proxyd`'s command line, spelt as HAProxy's.
struct CommandLineOptions {
    /// `-f FILE|DIR` (repeatable), and files after `--`.
    var configPaths: [String] = []
    /// `-c`: check the configuration and exit.
    var checkOnly = false
    /// `-D`: daemon mode.
    var daemon = false
    /// `-p FILE`: pid file.
    var pidFile: String?
    /// `-q`: quiet (no messages at all).
    var quiet = false
    /// `-V`: verbose.
    var verbose = false
    /// `-d`, `-db`: debug / stay in the foreground.
    var debug = false
    var foreground = false
    /// `-W`, `-Ws`: master-worker (with systemd notify).
    var masterWorker = false
    var systemdNotify = false
    /// `-x SOCKET`: take the listening sockets of the process whose stats socket this is
    /// (`expose-fd listeners`) instead of binding new ones.
    var takeListenersFrom: String?
    /// `-S PATH[,mode,OCTAL]`: the master CLI (with -W).
    var masterSocket: String?
    /// `-C DIR`: change to DIR before loading files.
    var changeDirectory: String?
    /// `-n N`: global maxconn; `-N N`: default per-proxy maxconn.
    var maxconn: Int?
    var defaultProxyMaxconn: Int?
    /// `-L NAME`: local peer name.
    var localPeer: String?
    /// `-sf PID…` / `-st PID…`: finish / terminate older processes once started.
    var finishPIDs: [Int32] = []
    var terminatePIDs: [Int32] = []
    /// `-dr`: ignore server address resolution failures.
    var ignoreResolutionFailures = false
    /// `-dW`: warnings are fatal.
    var warningsAreFatal = false
    /// `-cc EXPR`: evaluate a conditional-block expression and exit (0 true, 1 false, 2 error).
    var condition: String?
    /// `-dD`: diagnostic mode (`.diag` messages are printed).
    var diagnosticMode = false
    /// `-dS`: no kernel splicing; `-dV`: servers' certificates not verified.
    var disableSplice = false
    var disableServerVerify = false
    /// Debug switches of HAProxy that change nothing here, accepted so that the scripts
    /// and test drivers that pass them keep working (see `acceptedDebugSwitches`).
    var ignoredSwitches: [String] = []
    /// `-v` / `-vv` (the build options too).
    var showVersion = false
    var showBuildOptions = false
    /// `--dump-keywords` (not in the usage): every configuration keyword and whether
    /// proxyd supports it, for the generated proxyd.cfg(5) page (scripts/man).
    var dumpKeywords = false

    enum ParseError: Error { case usage(String) }

    static let usage = """
        Usage : proxyd [-f <cfgfile|cfgdir>]* [ -vdVD ] [ -n <maxconn> ] [ -N <maxpconn> ]
                [ -p <pidfile> ] [ -C <dir> ] [-- <cfgfile>*]
                -v displays version ; -vv shows known build options.
                -d enters debug mode ; -db only disables background mode.
                -V enters verbose mode (disables quiet mode)
                -D goes daemon ; -C changes to <dir> before loading files.
                -W master-worker mode.
                -Ws master-worker mode with systemd notify support.
                -q quiet mode : don't display messages
                -c check mode : only check config files and exit
                -cc check condition : evaluate a condition and exit
                -n sets the maximum total # of connections
                -N sets the default, per-proxy maximum # of connections (0)
                -L set local peer name (default to hostname)
                -p writes pids of all children to this file
                -dS disables splice usage
                -dr ignores server address resolution failures
                -dV disables SSL verify on servers side
                -dW fails if any warning is emitted
                -dD diagnostic mode : prints the .diag messages of the configuration
                -dM, -de, -dp, -dG, -dR, -dL, -dK, -m <megs> : accepted, without effect
                -sf/-st [pid ]* finishes/terminates old pids.
                -x <unix_socket> get listening sockets from a unix socket
                -S <bind>[,<bind options>...] new master CLI

        """

    /// HAProxy's switches for its own internals: memory poisoning (`-dM[...]`), pollers
    /// (`-de`, `-dp`), getaddrinfo (`-dG`), SO_REUSEPORT (`-dR`: proxyd needs it for its
    /// reloads), the loaded objects (`-dL`) and keywords (`-dK[...]`, see
    /// `--dump-keywords`). proxyd has none of these to switch, so they change nothing.
    static let acceptedDebugSwitches = ["-dM", "-de", "-dp", "-dG", "-dR", "-dL", "-dK"]

    static func parse(_ arguments: [String]) -> Result<CommandLineOptions, ParseError> {
        var o = CommandLineOptions()
        var i = 0
        func value(_ flag: String) -> String? {
            guard i + 1 < arguments.count else { return nil }
            i += 1
            return arguments[i]
        }
        while i < arguments.count {
            let a = arguments[i]
            switch a {
            case "--":
                o.configPaths += arguments[(i + 1)...]
                i = arguments.count
                continue
            case "-f":
                guard let v = value(a) else { return .failure(.usage("'-f' expects a file or directory")) }
                o.configPaths.append(v)
            case "-c": o.checkOnly = true
            case "-D": o.daemon = true
            case "-q": o.quiet = true
            case "-V": o.verbose = true
            case "-d": o.debug = true; o.foreground = true
            case "-db": o.foreground = true
            case "-dr": o.ignoreResolutionFailures = true
            case "-dW": o.warningsAreFatal = true
            case "-dD": o.diagnosticMode = true
            case "-dS": o.disableSplice = true
            case "-dV": o.disableServerVerify = true
            case "-cc":
                guard let v = value(a) else { return .failure(.usage("'-cc' expects a condition")) }
                o.condition = v
            case "-m":
                guard let v = value(a), Int(v) != nil else { return .failure(.usage("'-m' expects an integer (megabytes)")) }
                o.ignoredSwitches.append("-m \(v)")
            case "-W": o.masterWorker = true
            case "-Ws": o.masterWorker = true; o.systemdNotify = true
            case "-v": o.showVersion = true
            case "-vv": o.showVersion = true; o.showBuildOptions = true
            case "--dump-keywords": o.dumpKeywords = true
            case "-p":
                guard let v = value(a) else { return .failure(.usage("'-p' expects a file name")) }
                o.pidFile = v
            case "-x":
                guard let v = value(a) else { return .failure(.usage("'-x' expects a unix socket path")) }
                o.takeListenersFrom = v
            case "-S":
                guard let v = value(a) else { return .failure(.usage("'-S' expects a socket")) }
                o.masterSocket = v
            case "-C":
                guard let v = value(a) else { return .failure(.usage("'-C' expects a directory")) }
                o.changeDirectory = v
            case "-n", "-N":
                guard let v = value(a), let n = Int(v), n >= 0 else { return .failure(.usage("'\(a)' expects an integer")) }
                if a == "-n" { o.maxconn = n } else { o.defaultProxyMaxconn = n }
            case "-L":
                guard let v = value(a) else { return .failure(.usage("'-L' expects a name")) }
                o.localPeer = v
            case "-sf", "-st":
                var pids: [Int32] = []
                while i + 1 < arguments.count, let pid = Int32(arguments[i + 1]) {
                    pids.append(pid)
                    i += 1
                }
                if a == "-sf" { o.finishPIDs += pids } else { o.terminatePIDs += pids }
            default:
                if a.hasPrefix("-f"), a.count > 2 {
                    o.configPaths.append(String(a.dropFirst(2)))
                } else if acceptedDebugSwitches.contains(where: { a == $0 || (a.hasPrefix($0) && $0.count == 3 && "MK".contains($0.last!)) }) {
                    o.ignoredSwitches.append(a)
                } else {
                    return .failure(.usage("unknown option '\(a)'"))
                }
            }
            i += 1
        }
        return .success(o)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import VRRPCore

// vrrpd: a keepalived-compatible VRRP daemon. Flags as keepalived spells them.

let usage = """
Usage: vrrpd [OPTION...]
  -f, --use-file=FILE          Use the specified configuration file
                               (default /etc/keepalived/keepalived.conf)
  -P, --vrrp                   Only run the VRRP subsystem (the only one vrrpd has)
  -l, --log-console            Log messages to the local console as well
  -D, --log-detail             Detailed log messages
  -S, --log-facility=[0-7]     Syslog facility LOG_LOCAL[0-7] (default LOG_DAEMON)
      --no-syslog              Do not log via syslog
  -d, --dump-conf              Dump the configuration data
  -n, --dont-fork              Don't fork the daemon process
  -p, --pid=FILE               Use the specified pidfile for the main (supervisor) process
                               (default /run/vrrpd.pid)
  -r, --vrrp_pid=FILE          Use the specified pidfile for the VRRP child process
                               (default: the -p file's name with -vrrp.pid for .pid)
  -t, --config-test[=FILE]     Check the configuration for obvious errors and exit
                               (exit status 5 when there are errors, as keepalived)
      --query-socket=PATH      Query socket path (default: the pid file's path with .sock for
                               .pid, i.e. /run/vrrpd.sock; 'none' disables)
      --data-file=PATH         Where SIGUSR1 writes its dump (default /tmp/vrrpd.data)
      --stats-file=PATH        Where SIGUSR2 writes its stats (default /tmp/vrrpd.stats)
  -v, --version                Display the version number
  -h, --help                   Display this help message

"""

struct Flags {
    var configFile = "/etc/keepalived/keepalived.conf"
    var logConsole = false
    var logDetail = false
    var facility: Int?
    var syslog = true
    var dump = false
    var dontFork = false
    var pidFile = "/run/vrrpd.pid"
    var vrrpPidFile: String?
    var configTest = false
    var querySocketGiven = false
    var options = DaemonOptions()
}

func fail(_ msg: String, code: Int32 = 1) -> Never {
    fputs("vrrpd: \(msg)\n", stderr)
    exit(code)
}

func parseFlags(_ args: [String]) -> Flags {
    var f = Flags()
    let withValue: [String: String] = ["f": "use-file", "S": "log-facility", "p": "pid", "r": "vrrp_pid"]
    let longValue: Set<String> = ["use-file", "log-facility", "pid", "vrrp_pid", "query-socket", "data-file", "stats-file"]
    var i = 0
    func set(_ name: String, _ value: String?) {
        switch name {
        case "use-file": f.configFile = value!
        case "log-facility":
            guard let v = Int(value!), (0...7).contains(v) else { fail("invalid log facility '\(value!)' - expected 0 to 7") }
            f.facility = v
        case "pid": f.pidFile = value!
        case "vrrp_pid": f.vrrpPidFile = value!
        case "query-socket":
            f.options.querySocket = value == "none" ? nil : value
            f.querySocketGiven = true
        case "data-file": f.options.dataFile = value!
        case "stats-file": f.options.statsFile = value!
        case "config-test":
            f.configTest = true
            if let v = value { f.configFile = v }
        case "vrrp": break
        case "log-console": f.logConsole = true
        case "log-detail": f.logDetail = true
        case "no-syslog": f.syslog = false
        case "dump-conf": f.dump = true
        case "dont-fork": f.dontFork = true
        case "version":
            print("vrrpd v\(VRRPCoreVersion.string) (keepalived 2.2 compatible VRRP daemon)")
            exit(0)
        case "help":
            print(usage, terminator: "")
            exit(0)
        case "dump-keywords":
            // Not in the usage: for scripts/man, which generates vrrpd.conf(5) from it.
            print(KeywordDump.dump(), terminator: "")
            exit(0)
        case "check", "use-file-check":
            fail("option --\(name) is keepalived's LVS checker; vrrpd only implements VRRP (-P/--vrrp)")
        case "log-file", "flush-log-file", "namespace", "config-id", "signum", "release-vips",
             "all", "debug", "no-syslog-console", "checkers_pid", "bfd", "bfd_pid", "no-mem-check", "mem-check":
            fputs("vrrpd: warning: keepalived option --\(name) is not supported by vrrpd; ignored\n", stderr)
        default:
            fail("unknown option '\(name)'\n\(usage)")
        }
    }
    let shortNames: [Character: String] = ["P": "vrrp", "l": "log-console", "D": "log-detail", "d": "dump-conf",
                                           "n": "dont-fork", "t": "config-test", "v": "version", "h": "help",
                                           "C": "check", "R": "no-respawn", "V": "release-vips", "X": "release-vips"]
    while i < args.count {
        let a = args[i]
        i += 1
        if a == "--" {
            // getopt's end of options; vrrpd takes no operands after it.
            if i < args.count { fail("unexpected argument '\(args[i])'\n\(usage)") }
            break
        }
        if a.hasPrefix("--") {
            let body = String(a.dropFirst(2))
            let parts = body.split(separator: "=", maxSplits: 1).map(String.init)
            let name = parts[0]
            if longValue.contains(name) {
                var v = parts.count > 1 ? parts[1] : nil
                if v == nil {
                    guard i < args.count else { fail("option --\(name) needs a value") }
                    v = args[i]; i += 1
                }
                set(name, v)
            } else {
                set(name == "no-respawn" ? "vrrp" : name, parts.count > 1 ? parts[1] : nil)
            }
        } else if a.hasPrefix("-") && a.count > 1 {
            var chars = Array(a.dropFirst())
            while !chars.isEmpty {
                let c = chars.removeFirst()
                if let long = withValue[String(c)] {
                    var v = String(chars)
                    chars = []
                    if v.isEmpty {
                        guard i < args.count else { fail("option -\(c) needs a value") }
                        v = args[i]; i += 1
                    }
                    set(long, v)
                } else if let long = shortNames[c] {
                    set(long == "no-respawn" ? "vrrp" : long, nil)
                } else {
                    fail("unknown option '-\(c)'\n\(usage)")
                }
            }
        } else {
            fail("unexpected argument '\(a)'\n\(usage)")
        }
    }
    return f
}

/// CAP_NET_ADMIN (12) and CAP_NET_RAW (13) in the effective set.
func hasNetCapabilities() -> Bool {
    if geteuid() == 0 { return true }
    guard let fp = fopen("/proc/self/status", "r") else { return false }
    defer { fclose(fp) }
    var line = [CChar](repeating: 0, count: 512)
    while fgets(&line, Int32(line.count), fp) != nil {
        let s = String(cString: line)
        if s.hasPrefix("CapEff:") {
            let hex = s.dropFirst(7).trimmingCharacters()
            guard let v = UInt64(hex, radix: 16) else { return false }
            return v & (1 << 12) != 0 && v & (1 << 13) != 0
        }
    }
    return false
}

extension Substring {
    func trimmingCharacters() -> String { String(self.filter { !$0.isWhitespace }) }
}

let flags = parseFlags(Array(CommandLine.arguments.dropFirst()))
let log = VRRPLog()
log.console = flags.logConsole || flags.configTest
log.detail = flags.logDetail
log.syslogEnabled = flags.syslog && !flags.configTest

let (config, parsedDiagnostics) = ConfigParser.parse(file: flags.configFile)
// The configuration against this host (this namespace): missing interfaces, VIPs outside
// their interface's subnets. Warnings, for -t as at start.
var diagnostics = parsedDiagnostics
for d in HostCheck.diagnose(config, interfaces: HostCheck.currentInterfaces()).items {
    diagnostics.warning(d.location, d.message)
}

if flags.configTest {
    for d in diagnostics.items { fputs("\(d)\n", stderr) }
    for line in ScriptSecurity.configTestLines(config) { fputs(line + "\n", stderr) }
    if flags.dump { for l in ConfigDump.render(config) { print(l) } }
    exit(diagnostics.hasErrors ? 5 : 0)
}

log.openSyslog(ident: "vrrpd", facility: flags.facility)
log.info("Starting vrrpd v\(VRRPCoreVersion.string)")
log.info("Command line: \(CommandLine.arguments.map { "'\($0)'" }.joined(separator: " "))")
log.info("Configuration file \(flags.configFile)")
for d in diagnostics.items {
    if d.severity == .error { log.error(d.description) } else { log.warning(d.description) }
    if !flags.logConsole { fputs("\(d)\n", stderr) }
}
if diagnostics.hasErrors {
    log.error("Configuration has \(diagnostics.errors.count) error(s) - not starting (check with vrrpd -t -f \(flags.configFile))")
    exit(1)
}
if flags.dump { for l in ConfigDump.render(config) { log.info(l) } }

guard hasNetCapabilities() else {
    log.error("vrrpd needs CAP_NET_RAW and CAP_NET_ADMIN (raw VRRP and ARP sockets, adding addresses): run it as root or grant both capabilities")
    fail("vrrpd needs CAP_NET_RAW and CAP_NET_ADMIN: run it as root or grant both capabilities")
}

/// A pid file names a running vrrpd (not a zombie, not a reused pid of something else).
func isRunningVrrpd(_ pid: pid_t) -> Bool {
    guard kill(pid, 0) == 0, let fp = fopen("/proc/\(pid)/stat", "r") else { return false }
    defer { fclose(fp) }
    var buf = [CChar](repeating: 0, count: 256)
    guard fgets(&buf, 256, fp) != nil else { return false }
    let stat = String(cString: buf)
    // "pid (comm) S ...": the name and the state after it.
    guard let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { return false }
    let comm = stat[stat.index(after: open)..<close]
    let state = stat[stat.index(after: close)...].dropFirst().first
    return comm == "vrrpd" && state != "Z"
}

if let old = PidFile.read(flags.pidFile), old != getpid(), isRunningVrrpd(old) {
    fail("daemon is already running (pid \(old) in \(flags.pidFile))")
}

if !flags.dontFork {
    let pid = fork()
    if pid < 0 { fail("fork: \(String(cString: strerror(errno)))") }
    if pid > 0 { exit(0) }
    setsid()
    let devnull = open("/dev/null", O_RDWR)
    if devnull >= 0 { dup2(devnull, 0); dup2(devnull, 1); if !flags.logConsole { dup2(devnull, 2) } }
    // Whatever the starter left open (a pipe, a socket it waits on for EOF) would keep it
    // waiting as long as the daemon runs. syslog's socket is among them: reopened after.
    closelog()
    for fd in Int32(3)..<1024 { close(fd) }
    log.openSyslog(ident: "vrrpd", facility: flags.facility)
}

if !PidFile.write(flags.pidFile) { log.warning("cannot write pid file \(flags.pidFile): \(String(cString: strerror(errno)))") }

var opts = flags.options
opts.configFile = flags.configFile
// Without --query-socket the socket sits next to the pid file (/run/vrrpd.pid ->
// /run/vrrpd.sock), so two daemons on one machine with their own pid files (the lab's two
// load balancers in two namespaces) do not share it.
if !flags.querySocketGiven {
    let p = flags.pidFile
    opts.querySocket = (p.hasSuffix(".pid") ? String(p.dropLast(4)) : p) + ".sock"
}
// This process supervises; the VRRP child (its pid in -r) runs the instances.
let supervisor = VRRPSupervisor(config: config, configFile: flags.configFile,
                                vrrpPidFile: flags.vrrpPidFile ?? PidFile.vrrpDefault(for: flags.pidFile),
                                log: log) { running in
    do {
        let daemon = try VRRPDaemon(config: running, options: opts, log: log)
        return daemon.run()
    } catch {
        log.error("\(error)")
        return 1
    }
}
let status = supervisor.run()
if PidFile.read(flags.pidFile) == getpid() { unlink(flags.pidFile) }
exit(status)

#if canImport(Glibc)
import Glibc
#endif

/// proxyd's command line, spelt as HAProxy's: `-f FILE|DIR` (repeatable), `-c`, `-D`,
/// `-db`, `-p PIDFILE`, `-q`, `-V`, `-v`, `-vv`, `-N MAXCONN`.
struct ProxydOptions {
    enum Action { case run, check, version, help }

    struct UsageError: Error { let message: String }

    var action: Action = .run
    var configPaths: [String] = []
    var daemon = false
    var foregroundForced = false
    var pidFile: String?
    var quiet = false
    var verbose = false
    var maxconn: Int?

    static let version = "0.1.0"
    static let versionText = "proxyd version \(version) (HAProxy 2.6 configuration dialect)"

    static let usageText = """
        Usage : proxyd [-f <cfgfile|cfgdir>]* [ -vdV -D ] [ -n <maxconn> ] [ -p <pidfile> ] [ -c ]
                -v displays version ; -vv shows known build options.
                -d enters debug mode ; -db only disables background mode.
                -V enters verbose mode (disables quiet mode)
                -D goes daemon ; -C changes to <dir> before loading files.
                -q quiet mode : don't display messages
                -c check mode : only check config files and exit
                -p writes pids of all children to this file
                -N sets the default, per-proxy maximum # of connections (0)
        """

    static func parse(_ arguments: [String]) throws -> ProxydOptions {
        var options = ProxydOptions()
        var index = 0
        func value(for flag: String) throws -> String {
            index += 1
            guard index < arguments.count else {
                throw UsageError(message: "[ALERT]    (\(getpid())) : Cannot load configuration file/directory : option '\(flag)' requires an argument\n\(usageText)")
            }
            return arguments[index]
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "-f": options.configPaths.append(try value(for: argument))
            case "-c": options.action = .check
            case "-D": options.daemon = true
            case "-db", "-d": options.foregroundForced = true
            case "-p": options.pidFile = try value(for: argument)
            case "-q": options.quiet = true
            case "-V": options.verbose = true
            case "-v", "-vv": options.action = .version
            case "-h", "--help": options.action = .help
            case "-N":
                let text = try value(for: argument)
                guard let number = Int(text) else { throw UsageError(message: "-N expects a number, got '\(text)'") }
                options.maxconn = number
            case "--":
                options.configPaths += arguments[(index + 1)...]
                index = arguments.count
            default:
                if argument.hasPrefix("-") {
                    throw UsageError(message: "[ALERT]    (\(getpid())) : unknown option '\(argument)'.\n\(usageText)")
                }
                // HAProxy takes bare words after the options as more config files.
                options.configPaths.append(argument)
            }
            index += 1
        }
        if options.configPaths.isEmpty, options.action == .run || options.action == .check {
            throw UsageError(message: "[ALERT]    (\(getpid())) : No configuration file specified.\n\(usageText)")
        }
        return options
    }
}

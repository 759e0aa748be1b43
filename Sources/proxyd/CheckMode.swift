import Glibc
import ProxyCore

/// Loading the configuration and reporting as HAProxy does, for `-c` and for start-up.
enum ConfigurationReport {
    static func executablePath() -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        return n > 0 ? String(cString: buffer) : CommandLine.arguments[0]
    }

    static func environment() -> [String: String] {
        var env: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let s = String(cString: entry)
            if let eq = s.firstIndex(of: "=") {
                env[String(s[..<eq])] = String(s[s.index(after: eq)...])
            }
            p += 1
        }
        return env
    }

    static func writeErr(_ s: String) {
        fputs(s, stderr)
    }

    /// Loads, prints the diagnostics on stderr (with HAProxy's notices first), and
    /// returns the result.
    static func load(_ options: CommandLineOptions) -> LoadResult {
        if let dir = options.changeDirectory, chdir(dir) != 0 {
            let d = Diagnostic.alert("Could not change to directory \(dir) : \(String(cString: strerror(errno)))")
            return LoadResult(configuration: nil, diagnostics: [d], exitCode: 1)
        }
        var env = environment()
        // HAProxy sets HAPROXY_LOCALPEER (the -L name, else the host name) before parsing.
        if let peer = options.localPeer {
            env["HAPROXY_LOCALPEER"] = peer
        } else if env["HAPROXY_LOCALPEER"] == nil {
            var host = [CChar](repeating: 0, count: 256)
            if gethostname(&host, host.count - 1) == 0 { env["HAPROXY_LOCALPEER"] = String(cString: host) }
        }
        var loadOptions = LoadOptions(environment: env, checkOnly: options.checkOnly)
        loadOptions.ignoreResolutionFailures = options.ignoreResolutionFailures
        loadOptions.diagnosticMode = options.diagnosticMode
        loadOptions.disableSplice = options.disableSplice
        loadOptions.disableServerVerify = options.disableServerVerify
        loadOptions.localPeerFromCommandLine = options.localPeer
        return ConfigurationLoader.load(paths: options.configPaths, options: loadOptions)
    }

    static func print(_ result: LoadResult, quiet: Bool) {
        guard !quiet, !result.diagnostics.isEmpty else { return }
        let pid = getpid()
        var out = ""
        out += DiagnosticRenderer.render(Diagnostic(.notice, "proxyd version is \(ProxyCoreVersion.string)", context: nil), pid: pid) + "\n"
        out += DiagnosticRenderer.render(Diagnostic(.notice, "path to executable is \(executablePath())", context: nil), pid: pid) + "\n"
        out += DiagnosticRenderer.render(result.diagnostics, pid: pid)
        writeErr(out)
    }
}

/// `proxyd -c`: check and exit with HAProxy's status (0 valid, 1 errors, 2 no listener).
enum CheckMode {
    /// Exits from here, with the configuration and what was compiled still held: the
    /// process ends anyway, and freeing a large configuration object by object took a
    /// third of `-c`'s time with 10,000 backends.
    static func run(_ options: CommandLineOptions) -> Never {
        var result = ConfigurationReport.load(options)
        var compiled: RuntimeBuilder.Checked?
        if result.exitCode != 1, let config = result.configuration {
            // What the engine refuses at start-up is an error here too: a configuration
            // `-c` calls valid must start (systemd's reload runs `-c` first).
            do {
                compiled = try RuntimeBuilder.check(config)
            } catch let failure as RuntimeBuilder.Failure {
                result.diagnostics.append(failure.location.map { Diagnostic.parsing(.alert, $0, failure.message) }
                                          ?? .alert(failure.message))
                result.diagnostics.append(.alert("Fatal errors found in configuration."))
                result.exitCode = 1
            } catch {
                result.diagnostics.append(Diagnostic(.alert, "\(error)", context: nil))  // as a start-up prints it
                result.diagnostics.append(.alert("Fatal errors found in configuration."))
                result.exitCode = 1
            }
        }
        ConfigurationReport.print(result, quiet: options.quiet)
        var code = result.exitCode
        let zeroWarning = options.warningsAreFatal || result.configuration?.global.zeroWarning == true
        if code != 1 && zeroWarning && result.hasWarnings {
            if !options.quiet { ConfigurationReport.writeErr(DiagnosticRenderer.render(.alert("Some warnings were found and 'zero-warning' is set. Aborting."), pid: getpid()) + "\n") }
            code = 1
        }
        guard !options.quiet else { exit(code, keeping: result, compiled) }
        switch code {
        case 0:
            if result.hasWarnings { Swift.print("Warnings were found.") }
            Swift.print("Configuration file is valid")
        case 2:
            if result.hasWarnings { Swift.print("Warnings were found.") }
            Swift.print("Configuration file has no error but will not start (no listener) => exit(2).")
        default:
            break
        }
        fflush(stdout)
        exit(code, keeping: result, compiled)
    }

    /// `exit` with the objects named still alive (they are never freed).
    private static func exit(_ code: Int32, keeping objects: Any...) -> Never {
        withExtendedLifetime(objects) { Glibc.exit(code) }
    }
}

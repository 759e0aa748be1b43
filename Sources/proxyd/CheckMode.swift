#if canImport(Glibc)
import Glibc
#endif
import ProxyCore
import Shared

/// `proxyd -c`: judge the configuration as `haproxy -c` does, with its words and exit codes.
enum CheckMode {
    static func run(_ options: ProxydOptions) -> Int32 {
        let result = ConfigurationLoader.load(
            paths: options.configPaths,
            options: LoadOptions(environment: Environment.current(), checkOnly: true))
        if !result.diagnostics.isEmpty {
            fputs(DiagnosticRenderer.render(result.diagnostics, pid: getpid()), stderr)
        }
        if result.exitCode == 0, !options.quiet {
            print("Configuration file is valid")
        }
        return result.exitCode
    }
}

import Glibc
import ProxyCore

// A thin dispatcher: parse the command line, then check mode or run mode.
let arguments = Array(CommandLine.arguments.dropFirst())
switch CommandLineOptions.parse(arguments) {
case let .failure(.usage(message)):
    fputs("proxyd: \(message)\n" + CommandLineOptions.usage, stderr)
    exit(1)
case let .success(options):
    if options.dumpKeywords {
        print(KeywordCatalog.dump(), terminator: "")
        exit(0)
    }
    if options.showBuildOptions {
        print(BuildOptions.report(), terminator: "")
        exit(0)
    }
    if options.showVersion {
        print("proxyd version \(ProxyCoreVersion.string)")
        exit(0)
    }
    // -cc EXPR: HAProxy's exit codes, 0 true, 1 false, 2 an expression it cannot read.
    if let condition = options.condition {
        switch ConfigCondition.evaluate(condition, environment: ConfigurationReport.environment()) {
        case .success(let value):
            exit(value ? 0 : 1)
        case .failure(let failure):
            fputs(DiagnosticRenderer.render(Diagnostic.alert("Failed to evaluate condition: \(failure.message)"), pid: getpid()) + "\n", stderr)
            exit(2)
        }
    }
    // No configuration file at all (no -f, or only folders without *.cfg): usage, as HAProxy.
    if options.configPaths.isEmpty
        || (try? ConfigurationLoader.configurationFiles(paths: options.configPaths).get())?.isEmpty == true {
        fputs(CommandLineOptions.usage, stderr)
        exit(1)
    }
    if options.checkOnly {
        CheckMode.run(options)
    }
    exit(RunMode.run(options))
}

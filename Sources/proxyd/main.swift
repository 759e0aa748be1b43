#if canImport(Glibc)
import Glibc
#endif
import ProxyCore

// proxyd: HAProxy's command line, HAProxy's config, our engine.
let options: ProxydOptions
do {
    options = try ProxydOptions.parse(Array(CommandLine.arguments.dropFirst()))
} catch let error as ProxydOptions.UsageError {
    fputs("\(error.message)\n", stderr)
    exit(1)
}

switch options.action {
case .version:
    print(ProxydOptions.versionText)
    exit(0)
case .help:
    print(ProxydOptions.usageText)
    exit(0)
case .check:
    exit(CheckMode.run(options))
case .run:
    exit(RunMode.run(options))
}

import Shared

/// The parsing pipeline behind `ConfigurationLoader` (filled in by the section parsers).
struct Loader {
    var options: LoadOptions
    init(options: LoadOptions) { self.options = options }

    mutating func run(paths: [String]) -> LoadResult {
        LoadResult(configuration: nil, diagnostics: [.alert("not implemented yet")], exitCode: 1)
    }

    mutating func run(sources: [(String, [UInt8])]) -> LoadResult {
        LoadResult(configuration: nil, diagnostics: [.alert("not implemented yet")], exitCode: 1)
    }
}

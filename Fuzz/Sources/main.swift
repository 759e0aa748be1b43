#if canImport(Glibc)
import Glibc
#endif

// proxyd-fuzz TARGET [libFuzzer options and corpus directories…]
//
// One libFuzzer binary for every target: the first argument names the target, the rest
// goes to libFuzzer unchanged. Built only by scripts/fuzz (PROXYD_FUZZ set), with
// -sanitize=fuzzer,address; this file's `main` (SwiftPM points `main` at it) replaces libFuzzer's own.

/// libFuzzer's entry for programs that keep their own `main` (compiler-rt's FuzzerDriver).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// Every target: its name on the command line and what it does with one input.
let fuzzTargets: [(name: String, run: (UnsafeRawBufferPointer) -> Void)] = [
    ("http-request", HTTPRequestTarget.run),
    ("http-response", HTTPResponseTarget.run),
    ("chunked", ChunkedTarget.run),
    ("haproxy-lexer", HAProxyLexerTarget.run),
    ("haproxy-config", HAProxyConfigTarget.run),
    ("keepalived-config", KeepalivedConfigTarget.run),
    ("vrrp-packet", VRRPPacketTarget.run),
    ("runtime-command", RuntimeCommandTarget.run),
    ("client-hello", ClientHelloTarget.run),
    ("dns-message", DNSMessageTarget.run),
]

/// The target chosen by argv[1]; read by the C callback, which cannot capture it.
nonisolated(unsafe) var selectedTarget: (UnsafeRawBufferPointer) -> Void = { _ in }

/// A broken invariant is a finding: libFuzzer sees the trap, saves the input and exits
/// non-zero. `message` says which invariant, on stderr, before the trap.
func require(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
             file: StaticString = #fileID, line: UInt = #line) {
    if !condition() {
        fputs("proxyd-fuzz: invariant broken at \(file):\(line): \(message())\n", stderr)
        abort()
    }
}

/// The run callback under libFuzzer's usual name too: the fuzzer runtime is linked whole,
/// and its own (unused) `main` refers to it.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    selectedTarget(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, let target = fuzzTargets.first(where: { $0.name == arguments[1] }) else {
    fputs("usage: proxyd-fuzz TARGET [libFuzzer options] [corpus directories]\ntargets: "
          + fuzzTargets.map(\.name).joined(separator: " ") + "\n", stderr)
    exit(2)
}
selectedTarget = target.run

// libFuzzer sees argv without the target name (argv[0] stays: it re-executes itself
// with it for -jobs/-fork).
var argc = CommandLine.argc - 1
var argv = CommandLine.unsafeArgv
argv[1] = argv[0]
var shifted = argv + 1
exit(LLVMFuzzerRunDriver(&argc, &shifted, fuzzTestOneInput))

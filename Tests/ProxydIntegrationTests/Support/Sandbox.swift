import Foundation
import XCTest

/// Runs a bash script in a throwaway copy of this machine, so that tests can install
/// proxyd and vrrpd and drive `service … start|reload|stop` for real without changing the
/// installed system: private mount, network and pid namespaces (unshare), /etc, /usr/local
/// and /var as overlays whose changes live in a tmpfs, /run and /tmp empty tmpfs, /dev/log
/// covered (or, with `privateDev`, a whole /dev of its own, for scripts that start a syslog
/// daemon). When the script ends, every process it started dies with its pid namespace,
/// and every file it wrote disappears. Needs root, util-linux `unshare` and overlayfs.
///
/// The script gets `step NAME CMD…`, which runs CMD and reports its exit status and output;
/// `Sandbox.Result.steps` reads them back.
enum Sandbox {
    struct Step {
        var status: Int32
        var output: String
    }

    struct Result {
        var status: Int32
        var output: String

        /// The `step` reports, by name (a later step of the same name wins).
        var steps: [String: Step] {
            var found: [String: Step] = [:]
            // "\r\n" is one Character: a step whose output ends in a carriage return (apt's
            // progress) must not swallow the marker after it.
            var lines = output.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })[...]
            while let line = lines.popFirst() {
                guard line.hasPrefix("<<<STEP ") else { continue }
                let words = line.dropFirst(8).split(separator: " ")
                guard words.count == 2, let status = Int32(words[1]) else { continue }
                var body: [Substring] = []
                while let next = lines.popFirst(), next != ">>>STEP" { body.append(next) }
                found[String(words[0])] = Step(status: status, output: body.joined(separator: "\n"))
            }
            return found
        }

        func step(_ name: String, file: StaticString = #filePath, line: UInt = #line) -> Step {
            guard let s = steps[name] else {
                XCTFail("no step '\(name)' in the sandbox's output:\n\(output)", file: file, line: line)
                return Step(status: -1, output: "")
            }
            return s
        }
    }

    /// Why the sandbox cannot run here, or nil.
    static let unavailableReason: String? = {
        guard getuid() == 0 else { return "the sandbox needs root (mount and pid namespaces)" }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/unshare") else { return "unshare is not installed" }
        guard let probe = try? runProcess("/usr/bin/unshare", ["--mount", "--propagation", "private", "/bin/sh", "-c",
                                                               "mount -t tmpfs probe /mnt && mkdir /mnt/u /mnt/w && mount -t overlay overlay -o lowerdir=/etc,upperdir=/mnt/u,workdir=/mnt/w /etc"],
                                          timeout: 20),
              probe.status == 0 else { return "mount namespaces with overlayfs do not work here" }
        return nil
    }()

    static func skipUnlessAvailable() throws {
        if let reason = unavailableReason { throw XCTSkip(reason) }
    }

    /// What every sandboxed script starts with. The script itself is read before /tmp is
    /// covered.
    private static let prelude = #"""
        set -e
        script=$(cat "$1")
        # A repository checked out under /tmp (CI may clone there) stays visible: the
        # machine's /tmp is kept on /mnt (in this mount namespace only) and bound back.
        mount --bind /tmp /mnt
        mount -t tmpfs sandbox-tmp /tmp
        for p in "$REPO" "$BIN"; do
          case "$p" in
            /tmp/*) [ -e "$p" ] || { mkdir -p "$p"; mount --bind "/mnt/${p#/tmp/}" "$p"; } ;;
          esac
        done
        for d in $SANDBOX_OVERLAYS; do
          mkdir -p "/tmp/.sandbox/upper/$d" "/tmp/.sandbox/work/$d"
          mount -t overlay overlay -o "lowerdir=/$d,upperdir=/tmp/.sandbox/upper/$d,workdir=/tmp/.sandbox/work/$d" "/$d"
        done
        mount -t tmpfs sandbox-run /run
        mkdir -p /run/lock
        if [ "$SANDBOX_PRIVATE_DEV" = 1 ]; then
          # A /dev of its own, for a syslog daemon started inside: its /dev/log socket
          # must not land in the machine's /dev. The devices programs use are the machine's.
          mkdir -p /tmp/.sandbox/host-dev && mount --bind /dev /tmp/.sandbox/host-dev
          mount -t tmpfs sandbox-dev /dev
          for n in null zero full random urandom tty; do
            touch "/dev/$n" && mount --bind "/tmp/.sandbox/host-dev/$n" "/dev/$n"
          done
          mkdir /dev/pts /dev/shm && mount --bind /tmp/.sandbox/host-dev/pts /dev/pts && mount -t tmpfs sandbox-shm /dev/shm
          ln -s /proc/self/fd /dev/fd && ln -s /proc/self/fd/0 /dev/stdin
          ln -s /proc/self/fd/1 /dev/stdout && ln -s /proc/self/fd/2 /dev/stderr
        elif [ -e /dev/log ]; then
          # The daemons' syslog lines stay out of the machine's logs.
          mount --bind /dev/null /dev/log
        fi
        ip link set lo up
        set +e
        step() {
          name=$1; shift
          out=$("$@" 2>&1)
          rc=$?
          printf '<<<STEP %s %s\n%s\n>>>STEP\n' "$name" "$rc" "$out"
        }
        export -f step
        exec /bin/bash -c "$script"
        """#

    /// Runs `script` (bash) in a new sandbox; the repository is at `$REPO`, the built
    /// binaries at `$BIN`. `overlays`: the directories whose changes stay in the sandbox
    /// (a package manager needs all of /usr, not only /usr/local). `privateDev`: a /dev of
    /// the sandbox's own, where a syslog daemon may make /dev/log (else /dev/log, if any,
    /// leads nowhere).
    static func run(_ script: String, overlays: [String] = ["etc", "usr/local", "var"], privateDev: Bool = false,
                    timeout: TimeInterval = 120) throws -> Result {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sandbox-\(UUID().uuidString.prefix(8)).sh")
        try script.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        var environment = ProcessInfo.processInfo.environment
        environment["REPO"] = CheckModeTests.repoRoot.path
        environment["BIN"] = ProxydProcess.binaryDirectory.path
        environment["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        environment["SANDBOX_OVERLAYS"] = overlays.joined(separator: " ")
        environment["SANDBOX_PRIVATE_DEV"] = privateDev ? "1" : "0"
        let r = try runProcess("/usr/bin/unshare",
                               ["--mount", "--net", "--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL",
                                "--propagation", "private", "/bin/bash", "-c", prelude, "sandbox", file.path],
                               environment: environment, timeout: timeout)
        return Result(status: r.status, output: r.output)
    }

    /// Runs a program to its end (or kills it after `timeout`), stdout and stderr together.
    static func runProcess(_ path: String, _ arguments: [String], environment: [String: String]? = nil,
                           timeout: TimeInterval) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        if let environment { process.environment = environment }
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        let collected = OutputCollector()
        let done = DispatchSemaphore(value: 0)
        try process.run()
        DispatchQueue.global().async {
            collected.append(pipe.fileHandleForReading.readDataToEndOfFile())
            done.signal()
        }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        let timedOut = process.isRunning
        if timedOut { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        _ = done.wait(timeout: .now() + 10)
        var output = collected.text
        if timedOut { output += "\n(killed after \(Int(timeout)) s)" }
        return (timedOut ? -1 : process.terminationStatus, output)
    }
}

private final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    func append(_ more: Data) { lock.lock(); data.append(more); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return String(decoding: data, as: UTF8.self) }
}

import Glibc
import ProxyCore

/// One worker the master started: its pid, when, how many reloads it has lived through
/// (`show proc`), and, until it says it serves, the pipe it will say so on.
final class WorkerProcess {
    let pid: pid_t
    let startedAt: Int  // ProcessClock milliseconds
    var reloads = 0
    /// True once told to stop (it is an old worker then).
    var leaving = false
    /// Read end of the readiness pipe while the worker starts; -1 once it answered.
    var readyFD: Int32
    /// What it wrote on the pipe: "OK", or why it failed.
    var readyText: [UInt8] = []
    /// The master's end of the link on which the master CLI forwards `@1 …` commands.
    let cliFD: Int32

    private init(pid: pid_t, readyFD: Int32, cliFD: Int32) {
        self.pid = pid
        self.readyFD = readyFD
        self.cliFD = cliFD
        self.startedAt = ProcessClock.milliseconds
    }

    /// Spawns `executable` with `arguments` as a worker (posix_spawn: the master never
    /// forks), handing it `listeners` by number and `passThrough` descriptors unchanged.
    static func spawn(executable: String, arguments: [String], listeners: [Int32],
                      passThrough: [Int32]) throws -> WorkerProcess {
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else { throw MasterFailure("pipe: \(String(cString: strerror(errno)))") }
        let (readEnd, writeEnd) = (pipeFDs[0], pipeFDs[1])
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else {
            close(readEnd)
            throw MasterFailure("socketpair: \(String(cString: strerror(errno)))")
        }
        let (masterEnd, workerEnd) = (pair[0], pair[1])
        for fd in pair { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        defer { close(workerEnd) }
        defer { close(writeEnd) }

        // The master is single-threaded, so clearing close-on-exec for the spawn and
        // setting it back afterwards races with nothing.
        let inherited = listeners + passThrough + [writeEnd, workerEnd]
        // Nothing else reaches the worker: not the master CLI, not `-D`'s report pipe
        // (the starting terminal would wait for the worker to close it).
        closeOnExecAllBut(Set(inherited))
        for fd in inherited { _ = fcntl(fd, F_SETFD, 0) }
        defer { for fd in inherited { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) } }

        var environment = ConfigurationReport.environment()
        // systemd hears from the master only: a worker's messages would be taken for the
        // service's.
        environment["NOTIFY_SOCKET"] = nil
        environment[MasterLink.listenersVariable] = listeners.map(String.init).joined(separator: ",")
        environment[MasterLink.readyVariable] = String(writeEnd)
        environment[MasterLink.cliVariable] = String(workerEnd)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        // The worker starts with signals as a new process has them, not the master's mask.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGUSR1, SIGUSR2, SIGHUP, SIGTERM, SIGINT, SIGQUIT, SIGCHLD] { sigaddset(&defaults, signal) }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var pid: pid_t = 0
        let status = posix_spawn(&pid, executable, nil, &attributes, argv, envp)
        guard status == 0 else {
            close(readEnd)
            close(masterEnd)
            throw MasterFailure("Cannot start a worker (\(executable)): \(String(cString: strerror(status)))")
        }
        _ = fcntl(readEnd, F_SETFL, O_NONBLOCK)
        return WorkerProcess(pid: pid, readyFD: readEnd, cliFD: masterEnd)
    }

    /// Marks every open descriptor above stderr close-on-exec, but `keep`.
    private static func closeOnExecAllBut(_ keep: Set<Int32>) {
        guard let directory = opendir("/proc/self/fd") else { return }
        defer { closedir(directory) }
        let own = dirfd(directory)
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard let fd = Int32(name), fd > 2, fd != own, !keep.contains(fd) else { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
    }

    enum Readiness { case waiting, ready, failed(String) }

    /// Reads what the worker said so far (non-blocking). `ready` once it wrote OK.
    func readReadiness() -> Readiness {
        guard readyFD >= 0 else { return .ready }
        var chunk = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = read(readyFD, &chunk, chunk.count)
            if n > 0 {
                readyText += chunk[0..<n]
                continue
            }
            if n < 0, errno == EAGAIN || errno == EINTR { return .waiting }
            // End of file: the worker said all it will.
            close(readyFD)
            readyFD = -1
            if readyText == Array("OK".utf8) { return .ready }
            return .failed(String(decoding: readyText, as: UTF8.self))
        }
    }

    /// Runs one command line on the worker's runtime API; its answer (bounded wait).
    func forward(_ line: String, timeoutMilliseconds: Int = 5000) -> String? {
        let request = Array((line + "\n").utf8)
        let sent = request.withUnsafeBytes { send(cliFD, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == request.count else { return nil }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        let deadline = ProcessClock.milliseconds + timeoutMilliseconds
        // The session is interactive: the answer ends with the "> " prompt.
        while !(answer.count >= 2 && answer.suffix(2) == [UInt8(ascii: ">"), UInt8(ascii: " ")]) {
            let left = deadline - ProcessClock.milliseconds
            var entry = pollfd(fd: cliFD, events: Int16(POLLIN), revents: 0)
            guard left > 0, poll(&entry, 1, Int32(left)) > 0 else { return nil }
            let n = recv(cliFD, &chunk, chunk.count, 0)
            guard n > 0 else { return nil }
            answer += chunk[0..<n]
        }
        return String(decoding: answer.dropLast(2), as: UTF8.self)
    }

    /// The worker is gone: its descriptors close.
    func release() {
        closeReadiness()
        close(cliFD)
    }

    func closeReadiness() {
        if readyFD >= 0 { close(readyFD) }
        readyFD = -1
    }

    /// `0d00h00m05s`, as `show proc` prints uptimes.
    static func uptime(since start: Int) -> String {
        let seconds = max(0, (ProcessClock.milliseconds - start) / 1000)
        let d = seconds / 86400, h = (seconds / 3600) % 24, m = (seconds / 60) % 60, s = seconds % 60
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(d)d\(two(h))h\(two(m))m\(two(s))s"
    }
}

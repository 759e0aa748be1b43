import Glibc
import ProxyCore
import Shared

/// The master CLI (`-S PATH[,mode,OCTAL]`), served from the master's poll loop: `show proc`
/// as HAProxy 2.6 prints it, `reload` (answered, as HAProxy 2.7+ does, with `Success=1` or
/// `Success=0` and the reasons once the reload is over), `show version`, `help`, `prompt`,
/// `quit`. Without a prompt a client gets the answers to what it sent, then the socket
/// closes, as on the stats socket.
final class MasterCLI {
    private unowned let master: MasterProcess
    private let listening: Int32
    private let file: UnixSocketFile?

    private final class Client {
        let fd: Int32
        var input: [UInt8] = []
        var interactive = false
        /// Waiting for the reload it asked for; its answer comes with the outcome.
        var awaitingReload = false
        var done = false
        init(fd: Int32) { self.fd = fd }
    }
    private var clients: [Client] = []
    static let maxLine = 16_384

    init(spec: String, master: MasterProcess) throws {
        self.master = master
        // `PATH` or `unix@PATH`, then `,mode,600`-style options (mode only).
        var parts = spec.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        var path = parts.removeFirst()
        if path.hasPrefix("unix@") { path.removeFirst(5) }
        guard path.hasPrefix("/") || path.hasPrefix(".") else {
            throw MasterFailure("-S '\(spec)': only a Unix socket path is supported")
        }
        var mode: UInt32?
        while !parts.isEmpty {
            let option = parts.removeFirst()
            guard option == "mode", let value = parts.first.flatMap({ UInt32($0, radix: 8) }) else {
                throw MasterFailure("-S '\(spec)': unknown option '\(option)' (only 'mode <octal>')")
            }
            parts.removeFirst()
            mode = value
        }
        var bind = BindSettings(address: .unix(path: path), written: path, location: SourceLocation(file: "-S", line: 0))
        bind.unixMode = mode
        do {
            let (fd, file) = try ListenerSocket.open(bind, backlog: 1024)
            listening = fd
            self.file = file
        } catch {
            throw MasterFailure("Cannot create the master CLI socket \(path): \(error)")
        }
        _ = fcntl(listening, F_SETFL, O_NONBLOCK)
    }

    func pollDescriptors() -> [pollfd] {
        [pollfd(fd: listening, events: Int16(POLLIN), revents: 0)]
            + clients.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
    }

    /// Accepts, reads and answers what `poll` found ready.
    func serve(_ ready: [pollfd]) {
        if ready.contains(where: { $0.fd == listening && $0.revents != 0 }) {
            while true {
                let fd = accept(listening, nil, nil)
                guard fd >= 0 else { break }
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                _ = fcntl(fd, F_SETFL, O_NONBLOCK)
                clients.append(Client(fd: fd))
            }
        }
        for client in clients where ready.contains(where: { $0.fd == client.fd && $0.revents != 0 }) {
            read(client)
        }
        for client in clients where client.done { Glibc.close(client.fd) }
        clients.removeAll { $0.done }
    }

    private func read(_ client: Client) {
        var chunk = [UInt8](repeating: 0, count: 4096)
        var closed = false
        while true {
            let n = Glibc.read(client.fd, &chunk, chunk.count)
            if n > 0 { client.input += chunk[0..<n]; continue }
            if n == 0 { closed = true }
            if n < 0, errno == EINTR { continue }
            break
        }
        while !client.awaitingReload, let newline = client.input.firstIndex(of: UInt8(ascii: "\n")) {
            var line = Array(client.input[..<newline])
            client.input.removeSubrange(...newline)
            if line.last == UInt8(ascii: "\r") { line.removeLast() }
            run(String(decoding: line, as: UTF8.self), client)
            if client.done { return }
        }
        if client.input.count > Self.maxLine { client.done = true; return }
        if closed, !client.awaitingReload {
            if !client.input.isEmpty {
                let line = String(decoding: client.input, as: UTF8.self)
                client.input.removeAll()
                run(line, client)
                if client.awaitingReload { return }
            }
            client.done = true
        } else if !client.interactive, !client.awaitingReload, client.input.isEmpty {
            client.done = true
        }
    }

    private func run(_ line: String, _ client: Client) {
        var out = ""
        for var command in line.split(separator: ";").map({ $0.split(separator: " ").map(String.init) }) {
            // `@1 CMD` (the current worker), `@!PID CMD` (any worker), `@master CMD`.
            if let target = command.first, target.hasPrefix("@") {
                command.removeFirst()
                if target != "@master" {
                    out += forward(command.joined(separator: " "), to: target)
                    continue
                }
            }
            switch command {
            case []:
                continue
            case ["quit"]:
                write(out, client)
                client.done = true
                return
            case ["prompt"]:
                client.interactive.toggle()
            case ["show", "proc"]:
                out += showProc()
            case ["show", "version"]:
                out += ProxyCoreVersion.string + "\n"
            case ["help"]:
                out += Self.help
            case ["reload"]:
                client.awaitingReload = true
                master.requestReload()
                write(out, client)
                return
            default:
                out += "Unknown command: '\(command.joined(separator: " "))'\n\n" + Self.help
            }
            out += "\n"
        }
        if client.interactive { out += "master> " }
        write(out, client)
    }

    /// A command run by a worker's runtime API, through the master's link to it.
    private func forward(_ command: String, to target: String) -> String {
        let worker: WorkerProcess?
        if target == "@1" {
            worker = master.workers.first { !$0.leaving }
        } else if target.hasPrefix("@!"), let pid = Int32(target.dropFirst(2)) {
            worker = master.workers.first { $0.pid == pid }
        } else {
            worker = nil
        }
        guard let worker else {
            return "Can't find the target PID matching the prefix '\(target)'\n"
        }
        guard !command.isEmpty else { return "A command is expected after '\(target)'.\n" }
        return worker.forward(command) ?? "Worker (\(worker.pid)) did not answer.\n"
    }

    /// The outcome of a reload, to every client that asked for one.
    func reloadFinished(success: Bool, messages: [String]) {
        for client in clients where client.awaitingReload {
            client.awaitingReload = false
            var out = "Success=\(success ? 1 : 0)\n--\n"
            for message in messages { out += "[ALERT]    (\(getpid())) : \(message)\n" }
            write(out, client)
            if !client.interactive { client.done = true }
        }
        for client in clients where client.done { Glibc.close(client.fd) }
        clients.removeAll { $0.done }
    }

    /// HAProxy 2.6's table: the master, the current workers, the old ones still finishing.
    func showProc() -> String {
        func row(_ columns: [String]) -> String {
            columns.dropLast().map { $0.padding(15) + " " }.joined() + columns.last! + "\n"
        }
        let version = ProxyCoreVersion.string
        var out = row(["#<PID>", "<type>", "<reloads>", "<uptime>", "<version>".padding(15)])
        out += row(["\(getpid())", "master", "\(master.reloads) [failed: \(master.failedReloads)]",
                    WorkerProcess.uptime(since: master.startedAt), version])
        out += "# workers\n"
        for worker in master.workers where !worker.leaving {
            out += row(["\(worker.pid)", "worker", "\(worker.reloads)", WorkerProcess.uptime(since: worker.startedAt), version])
        }
        let old = master.workers.filter(\.leaving)
        if !old.isEmpty {
            out += "# old workers\n"
            for worker in old {
                out += row(["\(worker.pid)", "worker", "\(worker.reloads)", WorkerProcess.uptime(since: worker.startedAt), version])
            }
        }
        out += "# programs\n"
        return out
    }

    static let help = """
        The following commands are valid at this level:
          @!<pid>                                 : send a command to the <pid> process
          @<relative pid>                         : send a command to the <relative pid> process
          @master                                 : send a command to the master process
          help                                    : list matching or all commands
          prompt                                  : toggle interactive mode with prompt
          quit                                    : disconnect
          reload                                  : reload proxyd
          show proc                               : show processes status
          show version                            : show version of the current process

        """

    private func write(_ text: String, _ client: Client) {
        var bytes = Array(text.utf8)[...]
        // Small answers on a local socket: a full buffer means a client that does not read.
        var attempts = 0
        while !bytes.isEmpty, attempts < 100 {
            let n = bytes.withUnsafeBytes { send(client.fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n > 0 { bytes = bytes.dropFirst(n); continue }
            if n < 0, errno == EAGAIN || errno == EINTR {
                attempts += 1
                var entry = pollfd(fd: client.fd, events: Int16(POLLOUT), revents: 0)
                _ = poll(&entry, 1, 10)
                continue
            }
            client.done = true
            return
        }
    }

    func close() {
        for client in clients { Glibc.close(client.fd) }
        clients.removeAll()
        Glibc.close(listening)
        file?.removeIfStillOurs()
    }
}

private extension String {
    func padding(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}

import Foundation
import XCTest

/// A real server from Debian (MariaDB, PostgreSQL, Redis, slapd, an SMTP server, an
/// OpenSSL TLS server) run by hand for a test: as `nobody`, on a port below 32768, with
/// its data in its own temp directory, never as the system service. Root only (to drop to
/// `nobody`); `stop` kills it and removes the directory.
final class RealServer {
    let name: String
    let port: Int
    let directory: URL
    private var process: Process?
    private let logFile: URL
    private let stopSignal: Int32

    /// `setUp` runs (as `nobody`, in `directory`) before the server, e.g. to create its data.
    init(name: String, binaries: [String], package: String, setUp: [[String]] = [],
         command: (_ directory: String, _ port: Int) -> [String], stopSignal: Int32 = SIGTERM,
         extraSetUp: ((URL) throws -> Void)? = nil) throws {
        guard getuid() == 0 else { throw XCTSkip("runs \(name) as nobody: needs root") }
        for binary in binaries where !FileManager.default.fileExists(atPath: binary) {
            throw XCTSkip("\(binary) is missing (scripts/install-deps installs \(package))")
        }
        self.name = name
        self.stopSignal = stopSignal
        port = RealServer.freeLowPort()
        directory = URL(fileURLWithPath: "/tmp/proxyd-\(name)-\(UUID().uuidString.prefix(8))")
        logFile = directory.appendingPathComponent("server.log")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try extraSetUp?(directory)
        FileManager.default.createFile(atPath: logFile.path, contents: nil)
        _ = try RealServer.run(["/usr/bin/chown", "-R", "nobody:nogroup", directory.path])
        for step in setUp {
            let status = try RealServer.run(RealServer.asNobody + step.map { $0.replacingOccurrences(of: "{DIR}", with: directory.path) },
                                            in: directory, log: logFile)
            guard status == 0 else {
                throw TestFailure("\(name): \(step.joined(separator: " ")) exited \(status): \(serverLog)")
            }
        }
        let process = Process()
        let argv = RealServer.asNobody + command(directory.path, port)
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.currentDirectoryURL = directory
        process.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": directory.path, "LANG": "C"]
        process.standardInput = FileHandle.nullDevice
        let handle = try FileHandle(forWritingTo: logFile)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        guard TCP.waitUntilListening(port: port, timeout: 30) else {
            let text = serverLog
            stop()
            throw TestFailure("\(name) did not listen on \(port): \(text)")
        }
    }

    var serverLog: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Stops the server (its stop signal, then SIGKILL after 5 s); the port refuses from then on.
    func kill() {
        guard let process, process.isRunning else { return }
        Glibc.kill(process.processIdentifier, stopSignal)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { Glibc.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
    }

    func stop() {
        kill()
        process = nil
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }

    private static let asNobody = ["/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"]

    private static func run(_ argv: [String], in directory: URL? = nil, log: URL? = nil) throws -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        if let directory { process.currentDirectoryURL = directory }
        process.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": directory?.path ?? "/tmp", "LANG": "C"]
        process.standardInput = FileHandle.nullDevice
        if let log {
            if !FileManager.default.fileExists(atPath: log.path) { FileManager.default.createFile(atPath: log.path, contents: nil) }
            let handle = try FileHandle(forWritingTo: log)
            handle.seekToEndOfFile()
            process.standardOutput = handle
            process.standardError = handle
        } else {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
        }
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// A free port in 20000-32767: the ephemeral range above is busy during load tests.
    static func freeLowPort() -> Int {
        for _ in 0..<200 {
            let port = Int.random(in: 20_000...32_000)
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var addr = sockaddr_in()
            addr.sin_family = sa_family_t(AF_INET)
            addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = UInt16(port).bigEndian
            let bound = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if bound == 0 { return port }
        }
        return TCP.freePort()
    }
}

/// The servers the protocol checks are tested against.
enum ProtocolServers {
    /// MariaDB with an empty data directory and a user `haproxy` without password.
    static func mariadb() throws -> RealServer {
        try RealServer(name: "mariadb", binaries: ["/usr/sbin/mariadbd", "/usr/bin/mysql_install_db"], package: "mariadb-server",
                       setUp: [["/usr/bin/mysql_install_db", "--no-defaults", "--datadir={DIR}/data",
                                "--auth-root-authentication-method=normal", "--skip-test-db"]],
                       command: { dir, port in
                           ["/usr/sbin/mariadbd", "--no-defaults", "--datadir=\(dir)/data", "--socket=\(dir)/sock",
                            "--port=\(port)", "--bind-address=127.0.0.1", "--skip-name-resolve", "--skip-log-bin",
                            "--innodb-buffer-pool-size=8M", "--init-file=\(dir)/init.sql"]
                       }, extraSetUp: { dir in
                           try "CREATE USER IF NOT EXISTS 'haproxy'@'127.0.0.1';\n"
                               .write(to: dir.appendingPathComponent("init.sql"), atomically: true, encoding: .utf8)
                       })
    }

    /// PostgreSQL 15, `trust` authentication: every role is asked nothing, but role
    /// `rejected` is refused at once (pg_hba.conf `reject`).
    static func postgres() throws -> RealServer {
        let bin = "/usr/lib/postgresql/15/bin"
        return try RealServer(name: "postgres", binaries: ["\(bin)/initdb", "\(bin)/postgres"], package: "postgresql",
                              setUp: [["\(bin)/initdb", "-D", "{DIR}/data", "-U", "postgres", "--auth=trust", "--no-sync"]],
                              command: { dir, port in
                                  ["\(bin)/postgres", "-D", "\(dir)/data", "-k", dir, "-p", "\(port)",
                                   "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "hba_file=\(dir)/hba.conf"]
                              }, stopSignal: SIGINT,  // a fast shutdown: SIGTERM waits for clients
                              extraSetUp: { dir in
                                  try "host all rejected 127.0.0.1/32 reject\nhost all all 127.0.0.1/32 trust\nlocal all all trust\n"
                                      .write(to: dir.appendingPathComponent("hba.conf"), atomically: true, encoding: .utf8)
                              })
    }

    /// `password`: clients must AUTH first (`requirepass`).
    static func redis(password: String? = nil) throws -> RealServer {
        try RealServer(name: "redis", binaries: ["/usr/bin/redis-server"], package: "redis-server",
                       command: { dir, port in
                           ["/usr/bin/redis-server", "--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--dir", dir]
                               + (password.map { ["--requirepass", $0] } ?? [])
                       })
    }

    /// Python's aiosmtpd (Debian's python3-aiosmtpd): an SMTP server in the foreground.
    static func smtp() throws -> RealServer {
        try RealServer(name: "smtp", binaries: ["/usr/bin/python3", "/usr/lib/python3/dist-packages/aiosmtpd/__main__.py"],
                       package: "python3-aiosmtpd",
                       command: { _, port in ["/usr/bin/python3", "-m", "aiosmtpd", "-n", "-l", "127.0.0.1:\(port)"] })
    }

    /// slapd with no database: enough to answer an anonymous bind.
    static func slapd() throws -> RealServer {
        try RealServer(name: "slapd", binaries: ["/usr/sbin/slapd"], package: "slapd",
                       command: { dir, port in
                           ["/usr/sbin/slapd", "-f", "\(dir)/slapd.conf", "-h", "ldap://127.0.0.1:\(port)/", "-d", "0"]
                       }, extraSetUp: { dir in
                           try "pidfile \(dir.path)/slapd.pid\nargsfile \(dir.path)/slapd.args\n"
                               .write(to: dir.appendingPathComponent("slapd.conf"), atomically: true, encoding: .utf8)
                       })
    }

    /// `openssl s_server` with a fresh self-signed certificate.
    static func tls() throws -> RealServer {
        try RealServer(name: "tls", binaries: ["/usr/bin/openssl"], package: "openssl",
                       setUp: [["/usr/bin/openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "{DIR}/key.pem",
                                "-out", "{DIR}/cert.pem", "-subj", "/CN=localhost", "-days", "1"]],
                       command: { dir, port in
                           ["/usr/bin/openssl", "s_server", "-accept", "127.0.0.1:\(port)", "-cert", "\(dir)/cert.pem",
                            "-key", "\(dir)/key.pem", "-quiet"]
                       })
    }
}

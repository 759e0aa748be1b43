import Foundation
import XCTest

/// A finished run of a command-line tool.
struct ToolRun {
    var status: Int32
    var stdout: String
    var stderr: String
    var timedOut: Bool
    var all: String { stdout + stderr }
}

/// Runs real tools (openssl, curl, socat, nginx) from the tests, bounded in time.
enum Tool {
    /// Runs `path args`; `input` is written to stdin, which stays open `holdInput` seconds
    /// more (so that, e.g., `openssl s_client` receives TLS 1.3 tickets before it quits).
    @discardableResult
    static func run(_ path: String, _ args: [String], input: String? = nil, holdInput: TimeInterval = 0,
                    timeout: TimeInterval = 20) throws -> ToolRun {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = args
        let dir = FileManager.default.temporaryDirectory
        let outURL = dir.appendingPathComponent("tool-out-\(UUID().uuidString)")
        let errURL = dir.appendingPathComponent("tool-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outURL)
            try? FileManager.default.removeItem(at: errURL)
        }
        let out = try FileHandle(forWritingTo: outURL), err = try FileHandle(forWritingTo: errURL)
        process.standardOutput = out
        process.standardError = err
        let stdin = Pipe()
        process.standardInput = stdin
        try process.run()
        let writer = Thread {
            if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
            if holdInput > 0 { Thread.sleep(forTimeInterval: holdInput) }
            try? stdin.fileHandleForWriting.close()
        }
        writer.start()
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning, Date() < deadline { usleep(10_000) }
        let timedOut = process.isRunning
        if timedOut {
            process.terminate()
            process.waitUntilExit()
        }
        try? out.close()
        try? err.close()
        return ToolRun(status: process.terminationStatus,
                       stdout: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                       stderr: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "",
                       timedOut: timedOut)
    }

    static let openssl = "/usr/bin/openssl"
    static let curl = "/usr/bin/curl"
    static let socat = "/usr/bin/socat"
    static let nginx = "/usr/sbin/nginx"

    /// `openssl s_client` against 127.0.0.1:port; waits a little before closing stdin.
    static func sClient(port: Int, _ extra: [String], input: String = "", hold: TimeInterval = 0.5) throws -> ToolRun {
        try run(openssl, ["s_client", "-connect", "127.0.0.1:\(port)"] + extra, input: input, holdInput: hold)
    }

    /// `curl --insecure` (no proxy from the environment), with extra arguments.
    static func curlInsecure(_ args: [String]) throws -> ToolRun {
        try run(curl, ["--silent", "--show-error", "--insecure", "--noproxy", "*", "--max-time", "10"] + args)
    }
}

/// Keys and certificates made for one test class with `openssl req`, in a temp directory:
/// a CA, certificates it signed (for the proxy, a second name, a client and nginx), and
/// self-signed ones. Each `NAME.pem` holds the certificate then the key, as HAProxy's
/// `crt` expects; `NAME.crt` and `NAME.key` hold them apart.
final class TLSMaterial {
    let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("proxyd-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", path("ca.key"), "-out", path("ca.crt"), "-days", "30",
                     "-subj", "/CN=proxyd test CA"])
        try signed("proxy", names: ["proxy.test", "*.wild.test"])
        try signed("other", names: ["other.test"])
        try signed("client", names: ["client.test"])
        try signed("nginx", names: ["nginx.test"])
        try selfSigned("rsa", names: ["rsa.test"], rsa: true)
        try expired("expired")
    }

    /// A self-signed certificate valid only in January 2019 (like the lab's own), made
    /// with `openssl ca`, which alone among the CLI tools sets past dates.
    private func expired(_ name: String) throws {
        let db = path("\(name)-ca")
        try FileManager.default.createDirectory(atPath: db, withIntermediateDirectories: true)
        try "".write(toFile: db + "/index.txt", atomically: true, encoding: .utf8)
        try "01\n".write(toFile: db + "/serial", atomically: true, encoding: .utf8)
        try """
            [ ca ]
            default_ca = d
            [ d ]
            database = \(db)/index.txt
            new_certs_dir = \(db)
            serial = \(db)/serial
            default_md = sha256
            policy = p
            [ p ]
            commonName = supplied
            """.write(toFile: db + "/ca.cnf", atomically: true, encoding: .utf8)
        try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(name).test"])
        try openssl(["ca", "-batch", "-config", db + "/ca.cnf", "-selfsign", "-keyfile", path("\(name).key"),
                     "-in", path("\(name).csr"), "-out", path("\(name).crt"),
                     "-startdate", "20190101000000Z", "-enddate", "20190201000000Z"])
        try combine(name)
    }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    private func openssl(_ args: [String]) throws {
        let result = try Tool.run(Tool.openssl, args)
        guard result.status == 0 else { throw TestFailure("openssl \(args.joined(separator: " ")): \(result.all)") }
    }

    private func signed(_ name: String, names: [String]) throws {
        let san = "subjectAltName=" + names.map { "DNS:\($0)" }.joined(separator: ",")
        try openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                     "-keyout", path("\(name).key"), "-out", path("\(name).csr"),
                     "-subj", "/CN=\(names[0])", "-addext", san])
        try openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.crt"), "-CAkey", path("ca.key"),
                     "-CAcreateserial", "-out", path("\(name).crt"), "-days", "30", "-copy_extensions", "copy"])
        try combine(name)
    }

    private func selfSigned(_ name: String, names: [String], rsa: Bool) throws {
        let san = "subjectAltName=" + names.map { "DNS:\($0)" }.joined(separator: ",")
        try openssl(["req", "-x509", "-newkey", rsa ? "rsa:2048" : "ec", "-nodes",
                     "-keyout", path("\(name).key"), "-out", path("\(name).crt"), "-days", "30",
                     "-subj", "/CN=\(names[0])", "-addext", san])
        try combine(name)
    }

    /// NAME.pem = certificate + key.
    private func combine(_ name: String) throws {
        let crt = try String(contentsOfFile: path("\(name).crt"), encoding: .utf8)
        let key = try String(contentsOfFile: path("\(name).key"), encoding: .utf8)
        try (crt + key).write(toFile: path("\(name).pem"), atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}

/// nginx with TLS on 127.0.0.1, as the lab's web servers: `/healthz` answers `ok`, every
/// other path answers with its name, the client certificate's subject and the SNI it got.
final class TLSNginx {
    let port: Int
    let name: String
    let directory: URL
    private let process = Process()

    init(name: String, certificate: String, key: String, clientCA: String?) throws {
        self.name = name
        port = TCP.freePort()
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("proxyd-nginx-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let d = directory.path
        let clientLines = clientCA.map { "ssl_client_certificate \($0);\n            ssl_verify_client optional;" } ?? ""
        let config = """
            daemon off;
            master_process off;
            worker_processes 1;
            pid \(d)/nginx.pid;
            error_log \(d)/error.log;
            events { worker_connections 128; }
            http {
                access_log off;
                client_body_temp_path \(d)/body;
                proxy_temp_path \(d)/proxy;
                fastcgi_temp_path \(d)/fastcgi;
                uwsgi_temp_path \(d)/uwsgi;
                scgi_temp_path \(d)/scgi;
                server {
                    listen 127.0.0.1:\(port) ssl;
                    ssl_certificate \(certificate);
                    ssl_certificate_key \(key);
                    ssl_protocols TLSv1.2 TLSv1.3;
                    ssl_session_cache shared:tls:1m;
                    \(clientLines)
                    location = /healthz { default_type text/plain; return 200 "ok\\n"; }
                    location /files/ { alias \(d)/files/; }
                    location / {
                        default_type text/plain;
                        return 200 "\(name) client=[$ssl_client_s_dn] verify=$ssl_client_verify sni=[$ssl_server_name] proto=$ssl_protocol reused=$ssl_session_reused\\n";
                    }
                }
            }
            """
        try config.write(toFile: "\(d)/nginx.conf", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "\(d)/files", withIntermediateDirectories: true)
        process.executableURL = URL(fileURLWithPath: Tool.nginx)
        process.arguments = ["-p", d, "-c", "\(d)/nginx.conf", "-e", "\(d)/error.log"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        guard TCP.waitUntilListening(port: port, timeout: 10) else {
            let log = (try? String(contentsOfFile: "\(d)/error.log", encoding: .utf8)) ?? ""
            stop()
            throw TestFailure("nginx did not listen on \(port): \(log)")
        }
    }

    /// Puts a file of `size` pseudo-random bytes at `/files/NAME`; returns the bytes.
    func serve(_ name: String, size: Int) throws -> Data {
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: size)
        for i in stride(from: 0, to: size, by: 8) {
            var word = generator.next()
            for j in 0..<min(8, size - i) { bytes[i + j] = UInt8(truncatingIfNeeded: word); word >>= 8 }
        }
        let data = Data(bytes)
        try data.write(to: directory.appendingPathComponent("files/\(name)"))
        return data
    }

    func stop() {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }
}

/// The proxy's stderr once it stopped, with its log lines.
extension ProxydProcess {
    func stopAndReadStderr() -> String {
        if process.isRunning {
            process.terminate()
            _ = waitForExit(timeout: 5)
        }
        let text = stderrText()
        stop()
        return text
    }
}

/// Test cases that use certificates made by openssl: one set per test class, made before
/// its first test and removed after its last.
class TLSTestCase: XCTestCase {
    nonisolated(unsafe) static var material: TLSMaterial?

    override class func setUp() {
        super.setUp()
        material = try? TLSMaterial()
    }

    override class func tearDown() {
        material = nil
        super.tearDown()
    }

    var m: TLSMaterial {
        get throws {
            guard let material = Self.material else { throw TestFailure("could not make certificates with openssl") }
            return material
        }
    }
}

import Foundation
import XCTest

/// Runs the real clients operators point at HAProxy (socat, hatop in tmux, the
/// Prometheus exporter, chromium) against proxyd.
enum ControlClient {
    /// `show stat`'s header line exactly as HAProxy 2.6.12 prints it.
    static let haproxyHeader = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,"

    static func which(_ tool: String) -> String? {
        for directory in ["/usr/bin", "/usr/sbin", "/usr/local/bin", "/bin"] {
            let path = directory + "/" + tool
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// The tool's path, or a skip naming the Debian package that provides it.
    static func require(_ tool: String, package: String) throws -> String {
        guard let path = which(tool) else {
            throw XCTSkip("\(tool) is not installed (Debian package '\(package)')")
        }
        return path
    }

    /// Runs a program to its end (bounded), feeding `input`; returns status and stdout.
    /// posix_spawn and waitpid directly: Foundation's Process sometimes never saw a fast
    /// child (tmux) exit.
    @discardableResult
    static func run(_ path: String, _ arguments: [String], input: String? = nil,
                    timeout: TimeInterval = 20) throws -> (status: Int32, output: String) {
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0]
        guard pipe(&inPipe) == 0, pipe(&outPipe) == 0 else { throw TestFailure("pipe failed") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        for fd in inPipe + outPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(inPipe[0])
        close(outPipe[1])
        guard spawned == 0 else {
            close(inPipe[1]); close(outPipe[0])
            throw TestFailure("cannot start \(path): \(spawned)")
        }
        if let input {
            let bytes = Array(input.utf8)
            _ = bytes.withUnsafeBytes { write(inPipe[1], $0.baseAddress, $0.count) }
        }
        close(inPipe[1])
        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { timedOut = true; break }
            var poller = pollfd(fd: outPipe[0], events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, Int32(min(left, 1) * 1000)) >= 0 else { break }
            if poller.revents == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(outPipe[0], $0.baseAddress, $0.count) }
            if n <= 0 { break }
            output += buffer[0..<n]
        }
        close(outPipe[0])
        if timedOut { kill(pid, SIGKILL) }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        if timedOut { throw TestFailure("\(path) \(arguments) did not finish in \(timeout) s") }
        return ((status >> 8) & 0xff, String(decoding: output, as: UTF8.self))
    }

    /// Starts a program that forks a daemon (tmux), with no pipe the daemon could keep
    /// open, and waits for the program itself.
    static func start(_ path: String, _ arguments: [String]) throws {
        let shell = ([path] + arguments).map { "'" + $0.replacingOccurrences(of: "'", with: "'\\''") + "'" }
            .joined(separator: " ")
        try run("/bin/sh", ["-c", shell + " </dev/null >/dev/null 2>&1"], timeout: 20)
    }

    /// Starts a long-running program (the exporter) with its output discarded.
    static func spawn(_ path: String, _ arguments: [String], log: String = "/dev/null") throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([path] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, path, &actions, nil, argv, environ)
        guard spawned == 0 else { throw TestFailure("cannot start \(path): \(spawned)") }
        return pid
    }

    static func stop(_ pid: pid_t) {
        kill(pid, SIGTERM)
        var status: Int32 = 0
        for _ in 0..<50 {
            if waitpid(pid, &status, WNOHANG) == pid { return }
            usleep(100_000)
        }
        kill(pid, SIGKILL)
        waitpid(pid, &status, 0)
    }

    /// `echo "COMMAND" | socat stdio UNIX-CONNECT:PATH`.
    static func socat(_ command: String, socket: String) throws -> String {
        let socat = try require("socat", package: "socat")
        return try run(socat, ["stdio", "UNIX-CONNECT:" + socket], input: command + "\n").output
    }

    /// Polls `condition` every 100 ms for up to `timeout` seconds.
    static func eventually(_ timeout: TimeInterval = 10, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            if try condition() { return true }
            usleep(100_000)
        } while Date() < deadline
        return false
    }

    /// Fetches a URL with curl-free Foundation-free plain HTTP over TCP (for the exporter).
    static func httpGet(port: Int, path: String) throws -> String {
        let connection = try TCP.Connection(port: port)
        try connection.send("GET \(path) HTTP/1.0\r\nHost: x\r\n\r\n")
        return String(decoding: connection.receiveAll(), as: UTF8.self)
    }
}

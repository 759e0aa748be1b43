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
    @discardableResult
    static func run(_ path: String, _ arguments: [String], input: String? = nil,
                    timeout: TimeInterval = 20) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        let inputPipe = Pipe()
        process.standardInput = inputPipe
        try process.run()
        if let input { inputPipe.fileHandleForWriting.write(Data(input.utf8)) }
        try? inputPipe.fileHandleForWriting.close()
        let box = OutputBox()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue(label: "reader").async {
            box.data = output.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            throw TestFailure("\(path) \(arguments) did not finish in \(timeout) s")
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: box.data, as: UTF8.self))
    }

    /// Starts a program that forks a daemon (tmux): no pipe a daemon could keep open.
    static func start(_ path: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
    }

    /// Filled by the reader thread, read after it signalled.
    final class OutputBox: @unchecked Sendable { var data = Data() }

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

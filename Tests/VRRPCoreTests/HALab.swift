import XCTest
import Foundation
@testable import VRRPCore

/// The lab's shape for the HA system tests: two nginx web servers, two load balancers each
/// running proxyd and vrrpd (tracking that proxyd over its control socket), and a client
/// that sends requests through the virtual address in a bounded loop and records each one.
extension Lab {
    static var proxyd: String? {
        guard let d = binDir() else { return nil }
        let p = d.appendingPathComponent("proxyd").path
        return FileManager.default.isExecutableFile(atPath: p) ? p : nil
    }

    /// hosts: w1, w2 (web servers), lb1, lb2, cl (the client): 10.77.10.1-5. Short names: a
    /// veth is named after its namespace, and interface names stop at 15 characters.
    static func haLab() throws -> Lab {
        guard FileManager.default.isExecutableFile(atPath: "/usr/sbin/nginx") else { throw XCTSkip("nginx not installed") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/curl") else { throw XCTSkip("curl not installed") }
        guard proxyd != nil else { throw XCTSkip("proxyd binary not built next to the tests") }
        let lab = try Lab(hosts: ["w1", "w2", "lb1", "lb2", "cl"])
        for lb in ["lb1", "lb2"] { sh("ip netns exec \(lab.ns(lb)) sysctl -qw net.ipv4.ip_nonlocal_bind=1") }
        return lab
    }

    func startWeb(_ web: String) throws {
        let root = path(web)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        _ = write("\(web)/index.html", "Greeting from \(web)\n")
        let conf = write("\(web).nginx.conf", """
        daemon off;
        master_process off;
        worker_processes 1;
        pid \(root)/nginx.pid;
        error_log \(root)/error.log;
        events { worker_connections 1024; }
        http {
          access_log off;
          server { listen 80; root \(root); }
        }

        """)
        try start(web, on: web, ["/usr/sbin/nginx", "-c", conf])
    }

    func controlSocket(_ lb: String) -> String { path("\(lb)-admin.sock") }

    /// proxyd's config for one load balancer: the lab's, with a header naming the LB and a
    /// 1 s check interval.
    func proxydConfig(_ lb: String, extraGlobal: String = "", extraDefaults: String = "") -> String {
        """
        global
            stats socket \(controlSocket(lb)) mode 600 level admin
        \(extraGlobal)
        defaults
            mode http
            timeout connect 2s
            timeout client 10s
            timeout server 10s
        \(extraDefaults)
        frontend http-in
            bind *:8080
            http-response set-header X-LB \(lb)
            default_backend app

        backend app
            balance roundrobin
            server web1 \(address("w1")):80 check inter 1s
            server web2 \(address("w2")):80 check inter 1s

        """
    }

    /// Starts proxyd as `service proxyd start` does (daemon, pid file); true when it started.
    @discardableResult
    func startProxyd(_ lb: String, config: String? = nil, reload: Bool = false) -> Bool {
        let cfg = write("\(lb).cfg", config ?? proxydConfig(lb))
        let pidFile = path("\(lb)-proxyd.pid")
        var cmd = "ip netns exec \(ns(lb)) \(Lab.proxyd!) -D -p \(pidFile) -f \(cfg)"
        if reload, let old = proxydPid(lb) { cmd += " -sf \(old)" }
        let r = Lab.sh(cmd + " >> \(path("\(lb)-proxyd.log")) 2>&1")
        return r.status == 0
    }

    func proxydPid(_ lb: String) -> pid_t? {
        (try? String(contentsOfFile: path("\(lb)-proxyd.pid"), encoding: .utf8))
            .flatMap { pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
    }

    func proxydRunning(_ lb: String) -> Bool { proxydPid(lb).map { kill($0, 0) == 0 } ?? false }

    func trackerConfig(_ lb: String, priority: Int, advert: String = "1", version: Int = 2) -> String {
        """
        global_defs {
          vrrp_version \(version)
          vrrp_garp_master_delay 0
        }
        vrrp_track_proxyd proxyd {
          socket \(controlSocket(lb))
        }
        vrrp_instance VI_1 {
          state \(priority > 100 ? "MASTER" : "BACKUP")
          interface eth0
          virtual_router_id 51
          priority \(priority)
          advert_int \(advert)
          virtual_ipaddress {
            \(Lab.vip)/24
          }
          track_proxyd {
            proxyd
          }
        }

        """
    }

    /// The client's request loop: `count` requests through the VIP, `gap` seconds apart, each
    /// a new connection; one line per request: wall time, curl's exit status, HTTP status, LB.
    /// `connectTimeout`: how long a SYN may go unanswered (a VIP nobody holds drops it) before
    /// curl gives up and the next request tries again; nil: curl's own (a retransmission).
    func startClientLoop(_ key: String, count: Int, gap: Double = 0.02, maxTime: Double = 3,
                         connectTimeout: Double? = nil) throws {
        let out = path("\(key).requests")
        let connect = connectTimeout.map { " --connect-timeout \($0)" } ?? ""
        let script = """
        for i in $(seq \(count)); do
          t=$(date +%s.%N)
          r=$(curl -s -o /dev/null --max-time \(maxTime)\(connect) -w '%{http_code} %header{x-lb}' http://\(Lab.vip):8080/)
          echo "$t $? $r" >> \(out)
          sleep \(gap)
        done

        """
        try start(key, on: "cl", ["/bin/bash", "-c", script])
    }

    struct ClientRequest { let time: Double; let exit: Int; let status: String; let lb: String }

    func requests(_ key: String) -> [ClientRequest] {
        let text = (try? String(contentsOfFile: path("\(key).requests"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            guard f.count >= 3, let t = Double(f[0]), let e = Int(f[1]) else { return nil }
            return ClientRequest(time: t, exit: e, status: f[2], lb: f.count > 3 ? f[3] : "")
        }
    }

    func waitForLoop(_ key: String, timeout: Double) {
        guard let p = processes[key] else { return }
        let end = Date().addingTimeInterval(timeout)
        while p.isRunning && Date() < end { usleep(20_000) }
    }

    /// A summary of what failed, for assertion messages.
    static func failures(_ r: [ClientRequest]) -> String {
        r.filter { $0.exit != 0 || $0.status != "200" }
            .map { String(format: "%.3f exit %d status %@", $0.time, $0.exit, $0.status) }.joined(separator: "; ")
    }
}

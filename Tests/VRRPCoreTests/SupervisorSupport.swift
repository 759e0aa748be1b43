import XCTest
import Foundation
import CLinux
@testable import VRRPCore

/// Sockets opened inside a lab namespace from the test process: setns moves only the
/// calling thread, and a socket stays in the namespace it was made in. Sampling addresses
/// over such a netlink socket takes well under a millisecond, where `ip -n` takes ~5 ms.
enum Netns {
    struct Failure: Error, CustomStringConvertible { var description: String }

    static func run<T>(in name: String, _ body: () throws -> T) throws -> T {
        let target = open("/run/netns/\(name)", O_RDONLY | O_CLOEXEC)
        let home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        defer { if target >= 0 { close(target) }; if home >= 0 { close(home) } }
        guard target >= 0, home >= 0 else { throw Failure(description: "cannot open namespace \(name)") }
        let r = clinux_setns_net(target)
        guard r == 0 else { throw Failure(description: "setns \(name): \(String(cString: strerror(-r)))") }
        defer { precondition(clinux_setns_net(home) == 0, "cannot return to the test's namespace") }
        return try body()
    }
}

/// Whether hosts hold an address, sampled through one netlink socket per namespace.
final class VIPWatcher {
    let lab: Lab
    let sockets: [(host: String, netlink: Netlink)]

    init(_ lab: Lab, hosts: [String]) throws {
        self.lab = lab
        sockets = try hosts.map { h in (h, try Netns.run(in: lab.ns(h)) { try Netlink() }) }
    }

    func holders(_ vip: String = Lab.vip) -> [String] {
        let a = IPv4Address(vip)!
        return sockets.filter { s in ((try? s.netlink.addresses()) ?? []).contains { $0.address == a } }.map(\.host)
    }
}

/// What the VIP did after a failure, sampled every ~10 ms from `start`.
struct VIPTimeline: CustomStringConvertible {
    var left: Double?        // the old holder no longer has it
    var taken: Double?       // the new holder has it
    var served: Double?      // a client connection was answered by the new holder
    var longestDouble = 0.0  // both held it, longest stretch
    var samples = 0

    var description: String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.3f s", $0) } ?? "never" }
        return "VIP left the old holder after \(f(left)), new holder had it after \(f(taken)), served by it after \(f(served)), both held it for at most \(String(format: "%.3f", longestDouble)) s (\(samples) samples)"
    }

    /// Samples until `until` seconds after `start`; `from` is the holder before the failure.
    static func record(_ w: VIPWatcher, client: VIPClient?, from old: String, to new: String,
                       start: Double, until: Double) -> VIPTimeline {
        var t = VIPTimeline()
        var bothSince: Double?
        for _ in 0..<100_000 {
            let h = w.holders()
            let now = Monotonic.seconds() - start
            t.samples += 1
            if t.left == nil, !h.contains(old) { t.left = now }
            if t.taken == nil, h.contains(new) { t.taken = now }
            if h.contains(old) && h.contains(new) {
                if bothSince == nil { bothSince = now }
                t.longestDouble = max(t.longestDouble, now - bothSince!)
            } else {
                bothSince = nil
            }
            if now > until { break }
            usleep(10_000)
        }
        t.served = client?.firstAnswer(new, after: start).map { $0 - start }
        return t
    }
}

enum Monotonic {
    static func seconds() -> Double { Double(MonotonicClock.now()) / 1e9 }
}

/// A client in its own namespace that connects to VIP:port every ~5 ms and records which
/// server answered, by the name it sends. A connect to a VIP nobody holds gives up after
/// 20 ms, so an answer is seen within ~25 ms of being possible.
final class VIPClient {
    let lock = NSLock()
    var answers: [(at: Double, who: String)] = []
    var stopped = false
    var thread: Thread?
    let done = DispatchSemaphore(value: 0)

    func start(in ns: String, vip: String = Lab.vip, port: UInt16 = 8080) {
        let t = Thread { [self] in
            defer { done.signal() }
            // This thread only: it stays in the client's namespace until it ends.
            let fd = open("/run/netns/\(ns)", O_RDONLY | O_CLOEXEC)
            guard fd >= 0, clinux_setns_net(fd) == 0 else { return }
            close(fd)
            for _ in 0..<40_000 where !isStopped {
                if let who = VIPClient.ask(vip, port) {
                    lock.lock(); answers.append((Monotonic.seconds(), who)); lock.unlock()
                }
                usleep(5_000)
            }
        }
        thread = t
        t.start()
    }

    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    func stop() {
        lock.lock(); stopped = true; lock.unlock()
        _ = done.wait(timeout: .now() + 5)
    }

    func firstAnswer(_ who: String, after t: Double) -> Double? {
        lock.lock(); defer { lock.unlock() }
        return answers.first { $0.at >= t && $0.who == who }?.at
    }

    /// One connection: non-blocking connect, 20 ms to connect, 200 ms to read the name.
    static func ask(_ vip: String, _ port: UInt16) -> String? {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return nil }
        defer { close(s) }
        var sa = sockaddr_in()
        sa.sin_family = sa_family_t(AF_INET)
        sa.sin_port = port.bigEndian
        sa.sin_addr.s_addr = IPv4Address(vip)!.value.bigEndian
        let r = withUnsafePointer(to: &sa) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard r == 0 || errno == EINPROGRESS else { return nil }
        var p = pollfd(fd: s, events: Int16(POLLOUT), revents: 0)
        guard poll(&p, 1, 20) == 1 else { return nil }
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0, err == 0 else { return nil }
        p = pollfd(fd: s, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 200) == 1 else { return nil }
        var buf = [UInt8](repeating: 0, count: 64)
        let n = recv(s, &buf, buf.count, 0)
        guard n > 0 else { return nil }
        return String(decoding: buf[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// TCP servers on 0.0.0.0:port inside hosts' namespaces, answering each connection with
/// the host's name from one thread of the test process: no process is started per
/// connection (socat's fork and exec took 200 ms on a loaded machine), so the first answer
/// after a failover measures the network, not the scheduler.
final class NameServers {
    let lock = NSLock()
    var listeners: [(fd: Int32, name: String)] = []
    var stopped = false
    let done = DispatchSemaphore(value: 0)

    init(_ lab: Lab, hosts: [String], port: UInt16 = 8080) throws {
        for h in hosts {
            let fd = try Netns.run(in: lab.ns(h)) { () throws -> Int32 in
                let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
                var one: Int32 = 1
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
                var sa = sockaddr_in()
                sa.sin_family = sa_family_t(AF_INET)
                sa.sin_port = port.bigEndian
                let r = withUnsafePointer(to: &sa) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
                guard fd >= 0, r == 0, listen(fd, 64) == 0 else { throw Netns.Failure(description: "listen on \(h):\(port)") }
                return fd
            }
            listeners.append((fd, h))
        }
        let t = Thread { [self] in
            defer { done.signal() }
            for _ in 0..<1_000_000 where !isStopped {
                var fds = listeners.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
                guard poll(&fds, nfds_t(fds.count), 20) > 0 else { continue }
                for (i, p) in fds.enumerated() where p.revents != 0 {
                    let c = accept(p.fd, nil, nil)
                    guard c >= 0 else { continue }
                    let text = Array("\(listeners[i].name)\n".utf8)
                    _ = send(c, text, text.count, Int32(MSG_NOSIGNAL))
                    close(c)
                }
            }
        }
        t.start()
    }

    var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    func stop() {
        lock.lock(); stopped = true; lock.unlock()
        _ = done.wait(timeout: .now() + 5)
        for l in listeners { close(l.fd) }
        listeners = []
    }
}

extension Lab {
    /// The VRRP child's pid file as startVrrpd leaves it: the default beside `<key>.pid`.
    func vrrpChildPid(_ key: String) -> pid_t? { PidFile.read(path("\(key)-vrrp.pid")) }

    /// The whole node's VRRP dies at once (both processes SIGKILLed, nobody says goodbye):
    /// the supervisor is stopped first so it cannot react to its child's death, and the
    /// child dies before the supervisor so the kernel's parent-death signal finds nobody.
    func crashVrrpd(_ key: String) {
        guard let p = processes[key] else { return }
        let supervisor = p.processIdentifier
        kill(supervisor, SIGSTOP)
        if let c = vrrpChildPid(key) { kill(c, SIGKILL) }
        stop(key, SIGKILL)
    }


    /// The process is alive and is a vrrpd (not a zombie, not a reused pid).
    static func isVrrpd(_ pid: pid_t) -> Bool {
        guard kill(pid, 0) == 0, let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return false }
        return stat.contains("(vrrpd) ") && !stat.contains(") Z ")
    }

    static func parent(of pid: pid_t) -> pid_t? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        return fields.count > 1 ? pid_t(fields[1]) : nil
    }
}

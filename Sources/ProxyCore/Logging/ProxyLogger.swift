#if canImport(Glibc)
import Glibc
#endif

/// The wall clock as logs show it: local time, to the microsecond.
public struct WallTime: Sendable, Equatable {
    public var seconds: Int
    public var microseconds: Int

    public init(seconds: Int, microseconds: Int) {
        self.seconds = seconds
        self.microseconds = microseconds
    }

    public static func now() -> WallTime {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return WallTime(seconds: Int(ts.tv_sec), microseconds: Int(ts.tv_nsec) / 1000)
    }

    /// Broken-down local time (the TZ of the process, as HAProxy uses).
    public var local: tm {
        var t = time_t(seconds)
        var out = tm()
        localtime_r(&t, &out)
        return out
    }

    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
}

/// Small byte-appending helpers for log lines (no Foundation, no String formatting).
extension Array where Element == UInt8 {
    @inline(__always) mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { append(contentsOf: $0) }
    }
    @inline(__always) mutating func append(_ text: String) {
        append(contentsOf: text.utf8)
    }
    mutating func appendDecimal(_ value: Int) {
        if value < 0 {
            append(UInt8(ascii: "-"))
            appendDecimal(-value)
            return
        }
        let first = count
        var n = value
        repeat {
            append(UInt8(truncatingIfNeeded: 48 + n % 10))
            n /= 10
        } while n > 0
        // Digits came out last first.
        var i = first, j = count - 1
        while i < j { swapAt(i, j); i += 1; j -= 1 }
    }
    /// `value` on at least `width` digits, zero-padded.
    mutating func appendPadded(_ value: Int, width: Int, pad: UInt8 = UInt8(ascii: "0")) {
        var magnitude = 10
        var w = 1
        while w < width {
            if value < magnitude { append(pad) }
            magnitude *= 10
            w += 1
        }
        appendDecimal(value)
    }
}

/// Sends a proxy's log lines to its `log` targets with the syslog header each target's
/// format asks for. Built once at start-up; nothing here runs unless a target exists.
public final class ProxyLogger: @unchecked Sendable {
    public struct Output: Sendable {
        public let target: LogTarget
        public let sink: LogSink
    }

    public let outputs: [Output]
    /// `log-tag` (default the program name, `proxyd`).
    public let tag: String
    /// `log-send-hostname`: the host name written in headers; nil leaves it out (rfc3164).
    public let hostname: String?
    public let pid: Int

    public init(outputs: [Output], tag: String = "proxyd", hostname: String? = nil, pid: Int = Int(getpid())) {
        self.outputs = outputs
        self.tag = tag
        self.hostname = hostname
        self.pid = pid
    }

    public var isEnabled: Bool { !outputs.isEmpty }

    /// True when at least one target takes messages of `level`.
    public func accepts(_ level: LogTarget.Level) -> Bool {
        outputs.contains { level <= $0.target.maxLevel }
    }

    /// Logs `message` (without a trailing newline) at `level`.
    public func log(_ level: LogTarget.Level, _ message: String) {
        var text = message
        text.withUTF8 { log(level, UnsafeRawBufferPointer($0)) }
    }

    public func log(_ level: LogTarget.Level, _ message: [UInt8]) {
        message.withUnsafeBytes { log(level, $0) }
    }

    public func log(_ level: LogTarget.Level, _ message: UnsafeRawBufferPointer, time: WallTime = .now()) {
        guard !outputs.isEmpty else { return }
        var line: [UInt8] = []
        line.reserveCapacity(message.count + 64)
        for output in outputs where level <= output.target.maxLevel {
            line.removeAll(keepingCapacity: true)
            // `minlevel`: messages more severe than it are sent at it.
            let severity = max(level.rawValue, output.target.minLevel.rawValue)
            appendHeader(&line, target: output.target, severity: severity, time: time)
            let room = max(0, output.target.length - 1 - line.count)
            line.append(contentsOf: message.prefix(room))
            line.append(UInt8(ascii: "\n"))
            line.withUnsafeBytes { output.sink.send($0) }
        }
    }

    /// The syslog header HAProxy writes for each `format`.
    func appendHeader(_ line: inout [UInt8], target: LogTarget, severity: Int, time: WallTime) {
        let priority = target.facilityCode * 8 + severity
        switch target.format {
        case .raw:
            return
        case .short:
            line.append("<"); line.appendDecimal(severity); line.append(">")
            return
        case .priority:
            line.append("<"); line.appendDecimal(priority); line.append(">")
            return
        case .timed, .iso:
            if target.format == .timed {
                line.append("<"); line.appendDecimal(severity); line.append(">")
            }
            appendISOTime(&line, time)
            line.append(" ")
            return
        case .rfc3164:
            let t = time.local
            line.append("<"); line.appendDecimal(priority); line.append(">")
            line.append(WallTime.months[Int(t.tm_mon)])
            line.append(" ")
            line.appendPadded(Int(t.tm_mday), width: 2, pad: UInt8(ascii: " "))
            line.append(" ")
            line.appendPadded(Int(t.tm_hour), width: 2); line.append(":")
            line.appendPadded(Int(t.tm_min), width: 2); line.append(":")
            line.appendPadded(Int(t.tm_sec), width: 2); line.append(" ")
            if let hostname { line.append(hostname); line.append(" ") }
            line.append(tag); line.append("["); line.appendDecimal(pid); line.append("]: ")
        case .rfc5424:
            line.append("<"); line.appendDecimal(priority); line.append(">1 ")
            appendISOTime(&line, time)
            line.append(" ")
            line.append(hostname ?? "-"); line.append(" ")
            line.append(tag); line.append(" ")
            line.appendDecimal(pid); line.append(" - - ")
        }
    }

    /// `2026-11-25T09:29:29.362512+00:00`
    func appendISOTime(_ line: inout [UInt8], _ time: WallTime) {
        let t = time.local
        line.appendDecimal(Int(t.tm_year) + 1900); line.append("-")
        line.appendPadded(Int(t.tm_mon) + 1, width: 2); line.append("-")
        line.appendPadded(Int(t.tm_mday), width: 2); line.append("T")
        line.appendPadded(Int(t.tm_hour), width: 2); line.append(":")
        line.appendPadded(Int(t.tm_min), width: 2); line.append(":")
        line.appendPadded(Int(t.tm_sec), width: 2); line.append(".")
        line.appendPadded(time.microseconds, width: 6)
        let offset = Int(t.tm_gmtoff)
        line.append(offset < 0 ? "-" : "+")
        line.appendPadded(abs(offset) / 3600, width: 2); line.append(":")
        line.appendPadded(abs(offset) % 3600 / 60, width: 2)
    }
}

/// One sink per destination for the whole process, so that `log global` in many proxies
/// shares one socket.
public final class LogSinks: @unchecked Sendable {
    private var sinks: [(LogTarget.Destination, LogSink)] = []
    public init() {}

    public func sink(for destination: LogTarget.Destination) -> LogSink {
        if let found = sinks.first(where: { $0.0 == destination }) { return found.1 }
        let sink = LogSink(destination: destination, number: sinks.count + 1)
        sinks.append((destination, sink))
        return sink
    }

    public var all: [LogSink] { sinks.map { $0.1 } }

    /// Lines lost on every destination.
    public var dropped: Int { sinks.reduce(0) { $0 + $1.1.dropped.load(ordering: .relaxed) } }

    /// A logger for these targets.
    public func logger(for targets: [LogTarget], tag: String, hostname: String?) -> ProxyLogger {
        ProxyLogger(outputs: targets.map { ProxyLogger.Output(target: $0, sink: sink(for: $0.destination)) },
                    tag: tag, hostname: hostname)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import NIOCore

/// What one session (tcp) or one request (http) leaves for its log line. Filled as the
/// session goes with instants and counts only (no text); sessions keep it only while
/// their frontend logs.
struct SessionLogRecord {
    var accept: WallTime
    var acceptAt: NIODeadline
    /// First byte of the request (http).
    var requestAt: NIODeadline?
    var requestWall: WallTime?
    /// Request head complete (http).
    var headAt: NIODeadline?
    var connectStart: NIODeadline?
    /// A server was assigned, after the queue if every server was full (`%Tw` ends here).
    var serverAssignedAt: NIODeadline?
    var connectedAt: NIODeadline?
    /// The request went to the server (http): the response time counts from here.
    var requestSentAt: NIODeadline?
    var responseAt: NIODeadline?
    var status = -1
    var bytesOut = 0
    var bytesIn = 0
    var backend: RuntimeBackend?
    var server: RuntimeServer?
    var retries = 0
    /// Gave up waiting in the backend's queue: HAProxy logs before it leaves the queue,
    /// so its `%bq` counts this request.
    var leftQueueOnTimeout = false
    /// `option redispatch` sent the request to another server: `%rc` gets a `+`.
    var redispatched = false
    /// `option logasap` wrote the line before the end: `%Ta`, `%Tt` and `%B` get a `+`
    /// (they are not final), and the end writes nothing more.
    var loggedEarly = false
    /// HAProxy's two termination characters: who ended the session and in which state.
    var cause = UInt8(ascii: "-")
    var state = UInt8(ascii: "-")
    /// Cookie persistence's two characters, the 3rd and 4th of `%tsc` (issue 15).
    var persistenceFlags = (UInt8(ascii: "-"), UInt8(ascii: "-"))
    /// The request line (a slice of the request's bytes, not a copy), nil for a bad request.
    var requestLine: ByteBuffer?
    var client: SocketAddress?
    var local: SocketAddress?
    /// The client connection's TLS, nil when plain (see `TrafficLog.tlsFacts`).
    var tls: TLSLogFacts?
    /// The connection's variables and captures, for `%[var(…)]`, `%hr`, `%ID` (issue 15).
    var values: StreamValues?
    /// The connection's stick counters, for `%[sc_*]` (issue 15).
    var stickTrackers: StickTrackers?
    /// The session's own server connection is still counted when the line is written:
    /// left out of `%bc`/`%sc`, as HAProxy counts after releasing it.
    var holdsServerSlot = false
    /// `set-log-level` (Runtime/RuleEffects.swift): this line's level, or none (`silent`).
    var level: LogLevelChoice? = nil

    init(client: SocketAddress?, local: SocketAddress?) {
        accept = .now()
        acceptAt = .now()
        self.client = client
        self.local = local
    }

    /// Starts the record of the next request on a kept-alive connection.
    mutating func nextRequest() {
        let client = self.client, local = self.local, tls = self.tls, values = self.values
        let trackers = stickTrackers
        self = SessionLogRecord(client: client, local: local)
        self.tls = tls
        self.values = values
        self.stickTrackers = trackers
    }

    mutating func terminate(_ cause: Character, _ state: Character) {
        self.cause = cause.asciiValue ?? UInt8(ascii: "-")
        self.state = state.asciiValue ?? UInt8(ascii: "-")
    }

    /// The request line from a request head's bytes (up to the first CR or LF).
    mutating func captureRequestLine(_ head: ByteBuffer, start: Int = 0) {
        let view = head.readableBytesView.dropFirst(start)
        let end = view.firstIndex { $0 == 13 || $0 == 10 } ?? view.endIndex
        requestLine = head.getSlice(at: head.readerIndex + start, length: end - view.startIndex)
    }
}


extension SessionLogRecord {
    /// Records how getting a server connection ended: the retries, then the server and
    /// the time, or the termination flags HAProxy logs for each failure.
    mutating func noteConnect(_ result: Result<(SessionTransport, RuntimeServer), ConnectFailure>, attempts: Int) {
        retries = attempts
        switch result {
        case .success(let (_, server)):
            connectedAt = .now()
            self.server = server
        case .failure(.noServerAvailable):
            terminate("S", "C")
        case .failure(.exhausted(let error)):
            // `attempts` counts the failed attempts; the first was no retry (HAProxy logs
            // 3 when `retries 3` all failed).
            retries = max(0, attempts - 1)
            if let error = error as? ChannelError, case .connectTimeout = error {
                terminate("s", "C")
            } else {
                terminate("S", "C")
            }
        case .failure(.queueTimeout):
            leftQueueOnTimeout = true
            terminate("s", "Q")
        }
    }
}

/// A frontend's traffic log: its format, its loggers and `option dontlognull`.
public final class TrafficLog: @unchecked Sendable {
    let logger: ProxyLogger
    let format: LogFormat
    /// No `option tcplog`/`httplog`/`log-format`: HAProxy's old "Connect from" line at accept.
    let connectLineOnly: Bool
    let dontLogNull: Bool
    /// `option dontlog-normal` (issue 15): only sessions with an error are logged.
    var dontLogNormal = false
    /// `option logasap` (issue 15): sessions log early (`SessionLogRecord.loggedEarly`).
    var logAsap = false
    let frontend: RuntimeFrontend
    let globalGate: AdmissionGate
    let isHTTP: Bool
    let needsTLSDetails: Bool

    init(logger: ProxyLogger, format: LogFormat, connectLineOnly: Bool, dontLogNull: Bool,
         frontend: RuntimeFrontend, globalGate: AdmissionGate) {
        self.logger = logger
        self.format = format
        self.connectLineOnly = connectLineOnly
        self.dontLogNull = dontLogNull
        self.frontend = frontend
        self.globalGate = globalGate
        self.isHTTP = frontend.mode == .http
        self.needsTLSDetails = format.usesTLSDetails
        self.samples = format.nodes.compactMap { node in
            if case .sample(let expression, _) = node { return CompiledSample(expression) }
            return nil
        }
    }

    /// The `%[...]` expressions of the format proxyd evaluates at log time (variables and
    /// captures), in the order of their nodes.
    let samples: [CompiledSample]

    /// The TLS facts of a client channel for its records: nil when plain; texts only when
    /// the format writes them.
    func tlsFacts(of channel: Channel) -> TLSLogFacts? {
        tlsFacts(of: TLSHandler.find(in: channel)?.engine)
    }

    func tlsFacts(of engine: TLSEngine?) -> TLSLogFacts? {
        engine.map { TLSLogFacts(engine: $0, details: needsTLSDetails) }
    }

    /// `Connect from 10.0.1.2:33312 to 10.0.3.31:8012 (www/HTTP)`, at accept, for proxies
    /// that log without a format.
    func connected(client: SocketAddress?, local: SocketAddress?) {
        guard connectLineOnly else { return }
        var line: [UInt8] = []
        line.append("Connect from ")
        appendAddress(&line, client, port: true)
        line.append(" to ")
        appendAddress(&line, local, port: true)
        line.append(" (")
        line.append(frontend.name)
        line.append(isHTTP ? "/HTTP)" : "/TCP)")
        logger.log(.info, line)
    }

    /// Emits the line of a finished session or request.
    func emit(_ record: SessionLogRecord) {
        guard !connectLineOnly else { return }
        // An early line (logasap) cannot know yet whether the session stays empty.
        if dontLogNull, record.bytesIn == 0, record.requestLine == nil, !record.loggedEarly { return }
        if dontLogNormal, !record.endedInError { return }
        var level = LogTarget.Level.info
        switch record.level {
        case .silent?: return
        case .level(let chosen)?: level = chosen
        case nil: break
        }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        render(record, end: .now(), into: &line)
        logger.log(level, line)
    }

    // MARK: rendering

    private static func ms(_ from: NIODeadline?, _ to: NIODeadline?) -> Int {
        guard let from, let to else { return -1 }
        return max(0, Int((to - from).nanoseconds / 1_000_000))
    }

    func render(_ r: SessionLogRecord, end: NIODeadline, into line: inout [UInt8]) {
        let start = r.requestAt ?? r.acceptAt
        let tR = Self.ms(r.requestAt, r.headAt)
        let tw: Int  // the queue: until a server was assigned, or the end if never
        if let assigned = r.serverAssignedAt {
            tw = Self.ms(r.connectStart ?? assigned, assigned)
        } else if r.connectStart == nil {
            tw = -1
        } else {
            tw = r.connectedAt != nil ? 0 : Self.ms(r.connectStart, end)  // pooled, or queue timeout
        }
        let tc = Self.ms(r.serverAssignedAt ?? r.connectStart, r.connectedAt)
        let tr = Self.ms(r.requestSentAt, r.responseAt)
        let ta = Self.ms(start, end)
        let tt = Self.ms(r.acceptAt, end)
        let ti = r.requestAt == nil ? 0 : Self.ms(r.acceptAt, r.requestAt)
        let tq = tR < 0 ? -1 : ti + tR
        var lastWasSpace = true
        var sampleIndex = 0
        var logFacts: LogTimeFacts?
        for node in format.nodes {
            switch node {
            case .literal(let bytes):
                line.append(contentsOf: bytes)
                lastWasSpace = false
            case .separator:
                if !lastWasSpace { line.append(UInt8(ascii: " ")) }
                lastWasSpace = true
            case .variable(let variable, let quoted):
                let before = line.count
                if quoted { line.append(UInt8(ascii: "\"")) }
                switch variable {
                case .ci: appendAddress(&line, r.client, port: false)
                case .cp: line.appendDecimal(r.client?.port ?? 0)
                case .fi: appendAddress(&line, r.local, port: false)
                case .fp: line.appendDecimal(r.local?.port ?? 0)
                case .bi, .bp: line.append(variable == .bi ? "-" : "0")
                case .si:
                    // A server at `0.0.0.0`/port 0 logs where it went (the destination).
                    if let server = r.server { appendAddress(&line, server.connectAddress(destination: r.local), port: false) } else { line.append("-") }
                case .sp:
                    // No server: `-`, as HAProxy writes it.
                    if let server = r.server { line.appendDecimal(server.connectAddress(destination: r.local).port ?? 0) } else { line.append("-") }
                case .t: appendDate(&line, r.accept, gmt: false, milliseconds: true)
                case .tr: appendDate(&line, r.requestWall ?? r.accept, gmt: false, milliseconds: true)
                case .trg, .T: appendDate(&line, variable == .T ? r.accept : (r.requestWall ?? r.accept), gmt: true, milliseconds: false)
                case .trl, .Tl: appendDate(&line, variable == .Tl ? r.accept : (r.requestWall ?? r.accept), gmt: false, milliseconds: false)
                case .ms: line.appendPadded(r.accept.microseconds / 1000, width: 3)
                case .ft:
                    // HAProxy marks a connection that came over TLS with `~`.
                    line.append(frontend.name)
                    if r.tls != nil { line.append("~") }
                case .f: line.append(frontend.name)
                case .b: line.append(r.backend?.name ?? frontend.name)
                case .s: line.append(r.server?.name ?? "<NOSRV>")
                case .H: line.append(logger.hostname ?? RuntimeBuilder.systemHostname())
                case .pid: line.appendDecimal(logger.pid)
                case .TR: line.appendDecimal(tR)
                case .Tw: line.appendDecimal(tw)
                case .Tc: line.appendDecimal(tc)
                case .Tr: line.appendDecimal(tr)
                case .Ta:
                    if r.loggedEarly { line.append("+") }
                    line.appendDecimal(ta)
                case .Tt:
                    if r.loggedEarly { line.append("+") }
                    line.appendDecimal(tt)
                case .Th: line.appendDecimal(0)
                case .Ti: line.appendDecimal(ti)
                case .Tq: line.appendDecimal(tq)
                case .Td:
                    line.appendDecimal(tq < 0 || tw < 0 || tc < 0 || tr < 0 ? -1 : max(0, tt - (tq + tw + tc + tr)))
                case .ST: line.appendDecimal(r.status)
                case .B:
                    if r.loggedEarly { line.append("+") }
                    line.appendDecimal(r.bytesOut)
                case .U: line.appendDecimal(r.bytesIn)
                case .CC, .CS:
                    // `capture cookie` (issue 15); quoted, an empty one is `""`, as in HAProxy.
                    if let cookie = variable == .CC ? r.values?.requestCookie : r.values?.responseCookie {
                        line.append(contentsOf: cookie)
                    } else if !quoted {
                        line.append("-")
                    }
                case .ts, .tsc:
                    line.append(r.cause)
                    line.append(r.state)
                    if variable == .tsc {
                        line.append(r.persistenceFlags.0)
                        line.append(r.persistenceFlags.1)
                    }
                case .ac: line.appendDecimal(globalGate.count)
                case .fc: line.appendDecimal(frontend.gate.count)
                case .bc:
                    let all = r.backend?.servers.reduce(0) { $0 + $1.currentConnections.load(ordering: .relaxed) } ?? 0
                    line.appendDecimal(max(0, all - (r.holdsServerSlot ? 1 : 0)))
                case .sc:
                    let current = r.server?.currentConnections.load(ordering: .relaxed) ?? 0
                    line.appendDecimal(max(0, current - (r.holdsServerSlot ? 1 : 0)))
                case .rc:
                    if r.redispatched { line.append("+") }
                    line.appendDecimal(r.retries)
                case .sq: line.appendDecimal(0)
                case .bq: line.appendDecimal((r.backend?.waiting.load(ordering: .relaxed) ?? 0) + (r.leftQueueOnTimeout ? 1 : 0))
                case .hr, .hrl, .hs, .hsl:
                    // Captures (issue 15). None declared, or no request yet: nothing, not
                    // even the quotes, and no separator after it.
                    let values = r.values?.hadTransaction == true ? r.values : nil
                    let captures = (variable == .hr || variable == .hrl ? values?.requestCaptures : values?.responseCaptures) ?? []
                    if captures.isEmpty, quoted { line.removeLast(); continue }
                    HeaderCaptures.appendLog(captures, braces: variable == .hr || variable == .hs, to: &line)
                case .r:
                    if let request = r.requestLine {
                        line.append(contentsOf: request.readableBytesView)
                    } else {
                        line.append("<BADREQ>")
                    }
                case .HM, .HU, .HP, .HQ, .HV:
                    appendRequestPart(&line, r.requestLine, variable)
                case .sslv: line.append(r.tls?.version ?? "-")
                case .sslc: line.append(r.tls?.cipher ?? "-")
                case .ID:
                    if let id = r.values?.uniqueID { line.append(contentsOf: id) } else { line.append("-") }
                case .rt, .lc, .unsupported:
                    line.append("-")
                }
                if quoted { line.append(UInt8(ascii: "\"")) }
                // Only captures that wrote nothing leave the next separator out (HAProxy
                // skips them whole); an empty `%HQ` still counts as written.
                if line.count != before || !variable.isCapture { lastWasSpace = false }
            case .sample(_, let quoted):
                if logFacts == nil { logFacts = logTimeFacts(r) }
                let text = samples[sampleIndex].evaluate(atLog: logFacts!, values: r.values)?.text ?? []
                sampleIndex += 1
                // HAProxy writes `-` for a sample with no value or an empty one, `""` quoted.
                if quoted {
                    line.append(UInt8(ascii: "\""))
                    line.append(contentsOf: text)
                    line.append(UInt8(ascii: "\""))
                } else {
                    if text.isEmpty { line.append("-") } else { line.append(contentsOf: text) }
                }
                lastWasSpace = false
            case .fetch(let fetch, let hex, let quoted):
                LogFetch.append(fetch.value(r.tls), hex: hex, quoted: quoted, to: &line)
                lastWasSpace = false
            }
        }
    }

    /// What `%[...]` reads of the record (Runtime/SampleEvaluator.swift). An http request
    /// that never parsed has no stream in HAProxy (its session logs it): no backend, server,
    /// method or status then.
    func logTimeFacts(_ r: SessionLogRecord) -> LogTimeFacts {
        var facts = LogTimeFacts(client: r.client, local: r.local, frontendName: frontend.name,
                                 isTLS: r.tls != nil, tlsServerName: r.tls?.serverName, stickTrackers: r.stickTrackers)
        if isHTTP, r.requestLine == nil { return facts }
        facts.backendName = r.backend?.name ?? frontend.name
        facts.serverName = r.server?.name
        facts.serverID = r.server?.id
        if r.responseAt != nil, r.status >= 0 { facts.serverStatus = r.status }
        if let request = r.requestLine {
            let method = Array(request.readableBytesView.prefix { $0 != UInt8(ascii: " ") })
            if LogTimeFacts.knownMethods.contains(method) { facts.method = method }
        }
        return facts
    }

    private func appendRequestPart(_ line: inout [UInt8], _ request: ByteBuffer?, _ v: LogVariable) {
        // No request line (a bad or empty request): HAProxy writes `<BADREQ>` for each part.
        guard let request else { line.append("<BADREQ>"); return }
        let words = Array(request.readableBytesView).split(separator: UInt8(ascii: " "), omittingEmptySubsequences: true)
        switch v {
        case .HM: line.append(contentsOf: words.first ?? [])
        case .HV: line.append(contentsOf: words.count > 2 ? words[2] : [])
        case .HU: line.append(contentsOf: words.count > 1 ? words[1] : [])
        case .HP:
            let uri = words.count > 1 ? Array(words[1]) : []
            line.append(contentsOf: uri.prefix { $0 != UInt8(ascii: "?") })
        case .HQ:
            let uri = words.count > 1 ? Array(words[1]) : []
            if let q = uri.firstIndex(of: UInt8(ascii: "?")) { line.append(contentsOf: uri[q...]) }
        default: break
        }
    }

    func appendAddress(_ line: inout [UInt8], _ address: SocketAddress?, port: Bool) {
        guard let address else { line.append("-"); return }
        switch address {
        case .unixDomainSocket:
            line.append("unix")
        default:
            line.append(address.ipAddress ?? "-")
            if port { line.append(":"); line.appendDecimal(address.port ?? 0) }
        }
    }

    /// `25/Nov/2026:09:29:29.362` (local) or `25/Nov/2026:09:29:29 +0000`.
    func appendDate(_ line: inout [UInt8], _ time: WallTime, gmt: Bool, milliseconds: Bool) {
        var t = time_t(time.seconds)
        var parts = tm()
        if gmt { gmtime_r(&t, &parts) } else { localtime_r(&t, &parts) }
        line.appendPadded(Int(parts.tm_mday), width: 2); line.append("/")
        line.append(WallTime.months[Int(parts.tm_mon)]); line.append("/")
        line.appendDecimal(Int(parts.tm_year) + 1900); line.append(":")
        line.appendPadded(Int(parts.tm_hour), width: 2); line.append(":")
        line.appendPadded(Int(parts.tm_min), width: 2); line.append(":")
        line.appendPadded(Int(parts.tm_sec), width: 2)
        if milliseconds {
            line.append("."); line.appendPadded(time.microseconds / 1000, width: 3)
        } else {
            let offset = gmt ? 0 : Int(parts.tm_gmtoff)
            line.append(offset < 0 ? " -" : " +")
            line.appendPadded(abs(offset) / 3600, width: 2)
            line.appendPadded(abs(offset) % 3600 / 60, width: 2)
        }
    }
}

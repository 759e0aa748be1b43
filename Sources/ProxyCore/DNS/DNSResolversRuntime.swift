import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// One `resolvers` section at run time: a UDP socket (or, for `tcp@`, a TCP connection:
/// DNSStreamConnection) per nameserver on one NIO event loop (the control thread's), the
/// shared resolutions, their timers, and HAProxy's counters. Every query goes to every nameserver; the first good answer wins, later
/// ones count as `outdated`. A bad answer is dropped and counted, never trusted.
final class DNSResolversRuntime: @unchecked Sendable {
    let settings: ResolversSettings
    let loop: EventLoop
    weak var runtime: ProxyRuntime?
    /// Read by `show resolvers` on the control thread, written on `loop`.
    private let counters: NIOLockedValueBox<[DNSNameserverCounters]>
    // Loop-confined from here on.
    private var channels: [Channel?]
    /// The `tcp@` nameservers' connections (nil for UDP ones).
    private var streams: [DNSStreamConnection?]
    private var resolutions: [String: DNSResolution] = [:]
    private var ordered: [DNSResolution] = []
    private var pending: [UInt16: DNSResolution] = [:]
    /// Addresses of SRV targets found by their own resolutions, by resolution key.
    private var serviceHostAddresses: [String: IPAddress] = [:]
    /// One timer for the section, set to when the next name is due.
    private var nextRound: Scheduled<Void>?
    private var nextRoundAt: Int?
    private var started = false
    private var stopped = false
    private var random = SystemRandomNumberGenerator()

    init(settings: ResolversSettings, loop: EventLoop) {
        self.settings = settings
        self.loop = loop
        self.counters = NIOLockedValueBox(Array(repeating: DNSNameserverCounters(), count: settings.nameservers.count))
        self.channels = Array(repeating: nil, count: settings.nameservers.count)
        self.streams = Array(repeating: nil, count: settings.nameservers.count)
    }

    var countersSnapshot: [DNSNameserverCounters] { counters.withLockedValue { $0 } }

    private func count(_ nameserver: Int, _ change: (inout DNSNameserverCounters) -> Void) {
        counters.withLockedValue { change(&$0[nameserver]) }
    }

    private func countAll(_ change: (inout DNSNameserverCounters) -> Void) {
        counters.withLockedValue { all in for i in all.indices { change(&all[i]) } }
    }

    // MARK: - servers

    /// Adds a server to the resolution of `hostname` (made if new). Before `start`, or
    /// on `loop`.
    func follow(_ binding: DNSResolution.Binding, hostname: String, now: Int) -> DNSResolution {
        let name = DNSResolution.normalised(hostname)
        let prefer = binding.resolution.prefer
        let kind: DNSResolution.Kind = name.hasPrefix("_") ? .service(prefer: prefer) : .address(prefer: prefer)
        let key = DNSResolution.key(name, kind)
        let resolution = resolutions[key] ?? {
            let made = DNSResolution(hostname: name, kind: kind, now: now)
            resolutions[key] = made
            ordered.append(made)
            return made
        }()
        resolution.bindings.append(binding)
        return resolution
    }

    /// `set server B/S fqdn NAME`: the server follows another name from now on, and that
    /// name is asked at once.
    func refollow(_ server: RuntimeServer, hostname: String) {
        loop.execute { [self] in
            var moved: DNSResolution.Binding?
            for resolution in ordered {
                if let i = resolution.bindings.firstIndex(where: { $0.server === server }) {
                    moved = resolution.bindings.remove(at: i)
                }
            }
            // A name nobody follows any more is forgotten (not an SRV target's own).
            ordered.removeAll { resolution in
                guard resolution.bindings.isEmpty, !resolution.feedsServices else { return false }
                resolutions[DNSResolution.key(resolution.hostname, resolution.kind)] = nil
                if let id = resolution.queryID { pending[id] = nil }
                return true
            }
            guard let moved else { return }
            let resolution = follow(moved, hostname: hostname, now: ProcessClock.milliseconds)
            if started, resolution.queryID == nil {
                resolution.lastRound = nil  // due now
                scheduleRounds()
            }
        }
    }

    // MARK: - life

    /// Opens the sockets (only for a section some server uses) and asks every name now,
    /// then at HAProxy's pace (`scheduleRounds`).
    func start() {
        loop.execute { [self] in
            guard !started, !stopped, !ordered.isEmpty else { return }
            started = true
            for (index, nameserver) in settings.nameservers.enumerated() {
                if nameserver.overTCP {
                    guard let address = try? SocketAddress(ipAddress: nameserver.address.description, port: nameserver.port)
                    else { continue }
                    streams[index] = DNSStreamConnection(
                        loop: loop, address: address,
                        onMessage: { [self] bytes in received(bytes, from: index, source: address) },
                        onSendError: { [self] in count(index) { $0.sendErrors += 1 } })
                    continue
                }
                let local = nameserver.address.isIPv6 ? "::" : "0.0.0.0"
                DatagramBootstrap(group: loop)
                    // Room for any datagram: a larger one than announced counts as too_big.
                    .channelOption(ChannelOptions.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: 65536))
                    .channelInitializer { [self] channel in
                        channel.pipeline.addHandler(DNSAnswerHandler(section: self, nameserver: index))
                    }
                    .bind(host: local, port: 0)
                    .whenComplete { [self] result in
                        switch result {
                        case let .success(channel):
                            if stopped { channel.close(promise: nil) } else { channels[index] = channel }
                        case .failure:
                            count(index) { $0.sendErrors += 1 }
                        }
                    }
            }
            // The sockets open within this loop turn; the first round follows them.
            loop.scheduleTask(in: .milliseconds(1)) { [self] in scheduleRounds() }
        }
    }

    /// Asks every name that is due and sets the timer for the next one. A name is asked
    /// again `hold valid` after a round that ended valid, `timeout resolve` after any other
    /// (HAProxy's pace), counted from the round's start. The timer is exact, as HAProxy's
    /// are: a coarse tick would keep records past `hold obsolete` whenever it equals the pace.
    private func scheduleRounds() {
        guard started, !stopped else { return }
        let now = ProcessClock.milliseconds
        var earliest = Int.max
        for resolution in ordered where resolution.queryID == nil {
            let pause = resolution.lastWasValid ? settings.hold.valid : settings.timeoutResolve
            let due = resolution.lastRound.map { $0 + max(1, pause) } ?? now
            if due <= now { ask(resolution) } else { earliest = min(earliest, due) }
        }
        guard earliest != Int.max, nextRoundAt.map({ earliest < $0 }) ?? true else { return }
        nextRound?.cancel()
        nextRoundAt = earliest
        nextRound = loop.scheduleTask(in: .milliseconds(Int64(earliest - now))) { [self] in
            nextRoundAt = nil
            scheduleRounds()
        }
    }

    func stop() {
        loop.execute { [self] in
            stopped = true
            nextRound?.cancel()
            for channel in channels { channel?.close(promise: nil) }
            channels = channels.map { _ in nil }
            for stream in streams { stream?.close() }
        }
    }

    // MARK: - queries

    private func ask(_ resolution: DNSResolution) {
        // The pace counts from when a round starts, as HAProxy's `last_resolution` does.
        resolution.lastRound = ProcessClock.milliseconds
        resolution.queryType = DNSResolution.firstType(resolution.kind)
        resolution.triesLeft = max(1, settings.resolveRetries)
        send(resolution)
    }

    private func send(_ resolution: DNSResolution) {
        guard !stopped else { return }
        if let old = resolution.queryID { pending[old] = nil }
        var id: UInt16
        repeat { id = UInt16.random(in: 0...UInt16.max, using: &random) } while pending[id] != nil
        resolution.queryID = id
        resolution.triesLeft -= 1
        resolution.answersAwaited = 0
        resolution.firstFailure = nil
        pending[id] = resolution
        let bytes = DNSCodec.query(id: id, name: resolution.hostname, type: resolution.queryType,
                                   payloadSize: settings.acceptedPayloadSize)
        for (index, nameserver) in settings.nameservers.enumerated() {
            if let stream = streams[index] {
                count(index) { $0.sent += 1 }
                resolution.answersAwaited += 1
                stream.send(bytes)
                continue
            }
            guard let channel = channels[index],
                  let address = try? SocketAddress(ipAddress: nameserver.address.description, port: nameserver.port) else {
                count(index) { $0.sendErrors += 1 }
                continue
            }
            count(index) { $0.sent += 1 }
            resolution.answersAwaited += 1
            let envelope = AddressedEnvelope(remoteAddress: address, data: channel.allocator.buffer(bytes: bytes))
            channel.writeAndFlush(envelope).whenFailure { [self] _ in count(index) { $0.sendErrors += 1 } }
        }
        loop.scheduleTask(in: .milliseconds(Int64(max(1, settings.timeoutRetry)))) { [self] in
            guard resolution.queryID == id else { return }
            if resolution.triesLeft > 0 {
                send(resolution)
            } else {
                countAll { $0.timeout += 1 }
                finish(resolution, .timeout, answeredBy: nil)
            }
        }
    }

    /// An answer from nameserver `index`: checked against the query it claims to answer,
    /// then applied. Anything that does not fit is dropped and counted.
    func received(_ bytes: [UInt8], from index: Int, source: SocketAddress) {
        let nameserver = settings.nameservers[index]
        guard source.port == nameserver.port, source.ipAddress == nameserver.address.description
            || AddressParser.numericIP(source.ipAddress ?? "") == nameserver.address else {
            count(index) { $0.outdated += 1 }
            return
        }
        // Over TCP an answer is as long as its length says: no datagram size to keep to.
        if !nameserver.overTCP, bytes.count > max(512, settings.acceptedPayloadSize) {
            count(index) { $0.tooBig += 1 }
            return
        }
        let message: DNSMessage
        do {
            message = try DNSCodec.decode(bytes)
        } catch {
            count(index) { $0.invalid += 1 }
            return
        }
        guard message.isResponse, let resolution = pending[message.id] else {
            count(index) { $0.outdated += 1 }
            return
        }
        guard message.questions.count == 1, let question = message.questions.first,
              question.type == resolution.queryType.rawValue,
              DNSResolution.normalised(question.name) == resolution.hostname else {
            count(index) { $0.invalid += 1 }
            return
        }
        if message.truncated {
            // No TCP fallback: the retry timer asks again (a smaller answer may come).
            count(index) { $0.truncated += 1 }
            return
        }
        switch DNSResponseCode(rawValue: message.responseCode) {
        case .noError?: break
        case .nameError?:
            count(index) { $0.nx += 1 }
            failed(resolution, .nx, answeredBy: index)
            return
        case .refused?:
            count(index) { $0.refused += 1 }
            failed(resolution, .refused, answeredBy: index)
            return
        default:
            count(index) { $0.other += 1 }
            failed(resolution, .other, answeredBy: index)
            return
        }
        var sawCNAME = false
        let targets = resolution.targets(in: message, sawCNAME: &sawCNAME, known: serviceHostAddresses)
        if case let .service(prefer) = resolution.kind {
            resolution.lastServiceAnswer = message
            for host in resolution.missingHosts { resolveServiceHost(host, prefer: prefer) }
        }
        if sawCNAME { count(index) { $0.cname += 1 } }
        guard let targets else {
            count(index) { $0.anyError += 1 }
            // No record of the preferred family: ask for the other one before giving up.
            if case let .address(prefer) = resolution.kind, resolution.queryType == DNSResolution.firstType(resolution.kind) {
                resolution.queryType = prefer == .ipv6 ? .a : .aaaa
                resolution.triesLeft = max(1, settings.resolveRetries)
                send(resolution)
            } else {
                failed(resolution, .nx, answeredBy: index)
            }
            return
        }
        count(index) { $0.valid += 1 }
        finish(resolution, .valid(targets), answeredBy: index)
    }

    /// A nameserver answered with an error: the round ends with it only once every
    /// nameserver asked has answered (another may still give a valid answer).
    private func failed(_ resolution: DNSResolution, _ outcome: DNSResolution.Outcome, answeredBy index: Int) {
        resolution.answersAwaited -= 1
        if resolution.firstFailure == nil { resolution.firstFailure = outcome }
        guard resolution.answersAwaited <= 0 else { return }
        finish(resolution, resolution.firstFailure ?? outcome, answeredBy: index)
    }

    /// An SRV target without an address in the answer: its own resolution, asked now.
    private func resolveServiceHost(_ host: String, prefer: ResolveFamily) {
        let key = DNSResolution.key(host, .address(prefer: prefer))
        let resolution = resolutions[key] ?? {
            let made = DNSResolution(hostname: host, kind: .address(prefer: prefer), now: ProcessClock.milliseconds)
            resolutions[key] = made
            ordered.append(made)
            return made
        }()
        resolution.feedsServices = true
        if resolution.queryID == nil, resolution.lastRound == nil { scheduleRounds() }
    }

    /// A target's address found: the SRV answers that named it are read again.
    private func serviceHostResolved(_ resolution: DNSResolution) {
        guard let address = resolution.items.first?.target.address else { return }
        let key = DNSResolution.key(resolution.hostname, resolution.kind)
        guard serviceHostAddresses[key] != address else { return }
        serviceHostAddresses[key] = address
        guard let runtime else { return }
        for service in ordered where service.missingHosts.contains(resolution.hostname) {
            guard let message = service.lastServiceAnswer else { continue }
            var sawCNAME = false
            guard let targets = service.targets(in: message, sawCNAME: &sawCNAME, known: serviceHostAddresses) else { continue }
            service.absorb(.valid(targets), hold: settings.hold, now: ProcessClock.milliseconds)
            _ = DNSServerUpdates.apply(service, runtime: runtime)
        }
    }

    private func finish(_ resolution: DNSResolution, _ outcome: DNSResolution.Outcome, answeredBy index: Int?) {
        if let id = resolution.queryID { pending[id] = nil }
        resolution.queryID = nil
        if case .valid = outcome { resolution.lastWasValid = true } else { resolution.lastWasValid = false }
        resolution.absorb(outcome, hold: settings.hold, now: ProcessClock.milliseconds)
        if resolution.feedsServices, case .valid = outcome { serviceHostResolved(resolution) }
        defer { scheduleRounds() }
        guard let runtime else { return }
        if DNSServerUpdates.apply(resolution, runtime: runtime), let index {
            count(index) { $0.update += 1 }
        }
    }
}

/// Hands each datagram a nameserver's socket receives to its section.
private final class DNSAnswerHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    let section: DNSResolversRuntime
    let nameserver: Int

    init(section: DNSResolversRuntime, nameserver: Int) {
        self.section = section
        self.nameserver = nameserver
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        let bytes = envelope.data.getBytes(at: envelope.data.readerIndex, length: envelope.data.readableBytes) ?? []
        section.received(bytes, from: nameserver, source: envelope.remoteAddress)
    }

    /// ICMP errors (port unreachable) surface as read errors: the retry timer handles them.
    func errorCaught(context: ChannelHandlerContext, error: Error) {}
}

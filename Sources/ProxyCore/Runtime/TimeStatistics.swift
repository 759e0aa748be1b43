import Atomics
import NIOCore

/// HAProxy's `qtime`, `ctime`, `rtime` and `ttime` of a backend or a server (and their
/// `_max`): how long exchanges waited in the queue, took to connect, waited for the
/// response head and lasted in all, in milliseconds.
///
/// The averages are HAProxy's sliding sums: until 1024 exchanges were counted the sum
/// simply grows and the average is the sum over the count; after that each new sample
/// first takes away a 1024th of the sum. Samples come from sessions on every event loop:
/// relaxed atomics, as for the other statistics.
public final class TimeStatistics: @unchecked Sendable {
    public enum Kind: Int, CaseIterable {
        case queue, connect, response, total
    }

    /// HAProxy's TIME_STATS_SAMPLES.
    static let window = 1024

    private let sums = Kind.allCases.map { _ in ManagedAtomic<Int>(0) }
    private let maxima = Kind.allCases.map { _ in CounterCell() }

    public init() {}

    /// Adds one exchange; `counted` is how many exchanges the owner counted so far
    /// (requests in `mode http`, connections in `mode tcp`), this one included.
    func add(_ sample: ExchangeTimes.Sample, counted: Int) {
        let window = counted > Self.window ? Self.window : 0
        for kind in Kind.allCases {
            let value = sample[kind]
            let sum = sums[kind.rawValue]
            var old = sum.load(ordering: .relaxed)
            while true {
                let new = old - (window > 0 ? (old + window - 1) / window : 0) + value
                let (exchanged, seen) = sum.compareExchange(expected: old, desired: new, ordering: .relaxed)
                if exchanged { break }
                old = seen
            }
            maxima[kind.rawValue].raise(to: value)
        }
    }

    /// The average of the last (up to 1024) exchanges, 0 before the first.
    public func average(_ kind: Kind, counted: Int) -> Int {
        let samples = min(counted, Self.window)
        guard samples > 0 else { return 0 }
        return (sums[kind.rawValue].load(ordering: .relaxed) + samples - 1) / samples
    }

    public func maximum(_ kind: Kind) -> Int { maxima[kind.rawValue].current }

    /// `clear counters` resets the maxima; `clear counters all` the averages too.
    func clear(all: Bool) {
        for cell in maxima { cell.store(0) }
        if all { for sum in sums { sum.store(0, ordering: .relaxed) } }
    }
}

/// When one exchange (an HTTP request, or a whole TCP session) passed each step, for its
/// TimeStatistics. Clock reads are monotonic and cheap (vDSO).
struct ExchangeTimes {
    /// The exchange began: the connection's accept, or for a later request on a kept-alive
    /// connection the end of the one before (HAProxy's stream start).
    var start: NIODeadline
    /// The request head was complete (http).
    var requestComplete: NIODeadline?
    /// A server was assigned: the queue, if any, was left.
    var serverAssigned: NIODeadline?
    var connected: NIODeadline?
    /// The response head arrived (http).
    var responseHead: NIODeadline?

    init(start: NIODeadline = .now()) { self.start = start }

    /// The four figures in milliseconds, or nil for an exchange that HAProxy leaves out of
    /// its averages: one that never reached a server or, in http, never got an answer.
    func sample(http: Bool, end: NIODeadline = .now()) -> Sample? {
        guard let connected, let assigned = serverAssigned else { return nil }
        let connectAt = milliseconds(connected)
        let dataAt: Int
        if http {
            guard let responseHead else { return nil }
            dataAt = milliseconds(responseHead)
        } else {
            dataAt = connectAt
        }
        let queueAt = milliseconds(assigned)
        let requestAt = requestComplete.map(milliseconds) ?? 0
        return Sample(queue: max(0, queueAt - requestAt), connect: max(0, connectAt - queueAt),
                      response: max(0, dataAt - connectAt), total: milliseconds(end))
    }

    private func milliseconds(_ instant: NIODeadline) -> Int {
        Int((instant - start).nanoseconds / 1_000_000)
    }

    struct Sample {
        var queue, connect, response, total: Int

        subscript(kind: TimeStatistics.Kind) -> Int {
            switch kind {
            case .queue: return queue
            case .connect: return connect
            case .response: return response
            case .total: return total
            }
        }
    }
}

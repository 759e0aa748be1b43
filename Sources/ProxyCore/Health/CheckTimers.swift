import NIOCore

/// The check timers of one event loop, behind one NIO timer.
///
/// With one `scheduleTask` per check, 10,000 servers kept 10,000 tasks in the loop's timer
/// heap, and NIO cancels a task by searching that heap: the connect timeout the bootstrap
/// schedules and cancels for every check scanned all of them (about a third of the CPU of
/// 10,000 checks every 2 s). Here the runners wait in a heap of our own and the loop's heap
/// holds a single wake-up, so NIO's stays as small as the checks in flight.
///
/// Loop-confined: used on `loop` only. Nothing is cancelled: a runner ignores a timer it
/// has replaced (see `CheckRunner.schedule`).
final class CheckTimers {
    private struct Entry {
        var deadline: NIODeadline
        /// Entries due at the same time run in the order they were scheduled.
        var order: UInt64
        var action: () -> Void

        func precedes(_ other: Entry) -> Bool {
            deadline < other.deadline || (deadline == other.deadline && order < other.order)
        }
    }

    let loop: EventLoop
    private var heap: [Entry] = []
    private var nextOrder: UInt64 = 0
    private var wakeup: Scheduled<Void>?
    private var wakeupAt: NIODeadline?

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// Number of timers waiting (tests).
    var pending: Int { heap.count }

    /// Runs `action` on the loop in `milliseconds`.
    func schedule(in milliseconds: Int, _ action: @escaping () -> Void) {
        push(Entry(deadline: .now() + .milliseconds(Int64(milliseconds)), order: nextOrder, action: action))
        nextOrder &+= 1
        arm()
    }

    /// Makes the loop wake up for the earliest entry.
    private func arm() {
        guard let first = heap.first else { return }
        if let at = wakeupAt, at <= first.deadline { return }
        wakeup?.cancel()
        wakeupAt = first.deadline
        wakeup = loop.scheduleTask(deadline: first.deadline) { [self] in fire() }
    }

    /// At most this many checks start per wake-up: a backlog of due checks (after the loop
    /// was held up) waits for the next round rather than holding back the connects already
    /// answered, whose timeouts would otherwise run first and fail servers that replied.
    static let maxPerWakeup = 200

    private func fire() {
        wakeup = nil
        wakeupAt = nil
        let now = NIODeadline.now()
        var ran = 0
        while ran < Self.maxPerWakeup, let first = heap.first, first.deadline <= now {
            popFirst().action()
            ran += 1
        }
        arm()
    }

    // MARK: binary min-heap

    private func push(_ entry: Entry) {
        heap.append(entry)
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].precedes(heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private func popFirst() -> Entry {
        let first = heap[0]
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            var parent = 0
            while true {
                let left = 2 * parent + 1, right = left + 1
                var smallest = parent
                if left < heap.count, heap[left].precedes(heap[smallest]) { smallest = left }
                if right < heap.count, heap[right].precedes(heap[smallest]) { smallest = right }
                if smallest == parent { break }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }
        return first
    }
}

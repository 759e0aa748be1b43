/// The reactor's timers: a binary min-heap of deadlines whose entries know their own
/// position, so a cancel removes its entry in O(log n) instead of searching the heap
/// (NIO's loop searched linearly on cancel, a measured cost: docs/performance-log.md
/// step 2) and cancelled timers leave nothing behind to fill the heap.
///
/// Loop-thread only. Bodies live in a slot table reused through a free list, so a timer
/// costs no allocation here beyond the caller's closure.
struct ReactorTimers {
    /// What `schedule` returns and `cancel` takes. The generation makes a handle whose
    /// timer already ran (or was cancelled) harmless when its slot has been reused.
    struct Handle: Sendable, Equatable {
        fileprivate let slot: Int32
        fileprivate let generation: UInt32

        fileprivate init(slot: Int32, generation: UInt32) {
            self.slot = slot
            self.generation = generation
        }

        /// The handle in 63 bits (a scheduled callback's id; the top bit stays free).
        var packed: UInt64 { UInt64(UInt32(bitPattern: slot) & 0x7FFF_FFFF) << 32 | UInt64(generation) }

        init(packed: UInt64) {
            slot = Int32(bitPattern: UInt32(truncatingIfNeeded: packed >> 32) & 0x7FFF_FFFF)
            generation = UInt32(truncatingIfNeeded: packed)
        }
    }

    /// A timer's body: `true` = its deadline came, run it; `false` = the reactor is
    /// shutting down, fail whatever waits on it.
    typealias Body = (_ due: Bool) -> Void

    private struct Entry {
        var deadline: UInt64
        /// Scheduling order: equal deadlines run first come, first served.
        var sequence: UInt64
        var slot: Int32
    }

    private struct Slot {
        var body: Body?
        var heapIndex: Int = -1
        var generation: UInt32 = 0
    }

    private var heap = ContiguousArray<Entry>()
    private var slots = ContiguousArray<Slot>()
    private var freeSlots = ContiguousArray<Int32>()
    private(set) var nextSequence: UInt64 = 0

    var count: Int { heap.count }
    var isEmpty: Bool { heap.isEmpty }

    /// The earliest deadline (uptime nanoseconds), nil when no timer is pending.
    var earliestDeadline: UInt64? { heap.first?.deadline }

    mutating func schedule(deadline: UInt64, _ body: @escaping Body) -> Handle {
        let slot: Int32
        if let reused = freeSlots.popLast() {
            slot = reused
            slots[Int(slot)].body = body
        } else {
            slot = Int32(slots.count)
            slots.append(Slot(body: body))
        }
        let sequence = nextSequence
        nextSequence &+= 1
        heap.append(Entry(deadline: deadline, sequence: sequence, slot: slot))
        slots[Int(slot)].heapIndex = heap.count - 1
        siftUp(heap.count - 1)
        return Handle(slot: slot, generation: slots[Int(slot)].generation)
    }

    /// Removes the timer if it is still pending; returns whether it was.
    @discardableResult
    mutating func cancel(_ handle: Handle) -> Bool {
        let slotIndex = Int(handle.slot)
        guard slotIndex < slots.count, slots[slotIndex].generation == handle.generation,
              slots[slotIndex].body != nil else { return false }
        removeEntry(at: slots[slotIndex].heapIndex)
        return true
    }

    /// Removes the timer if it is still pending and gives its body back (a cancelled
    /// scheduled callback is told so through it).
    mutating func take(_ handle: Handle) -> Body? {
        let slotIndex = Int(handle.slot)
        guard slotIndex >= 0, slotIndex < slots.count, slots[slotIndex].generation == handle.generation,
              slots[slotIndex].body != nil else { return nil }
        return removeEntry(at: slots[slotIndex].heapIndex)
    }

    /// Takes the earliest timer if it is due at `now` and was scheduled before
    /// `sequenceLimit` (so a timer scheduled by a running timer waits for the next
    /// round of the loop instead of starving it).
    mutating func popDue(now: UInt64, sequenceLimit: UInt64) -> Body? {
        guard let first = heap.first, first.deadline <= now, first.sequence < sequenceLimit else {
            return nil
        }
        return removeEntry(at: 0)
    }

    /// Empties the heap, returning the bodies in deadline order (for shutdown).
    mutating func removeAll() -> ContiguousArray<Body> {
        var bodies = ContiguousArray<Body>()
        bodies.reserveCapacity(heap.count)
        while !heap.isEmpty { bodies.append(removeEntry(at: 0)) }
        return bodies
    }

    @discardableResult
    private mutating func removeEntry(at index: Int) -> Body {
        let slotIndex = Int(heap[index].slot)
        let body = slots[slotIndex].body!
        slots[slotIndex].body = nil
        slots[slotIndex].heapIndex = -1
        slots[slotIndex].generation &+= 1
        freeSlots.append(Int32(slotIndex))

        let last = heap.removeLast()
        if index < heap.count {
            heap[index] = last
            slots[Int(last.slot)].heapIndex = index
            if index > 0 && Self.precedes(heap[index], heap[(index - 1) / 2]) {
                siftUp(index)
            } else {
                siftDown(index)
            }
        }
        return body
    }

    private static func precedes(_ a: Entry, _ b: Entry) -> Bool {
        a.deadline != b.deadline ? a.deadline < b.deadline : a.sequence < b.sequence
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        let entry = heap[child]
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.precedes(entry, heap[parent]) else { break }
            heap[child] = heap[parent]
            slots[Int(heap[child].slot)].heapIndex = child
            child = parent
        }
        heap[child] = entry
        slots[Int(entry.slot)].heapIndex = child
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        let entry = heap[parent]
        let count = heap.count
        while true {
            var child = 2 * parent + 1
            guard child < count else { break }
            if child + 1 < count && Self.precedes(heap[child + 1], heap[child]) { child += 1 }
            guard Self.precedes(heap[child], entry) else { break }
            heap[parent] = heap[child]
            slots[Int(heap[parent].slot)].heapIndex = parent
            parent = child
        }
        heap[parent] = entry
        slots[Int(entry.slot)].heapIndex = parent
    }
}

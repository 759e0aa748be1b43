import NIOConcurrencyHelpers
import Shared

/// HAProxy's `freq_ctr` over a period: the count of the current period plus the previous
/// period's count weighted by how much of it is still inside the sliding window.
struct PeriodRate {
    var currentTick = 0
    var current = 0
    var previous = 0

    mutating func add(_ amount: Int, period: Int, now: Int) {
        if now - currentTick >= period {
            // A new period: the one that ended becomes the previous one, unless more than
            // one ended (then nothing of them is in the window).
            previous = now - currentTick >= 2 * period ? 0 : current
            current = 0
            currentTick += period
            if now - currentTick >= period { currentTick = now }
        }
        current += amount
    }

    func read(period: Int, now: Int) -> Int {
        var elapsed = now - currentTick
        var current = self.current, previous = self.previous
        if elapsed < 0 { elapsed = 0; previous = 0 }
        if elapsed >= period {
            previous = elapsed >= 2 * period ? 0 : current
            current = 0
            elapsed -= period
        }
        return (previous * (period - elapsed) + current * period) / period
    }
}

/// One key's data. Only touched under its table's lock.
final class StickEntry {
    let key: [UInt8]
    /// Only what the table stores, at the table's offsets: a count takes one slot, a rate
    /// three (its period's start, current and previous counts). A full table of a million
    /// entries holds a few hundred bytes per entry, not one slot per known data type.
    var data: [Int]
    /// Sessions and requests tracking it (`use=` in `show table`): never evicted then.
    var useCount = 0
    /// `server_key`: the stuck server's name.
    var serverKey: String?
    /// When it expires (process milliseconds); 0: never.
    var expiresAt = 0
    /// Waiting in its table's list of changes for the peers (Runtime/Peers/).
    var pendingPush = false
    /// The update id its last local change went out under (0: none since start): a
    /// peer that reconnects gets again what it did not acknowledge.
    var lastPushID: UInt32 = 0
    // The table's list from least to most recently used, for expiry and eviction. The
    // table's dictionary owns its entries; the links own nothing, so that freeing a
    // table of a million entries is no million-deep chain of releases.
    unowned(unsafe) var newer: StickEntry?
    unowned(unsafe) var older: StickEntry?

    init(key: [UInt8], slots: Int) {
        self.key = key
        data = [Int](repeating: 0, count: slots)
    }
}

/// A stick table at run time: entries by key, bounded by `size` (least recently used
/// unused entries go first), expiring `expire` after their last use. Shared by every
/// event loop: one lock per table, held for a few counter updates at a time.
final class StickTable: @unchecked Sendable {
    let definition: StickTableDefinition
    private let lock = NIOLock()
    private var entries: [[UInt8]: StickEntry] = [:]
    private unowned(unsafe) var oldest: StickEntry?
    private unowned(unsafe) var newest: StickEntry?

    var name: String { definition.name }

    /// Where each data type lives in an entry's `data`, nil when not stored.
    let offsets: [Int?]
    /// Each rate's period (milliseconds), by data type: read per request, so no dictionary.
    let periods: [Int]
    /// Set once, before any traffic, when a `peers` section replicates the table: local
    /// changes are then listed for the peers to push (Runtime/Peers/).
    var replicated = false
    /// While an update received from a peer is applied: it is not pushed back.
    var applyingRemote = false
    /// Told (under the lock) when the list of changes stops being empty: the peers push
    /// at once, as HAProxy's do, so that two proxies updating one entry a moment apart
    /// rarely overwrite each other.
    var changesWaiting: (() -> Void)?
    /// Entries changed locally since the peers last took the list (under the lock).
    private var pendingPushes: [StickEntry] = []
    private let slots: Int

    init(_ definition: StickTableDefinition) {
        self.definition = definition
        var offsets = [Int?](repeating: nil, count: StickDataType.allCases.count)
        var next = 0
        for type in definition.stores.keys.sorted() where type != .serverKey {
            offsets[type.rawValue] = next
            next += type.isRate ? 3 : 1
        }
        self.offsets = offsets
        periods = StickDataType.allCases.map { definition.stores[$0] ?? 0 }
        slots = next
    }

    /// Whether the table stores any of `types`: a session skips the lock when it does not.
    func storesAny(_ a: StickDataType, _ b: StickDataType) -> Bool {
        offsets[a.rawValue] != nil || offsets[b.rawValue] != nil
    }

    /// Runs `body` on the table's entries under its lock.
    func withLock<T>(_ body: () -> T) -> T {
        lock.withLock(body)
    }

    // MARK: Entries (call under the lock)

    /// The live entry for `key`, or nil (an expired unused one is removed).
    func existing(_ key: [UInt8], now: Int) -> StickEntry? {
        guard let entry = entries[key] else { return nil }
        if entry.useCount == 0, entry.expiresAt != 0, entry.expiresAt <= now {
            remove(entry)
            return nil
        }
        return entry
    }

    /// The entry for `key`, made when missing; nil when the table is full of entries in
    /// use (or `nopurge` keeps the old ones).
    func entry(_ key: [UInt8], now: Int) -> StickEntry? {
        if let entry = existing(key, now: now) { return entry }
        purgeExpired(now: now)
        if entries.count >= definition.size {
            guard !definition.noPurge, evictOldestUnused() else { return nil }
        }
        let entry = StickEntry(key: key, slots: slots)
        entries[key] = entry
        append(entry)
        touch(entry, now: now)
        return entry
    }

    /// Pushes the entry's expiry and makes it the most recently used.
    func touch(_ entry: StickEntry, now: Int) {
        if let expire = definition.expireMs { entry.expiresAt = now + expire }
        if replicated { changed(entry) }
        guard newest !== entry else { return }
        unlink(entry)
        append(entry)
    }

    func add(_ type: StickDataType, _ amount: Int, to entry: StickEntry, now: Int) {
        guard let offset = offsets[type.rawValue] else { return }
        if replicated { changed(entry) }
        if type.isRate {
            var rate = self.rate(at: offset, of: entry)
            rate.add(amount, period: periods[type.rawValue], now: now)
            store(rate, at: offset, in: entry)
        } else {
            entry.data[offset] += amount
        }
    }

    /// The stored value, nil when the table does not store it.
    func read(_ type: StickDataType, of entry: StickEntry, now: Int) -> Int? {
        guard let offset = offsets[type.rawValue] else { return nil }
        return type.isRate ? rate(at: offset, of: entry).read(period: periods[type.rawValue], now: now) : entry.data[offset]
    }

    /// `set table … data.TYPE V`: a rate restarts with V in its current period.
    func set(_ type: StickDataType, _ value: Int, of entry: StickEntry, now: Int) {
        guard let offset = offsets[type.rawValue] else { return }
        if replicated { changed(entry) }
        if type.isRate {
            store(PeriodRate(currentTick: now, current: value, previous: 0), at: offset, in: entry)
        } else {
            entry.data[offset] = value
        }
    }

    /// Lists a locally changed entry for the peers, once until they take the list.
    private func changed(_ entry: StickEntry) {
        guard !applyingRemote, !entry.pendingPush else { return }
        entry.pendingPush = true
        if pendingPushes.isEmpty { changesWaiting?() }
        pendingPushes.append(entry)
    }

    /// The entries changed locally since the last call (the peers push them).
    func takePendingPushes() -> [StickEntry] {
        let taken = pendingPushes
        pendingPushes.removeAll(keepingCapacity: true)
        for entry in taken { entry.pendingPush = false }
        return taken
    }

    /// A rate's raw state (its period's start, current and previous counts), for the peers.
    func rawRate(_ type: StickDataType, of entry: StickEntry) -> PeriodRate? {
        guard let offset = offsets[type.rawValue], type.isRate else { return nil }
        return rate(at: offset, of: entry)
    }

    /// Sets a rate's raw state, as a peer sent it.
    func setRawRate(_ type: StickDataType, _ rate: PeriodRate, of entry: StickEntry) {
        guard let offset = offsets[type.rawValue], type.isRate else { return }
        store(rate, at: offset, in: entry)
    }

    private func rate(at offset: Int, of entry: StickEntry) -> PeriodRate {
        PeriodRate(currentTick: entry.data[offset], current: entry.data[offset + 1], previous: entry.data[offset + 2])
    }

    private func store(_ rate: PeriodRate, at offset: Int, in entry: StickEntry) {
        entry.data[offset] = rate.currentTick
        entry.data[offset + 1] = rate.current
        entry.data[offset + 2] = rate.previous
    }

    var count: Int { entries.count }

    /// The number of entries once the expired unused ones at the head are gone.
    func liveCount(now: Int) -> Int {
        purgeExpired(now: now)
        return entries.count
    }

    /// The entries from least to most recently used, expired unused ones removed first.
    func liveEntries(now: Int) -> [StickEntry] {
        purgeExpired(now: now)
        var out: [StickEntry] = []
        var cursor = oldest
        while let entry = cursor {
            out.append(entry)
            cursor = entry.newer
        }
        return out
    }

    /// Removes unused entries (`clear table`); in-use ones stay, as in HAProxy.
    func removeUnused(_ entry: StickEntry) {
        if entry.useCount == 0 { remove(entry) }
    }

    private func purgeExpired(now: Int) {
        var cursor = oldest
        var scanned = 0
        // Entries are in expiry order; skipping a few in use is bounded.
        while let entry = cursor, scanned < 64 {
            cursor = entry.newer
            guard entry.expiresAt != 0, entry.expiresAt <= now else { break }
            if entry.useCount == 0 { remove(entry) } else { scanned += 1 }
        }
    }

    private func evictOldestUnused() -> Bool {
        var cursor = oldest
        while let entry = cursor {
            if entry.useCount == 0 {
                remove(entry)
                return true
            }
            cursor = entry.newer
        }
        return false
    }

    private func remove(_ entry: StickEntry) {
        unlink(entry)
        entries[entry.key] = nil
    }

    private func append(_ entry: StickEntry) {
        entry.older = newest
        entry.newer = nil
        newest?.newer = entry
        newest = entry
        if oldest == nil { oldest = entry }
    }

    private func unlink(_ entry: StickEntry) {
        if let older = entry.older { older.newer = entry.newer } else if oldest === entry { oldest = entry.newer }
        if let newer = entry.newer { newer.older = entry.older } else if newest === entry { newest = entry.older }
        entry.newer = nil
        entry.older = nil
    }
}

/// The tables of a configuration by name, in declaration order.
final class StickTableDirectory: @unchecked Sendable {
    let tables: [StickTable]
    private let byName: [String: StickTable]

    init(_ tables: [StickTable]) {
        self.tables = tables
        var byName: [String: StickTable] = [:]
        for table in tables { byName[table.name] = table }
        self.byName = byName
    }

    subscript(name: String) -> StickTable? { byName[name] }

    /// The directory of the runtime built last: conditions compiled after the build
    /// (stats pages, content inspection) resolve their tables in it.
    static let current = NIOLockedValueBox(StickTableDirectory([]))
}

import NIOConcurrencyHelpers
import Shared

/// An ACL pattern file (`acl … -f FILE`) as the runtime API sees it: read at start, shared
/// by every ACL that names it and by every thread, edited by `add acl`, `del acl`, `clear
/// acl` (Control/ACLCommands.swift). Each edit bumps a version; the ACLs recompile their
/// patterns from it on their next evaluation (LivePatterns).
final class ACLFile: @unchecked Sendable {
    let path: String
    let number: Int
    private let lock = NIOLock()
    private var entries: [(id: Int, text: String)] = []
    private var nextID = 0
    private var versionValue = 0

    init(path: String, texts: [String], number: Int) {
        self.path = path
        self.number = number
        for text in texts { append(text) }
    }

    private func append(_ text: String) {
        entries.append((nextID, text))
        nextID += 1
    }

    var snapshot: (version: Int, entries: [(id: Int, text: String)]) { lock.withLock { (versionValue, entries) } }
    var version: Int { lock.withLock { versionValue } }

    func add(_ text: String) { lock.withLock { append(text); versionValue += 1 } }
    func delete(_ text: String) -> Bool {
        lock.withLock {
            let before = entries.count
            entries.removeAll { $0.text == text }
            versionValue += 1
            return entries.count != before
        }
    }
    func clear() { lock.withLock { entries.removeAll(); versionValue += 1 } }
}

enum ACLFiles {
    static let current = NIOLockedValueBox<[String: ACLFile]>([:])

    /// The file at `path` (map files give their keys), read on first use; nil when it can no
    /// longer be read (the config check read it: an ACL without its lines then).
    static func load(_ path: String, asMap: Bool) -> ACLFile? {
        if let loaded = current.withLockedValue({ $0[path] }) { return loaded }
        guard case let .success(entries) = PatternFile.read(path, asMap: asMap) else { return nil }
        return current.withLockedValue { files in
            let file = ACLFile(path: path, texts: entries.map(\.key), number: files.count)
            files[path] = file
            return file
        }
    }

    static func named(_ name: String) -> ACLFile? {
        current.withLockedValue { files in
            if name.hasPrefix("#"), let number = Int(name.dropFirst()) { return files.values.first { $0.number == number } }
            return files[name]
        }
    }
}

/// One ACL criterion's patterns from its files, compiled for its match method, kept until
/// a file changes.
final class LivePatterns: @unchecked Sendable {
    let files: [ACLFile]
    let match: MatchMethod
    let ignoreCase: Bool
    private let lock = NIOLock()
    private var versions: [Int] = []
    private var compiled: [CompiledCriterion.Pattern] = []

    init(files: [ACLFile], match: MatchMethod, ignoreCase: Bool) {
        self.files = files
        self.match = match
        self.ignoreCase = ignoreCase
    }

    var current: [CompiledCriterion.Pattern] {
        lock.withLock {
            let now = files.map(\.version)
            if now != versions {
                versions = now
                compiled = files.flatMap { file in
                    file.snapshot.entries.compactMap { entry in
                        // A line `add acl` gave that does not fit the method is skipped (the
                        // command refused it already).
                        (try? PatternFile.pattern(entry.text, method: match, ignoreCase: ignoreCase, name: "").get())
                            .map { CompiledCriterion.compile($0, ignoreCase: ignoreCase) }
                    }
                }
            }
            return compiled
        }
    }
}

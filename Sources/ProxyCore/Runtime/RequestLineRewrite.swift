import Glibc
import Shared

/// Bytes a rule computed that later rules read in place of the head's own (the new target
/// after `set-path`, the new method after `set-method`). A class so that `RequestFacts`
/// can point into it while the `HeadRewrite` holding it lives.
final class RewrittenBytes {
    let storage: UnsafeMutableRawBufferPointer

    init(_ bytes: [UInt8]) {
        let storage = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 1)
        bytes.withUnsafeBytes { storage.copyMemory(from: $0) }
        self.storage = storage
        count = bytes.count
    }

    let count: Int
    var view: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(storage)[0..<count]) }

    deinit { storage.deallocate() }
}

/// A regex with capture groups, for the `replace-*` actions (the ACL regexes are compiled
/// without them: REG_NOSUB is faster when only a match matters).
final class CapturingRegex: @unchecked Sendable {
    private var regex = regex_t()

    init?(_ model: CompiledRegex) {
        var flags = REG_EXTENDED
        if model.caseInsensitive { flags |= REG_ICASE }
        guard regcomp(&regex, model.source, flags) == 0 else { return nil }
    }

    deinit { regfree(&regex) }

    /// When the regex matches `subject`, `template` with `\1`…`\9` replaced by the groups,
    /// `\xHH` by that byte and `\c` by `c` (HAProxy's `exp_replace`); nil otherwise.
    func replace(_ subject: UnsafeRawBufferPointer, with template: [UInt8]) -> [UInt8]? {
        var text = [CChar](repeating: 0, count: subject.count + 1)
        for i in 0..<subject.count { text[i] = CChar(bitPattern: subject[i]) }
        var groups = [regmatch_t](repeating: regmatch_t(), count: 10)
        guard regexec(&regex, text, groups.count, &groups, 0) == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < template.count {
            let c = template[i]
            guard c == UInt8(ascii: "\\"), i + 1 < template.count else { out.append(c); i += 1; continue }
            let next = template[i + 1]
            if next >= UInt8(ascii: "0") && next <= UInt8(ascii: "9") {
                let group = groups[Int(next - UInt8(ascii: "0"))]
                if group.rm_so >= 0 && group.rm_eo >= group.rm_so {
                    out += subject[Int(group.rm_so)..<Int(group.rm_eo)]
                }
                i += 2
            } else if next == UInt8(ascii: "x"), i + 3 < template.count,
                      let high = Self.hex(template[i + 2]), let low = Self.hex(template[i + 3]) {
                out.append(high << 4 | low)
                i += 4
            } else {
                out.append(next)
                i += 2
            }
        }
        return out
    }

    private static func hex(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

/// `set-method`, `set-path`, `set-query`, `set-uri`, `set-pathq` and `replace-path`,
/// `replace-pathq`, `replace-uri`, compiled. The new request line goes to the server in
/// place of the client's; the rules and `use_backend` after it read the new target, as in
/// HAProxy; the log keeps the request line as the client sent it (`%r`), as HAProxy's does.
struct CompiledRequestLineEdit {
    enum Kind {
        case method, path, query, uri, pathWithQuery
        case replace(RequestLineEdit.Part, CapturingRegex)
    }
    let kind: Kind
    let value: ValueTemplate

    init(_ kind: Kind, _ format: FormatString, at location: SourceLocation?) throws {
        self.kind = kind
        value = try ValueTemplate(format, at: location)
    }

    init(_ edit: RequestLineEdit, at location: SourceLocation?) throws {
        switch edit {
        case .setPathWithQuery(let format):
            try self.init(.pathWithQuery, format, at: location)
        case .replace(let part, let regex, let format):
            guard let capturing = CapturingRegex(regex) else {
                throw RuntimeBuilder.Failure(location: location, message: "regex '\(regex.source)' does not compile")
            }
            try self.init(.replace(part, capturing), format, at: location)
        }
    }

    /// Applies the edit to the request line `facts` reads (the client's, or one an earlier
    /// rule wrote) and records the new line in `rewrite`.
    func apply(_ facts: RequestFacts, rewrite: inout HeadRewrite) {
        let target = facts.target
        // `scheme://authority` of an absolute-form target stays for path edits.
        let pathStart = RequestFacts.pathStart(in: target)
        let question = target[pathStart...].firstIndex(of: UInt8(ascii: "?"))
        let rendered = value.render(facts)
        var newTarget: [UInt8]
        switch kind {
        case .method:
            rewrite.setRequestLine(method: rendered, target: Array(target), facts: facts)
            return
        case .uri:
            newTarget = rendered
        case .path:
            newTarget = Array(target[..<pathStart]) + rendered + (question.map { Array(target[$0...]) } ?? [])
        case .query:
            newTarget = Array(target[..<(question ?? target.count)]) + [UInt8(ascii: "?")] + rendered
        case .pathWithQuery:
            newTarget = Array(target[..<pathStart]) + rendered
        case .replace(let part, let regex):
            let range: Range<Int>
            switch part {
            case .uri: range = 0..<target.count
            case .path: range = pathStart..<(question ?? target.count)
            case .pathWithQuery: range = pathStart..<target.count
            }
            guard let replaced = regex.replace(UnsafeRawBufferPointer(rebasing: target[range]), with: rendered) else { return }
            newTarget = Array(target[..<range.lowerBound]) + replaced + Array(target[range.upperBound...])
        }
        rewrite.setRequestLine(method: rewrite.requestMethod.map { Array($0.view) } ?? Array(facts.slice(facts.head.methodSpan)),
                               target: newTarget, facts: facts)
    }
}

/// `replace-header NAME REGEX FMT` (each whole value) and `replace-value` (each
/// comma-separated value) on a request or a response, compiled. A second rule on the same
/// header reads what the first one wrote.
struct CompiledHeaderReplace {
    let lowerName: [UInt8]
    let regex: CapturingRegex
    let value: ValueTemplate
    let eachValue: Bool
    let inResponse: Bool

    init(name: String, regex: CompiledRegex, replacement: FormatString, eachValue: Bool, inResponse: Bool,
         at location: SourceLocation?) throws {
        guard let capturing = CapturingRegex(regex) else {
            throw RuntimeBuilder.Failure(location: location, message: "regex '\(regex.source)' does not compile")
        }
        lowerName = Array(name.lowercased().utf8)
        self.regex = capturing
        value = try ValueTemplate(replacement, at: location)
        self.eachValue = eachValue
        self.inResponse = inResponse
    }

    func apply(_ facts: RequestFacts, rewrite: inout HeadRewrite) {
        let (bytes, headers) = inResponse
            ? (facts.response?.bytes ?? facts.bytes, facts.response?.headers ?? [])
            : (facts.bytes, facts.headers)
        let template = value.render(facts)
        for field in headers {
            let named = lowerName.withUnsafeBufferPointer { field.name.equalsCaseInsensitive(lowercased: $0, in: bytes) }
            guard named else { continue }
            let name = Array(bytes[field.name.start..<field.name.end])
            // The value an earlier rewrite of this line left, or the one received.
            var current = Array(bytes[field.value.start..<field.value.end])
            if let earlier = rewrite.replaced[field.lineStart] {
                guard !earlier.isEmpty else { continue }  // removed
                current = Array(earlier.dropFirst(name.count + 2).dropLast(2))
            }
            guard let edited = eachValue ? replaceEach(current, template) : replaceWhole(current, template) else { continue }
            rewrite.replace(lineAt: field.lineStart, with: name + Array(": ".utf8) + edited + [0x0D, 0x0A])
        }
    }

    private func replaceWhole(_ value: [UInt8], _ template: [UInt8]) -> [UInt8]? {
        value.withUnsafeBytes { regex.replace($0, with: template) }
    }

    /// HAProxy splits at commas, matches each value without its surrounding blanks, and
    /// writes a replaced value without them (`a, b, a` with `^a$` → `A, b,A`).
    private func replaceEach(_ value: [UInt8], _ template: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        var changed = false
        for (index, element) in value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).enumerated() {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            var a = element.startIndex, b = element.endIndex
            while a < b, element[a] == 0x20 || element[a] == 0x09 { a += 1 }
            while b > a, element[b - 1] == 0x20 || element[b - 1] == 0x09 { b -= 1 }
            let trimmed = Array(element[a..<b])
            if let replaced = trimmed.withUnsafeBytes({ regex.replace($0, with: template) }) {
                out += replaced
                changed = true
            } else {
                out += element
            }
        }
        return changed ? out : nil
    }
}

extension HeadRewrite {
    /// Records a new request line (method, target, the client's version) and keeps the
    /// method and target for the rules that follow.
    mutating func setRequestLine(method: [UInt8], target: [UInt8], facts: RequestFacts) {
        requestMethod = RewrittenBytes(method)
        requestTarget = RewrittenBytes(target)
        startLine = method + [0x20] + target + [0x20] + Array(facts.slice(facts.head.versionSpan)) + [0x0D, 0x0A]
    }
}

extension HeadRewrite {
    /// `set-status CODE [reason TEXT]`: a new status line (the response's version, HAProxy's
    /// reason for the code unless one is given); the log shows the new status.
    mutating func setStatusLine(_ code: Int, reason: String?, facts: RequestFacts) {
        var version = Array("HTTP/1.1".utf8)
        if let response = facts.response, response.head.versionSpan.length > 0 {
            version = Array(UnsafeRawBufferPointer(rebasing: response.bytes[response.head.versionSpan.start..<response.head.versionSpan.end]))
        }
        startLine = version + Array(" \(code) \(reason ?? HTTPReasons.haproxy(code))\r\n".utf8)
        effects.status = code
    }
}

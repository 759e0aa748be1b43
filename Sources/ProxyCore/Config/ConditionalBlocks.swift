import Shared

/// HAProxy's preprocessor-like directives, per file (configuration.txt §2.4): `.if COND`,
/// `.elif COND`, `.else`, `.endif` keep or skip the lines that follow; `.notice`,
/// `.warning`, `.alert` and `.diag` print a message. Skipped lines are still split into
/// words (a quote left open there is an error, as in HAProxy) but not parsed, and the
/// directives inside them are not evaluated, only nested.
struct ConditionalBlocks {
    private struct Level {
        /// The lines around the block are kept.
        var outerActive: Bool
        /// A branch of this block was kept already.
        var taken: Bool
        /// The lines of the current branch are kept.
        var active: Bool
        var seenElse = false
    }

    private var levels: [Level] = []

    /// Lines are kept at this point of the file.
    var active: Bool { levels.last?.active ?? true }

    /// Handles a line whose first word starts with a dot. Errors that HAProxy treats as
    /// fatal to the file stop the load (`state.abort`).
    mutating func handle(_ state: ParserState, _ line: ConfigLine, diagnosticMode: Bool) {
        let kw = line.keyword
        let at = line.location
        func abort(_ message: String) {
            state.alertRaw("parsing [\(at)]: \(message)", at: at)
            state.abort = true
        }
        switch kw {
        case ".if":
            levels.append(Level(outerActive: active, taken: false, active: false))
            takeBranch(state, line)
        case ".elif":
            guard let level = levels.last else { return abort("lone '.elif' with no matching '.if'.") }
            guard !level.seenElse else { return abort("'.elif' after '.else' is not permitted.") }
            takeBranch(state, line)
        case ".else":
            guard var level = levels.popLast() else { return abort("lone '.else' with no matching '.if'.") }
            guard !level.seenElse else { return abort("'.else' after '.else' is not permitted.") }
            level.seenElse = true
            level.active = level.outerActive && !level.taken
            level.taken = true
            levels.append(level)
        case ".endif":
            guard levels.popLast() != nil else { return abort("lone '.endif' with no matching '.if'.") }
        case ".notice", ".warning", ".alert", ".diag":
            guard active else { return }
            if line.count > 2 {
                state.alertRaw("parsing [\(at)]: Unexpected argument '\(line[2])' for '\(kw)'. Use quotes if the message should contain spaces.",
                               at: at)
                state.fileHasErrors = true
                return
            }
            let text = "parsing [\(at)]: '\(line[1])'."
            switch kw {
            case ".notice": state.diagnostics.append(Diagnostic(.notice, text, location: at))
            case ".warning": state.warningRaw(text, at: at)
            case ".alert": abort("'\(line[1])'.")
            default: if diagnosticMode { state.diagnostics.append(Diagnostic(.diag, text, location: at)) }
            }
        default:
            guard active else { return }
            state.alertRaw("parsing [\(at)]: unknown directive '\(kw)'.", at: at)
            state.fileHasErrors = true
        }
    }

    /// An `.if` or `.elif` branch of the innermost block: kept when the lines around the
    /// block are, no earlier branch was, and its condition holds (evaluated only then).
    private mutating func takeBranch(_ state: ParserState, _ line: ConfigLine) {
        var level = levels.removeLast()
        level.active = false
        if level.outerActive && !level.taken, let value = evaluate(state, line) {
            level.active = value
            level.taken = value
        }
        levels.append(level)
    }

    /// At the end of a file: an `.if` left open stops the load. HAProxy names the file's
    /// last line, not the `.if`.
    func finish(_ state: ParserState, lastLine: SourceLocation) {
        guard !levels.isEmpty else { return }
        state.alertRaw("parsing [\(lastLine)]: non-terminated '.if' block.", at: lastLine)
        state.abort = true
    }

    /// The condition of an `.if`/`.elif` line (its words joined by a space, as HAProxy
    /// reads them); nil after an error, which stops the load.
    private func evaluate(_ state: ParserState, _ line: ConfigLine) -> Bool? {
        let text = line.words.dropFirst().joined(separator: " ")
        switch ConfigCondition.evaluate(text, environment: state.environment) {
        case .success(let value):
            return value
        case .failure(let failure):
            let echo = "  \(line.keyword) \(text)"
            let caret = String(repeating: " ", count: 2 + line.keyword.count + failure.position) + "^"
            state.alertRaw("parsing [\(line.location)]: \(failure.message) in '\(line.keyword)' at position \(failure.position):\n\(echo)\n\(caret)",
                           at: line.location)
            state.abort = true
            return nil
        }
    }
}

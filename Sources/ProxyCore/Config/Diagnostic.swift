import Shared

/// One message about a configuration, in HAProxy's classes.
public struct Diagnostic: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable, Equatable {
        case notice = "NOTICE"
        case warning = "WARNING"
        case alert = "ALERT"
        /// `.diag` messages, printed in diagnostic mode (`-dD`) only.
        case diag = "DIAG"
    }

    public var severity: Severity
    /// The text after `config : ` exactly as HAProxy prints it, e.g.
    /// `parsing [f.cfg:3] : unknown keyword 'bindd' in 'frontend' section; did you mean 'bind' maybe ?`.
    /// May contain newlines (continuation lines are printed as they are).
    public var message: String
    /// Where the problem is, when it is about a line.
    public var location: SourceLocation?
    /// The context word HAProxy prints after the PID (`config`), nil for the start-up notices.
    public var context: String?

    public init(_ severity: Severity, _ message: String, location: SourceLocation? = nil,
                context: String? = "config") {
        self.severity = severity
        self.message = message
        self.location = location
        self.context = context
    }

    public static func alert(_ message: String, at location: SourceLocation? = nil) -> Diagnostic {
        Diagnostic(.alert, message, location: location)
    }

    public static func warning(_ message: String, at location: SourceLocation? = nil) -> Diagnostic {
        Diagnostic(.warning, message, location: location)
    }

    /// `parsing [file:line] : message`, HAProxy's most common form.
    public static func parsing(_ severity: Severity, _ location: SourceLocation, _ message: String) -> Diagnostic {
        Diagnostic(severity, "parsing [\(location)] : \(message)", location: location)
    }

    public var description: String { DiagnosticRenderer.render(self, pid: 0) }
}

/// Prints diagnostics exactly as HAProxy 2.6 does on stderr:
/// `[ALERT]    (1234) : config : message`.
public enum DiagnosticRenderer {
    /// The bracketed tag padded to HAProxy's width (`[WARNING]  `).
    public static func tag(_ severity: Diagnostic.Severity) -> String {
        let t = "[\(severity.rawValue)]"
        return t + String(repeating: " ", count: max(1, 11 - t.count))
    }

    public static func render(_ d: Diagnostic, pid: Int32) -> String {
        var s = tag(d.severity) + "(\(pid)) : "
        if let ctx = d.context { s += ctx + " : " }
        s += d.message
        return s
    }

    /// All diagnostics, each followed by a newline.
    public static func render(_ ds: [Diagnostic], pid: Int32) -> String {
        ds.map { render($0, pid: pid) + "\n" }.joined()
    }
}

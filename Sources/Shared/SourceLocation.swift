/// Where a piece of configuration came from, so every error can name `file:line`.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    /// `file:line`, the form both HAProxy and keepalived print.
    public var description: String { "\(file):\(line)" }
}

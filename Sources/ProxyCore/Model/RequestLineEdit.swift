import Shared

/// The http-request actions that rewrite the request target beyond `set-path`,
/// `set-query` and `set-uri`, as HAProxy 2.6 defines them.
public enum RequestLineEdit: Sendable, Equatable {
    /// Which part of the target a regex edit reads and replaces.
    public enum Part: String, Sendable, Equatable {
        /// `replace-path`: the path, without the query string.
        case path
        /// `replace-pathq`: the path with its query string.
        case pathWithQuery
        /// `replace-uri`: the whole target as sent (absolute form included).
        case uri
    }

    /// `replace-path|replace-pathq|replace-uri REGEX FMT`: when REGEX matches the part, the
    /// whole part becomes FMT, with `\1`…`\9` the regex's groups (not only the matched text:
    /// HAProxy's `exp_replace`).
    case replace(Part, regex: CompiledRegex, replacement: FormatString)
    /// `set-pathq FMT`: path and query together.
    case setPathWithQuery(FormatString)
}

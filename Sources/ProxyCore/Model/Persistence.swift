import Shared

/// `cookie NAME [rewrite|insert|prefix] [indirect] [nocache] [postonly] [preserve]
/// [httponly] [secure] [domain D]* [attr V]*` in a backend (issue 15): which server a
/// client returns to, read from a cookie of its requests.
public struct CookieSettings: Sendable, Equatable {
    public enum Mode: Sendable, Equatable {
        /// No mode given: the server sets the cookie itself, proxyd only reads it.
        case passive
        /// `rewrite`: the server's own `Set-Cookie: NAME=…` gets the server's value.
        case rewrite
        /// `insert`: proxyd adds `Set-Cookie: NAME=VALUE; path=/` to the response.
        case insert
        /// `prefix`: the server's cookie value gets `VALUE~` before it; requests lose it.
        case prefix
    }
    public var name: String
    public var mode: Mode = .passive
    public var indirect = false
    public var noCache = false
    public var postOnly = false
    public var preserve = false
    public var httpOnly = false
    public var secure = false
    /// `domain D`, in order (each becomes a `; domain=D` attribute).
    public var domains: [String] = []
    /// `attr V`, in order (each becomes `; V`).
    public var attributes: [String] = []
    /// `maxidle T` / `maxlife T`, seconds: an inserted cookie carries the dates it was
    /// last seen and first given (`NAME=VALUE|LAST|FIRST`), and one idle or old beyond
    /// these no longer counts.
    public var maxIdle: Int?
    public var maxLife: Int?
    /// `dynamic`: a server without `cookie` gets one made from `dynamic-cookie-key`, its
    /// address and its port.
    public var dynamic = false

    public init(name: String) { self.name = name }
}

/// `force-persist if|unless COND` / `ignore-persist if|unless COND`: the first rule whose
/// condition holds decides.
public struct PersistRule: Sendable, Equatable {
    public enum Kind: Sendable, Equatable { case force, ignore }
    public var kind: Kind
    public var condition: Condition
    public var location: SourceLocation?
    public init(kind: Kind, condition: Condition, location: SourceLocation?) {
        self.kind = kind
        self.condition = condition
        self.location = location
    }
}

/// `use-server NAME [if|unless COND]`.
public struct UseServerRule: Sendable, Equatable {
    public var server: String
    public var condition: Condition?
    public var location: SourceLocation?
    public init(server: String, condition: Condition?, location: SourceLocation?) {
        self.server = server
        self.condition = condition
        self.location = location
    }
}

/// What decides, before balancing, that a request goes to one server (issue 15).
public struct PersistenceSettings: Sendable, Equatable {
    public var cookie: CookieSettings?
    public var persistRules: [PersistRule] = []
    public var useServerRules: [UseServerRule] = []
    /// `option persist`: a cookie keeps naming its server even while that server is down.
    public var persistWhileDown = false
    /// `persist rdp-cookie[(NAME)]` (default `msts`): a connection whose RDP cookie names a
    /// server's address and port goes to that server (Balancing/RDPCookie.swift).
    public var rdpCookie: String? = nil
    /// `dynamic-cookie-key KEY`, for `cookie … dynamic`.
    public var dynamicCookieKey: String?
    /// `option prefer-last-server`: a keep-alive client's next request goes to the server
    /// of its previous one while that connection is kept, with `http-reuse never` and a
    /// `balance` that does not hash (as in HAProxy 2.6; see CookiePersistence).
    public var preferLastServer = false

    public init() {}
}

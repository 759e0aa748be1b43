/// Chooses the backend of a session: `use_backend` rules in order, then `default_backend`.
public struct Router: Sendable {
    public var defaultBackend: RuntimeBackend?

    public init(defaultBackend: RuntimeBackend?) {
        self.defaultBackend = defaultBackend
    }
}

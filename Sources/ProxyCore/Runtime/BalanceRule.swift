/// The `balance` algorithm of a backend, as the runtime applies it.
public enum BalanceRule: Sendable, Equatable {
    case roundRobin
    case staticRoundRobin
    case leastConnections
    case first
    case random
    case source
    case uri
    case urlParameter(String)
    case header(String)
}

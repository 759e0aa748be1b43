/// Chooses the backend of a request: `use_backend` rules in order, then `default_backend`.
struct Router {
    struct Rule {
        let condition: CompiledCondition?
        let backend: RuntimeBackend?
        /// `use_backend %[…]` (Runtime/DynamicBackendName.swift): `backend` is then nil.
        var dynamic: DynamicBackendName? = nil
    }
    var rules: [Rule] = []
    var defaultBackend: RuntimeBackend?

    func route(_ facts: RequestFacts) -> RuntimeBackend? {
        for rule in rules where rule.condition?.evaluate(facts) ?? true {
            // A dynamic name that names no backend ends the rules: the default backend
            // takes the request, as in HAProxy.
            guard let backend = rule.backend ?? rule.dynamic?.backend(facts) else { break }
            return backend
        }
        return defaultBackend
    }
}

/// Chooses the backend of a request: `use_backend` rules in order, then `default_backend`.
struct Router {
    struct Rule {
        let condition: CompiledCondition?
        let backend: RuntimeBackend
    }
    var rules: [Rule] = []
    var defaultBackend: RuntimeBackend?

    func route(_ facts: RequestFacts) -> RuntimeBackend? {
        for rule in rules where rule.condition?.evaluate(facts) ?? true {
            return rule.backend
        }
        return defaultBackend
    }
}

import Shared

/// A `set-var`, `set-var-fmt` or `unset-var` action compiled: what to store in which
/// variable, run by any rule set that has the stream's values at hand.
struct CompiledAssignment {
    enum Value {
        case sample(CompiledSample)
        case format(ValueTemplate)
        case unset
    }
    let variable: VariableName
    let value: Value
    let conditions: [VariableAssignment.Condition]

    init(_ assignment: VariableAssignment, at location: SourceLocation?) throws {
        variable = assignment.variable
        conditions = assignment.conditions
        switch assignment.value {
        case .expression(let expression): value = .sample(CompiledSample(expression))
        case .format(let format): value = .format(try ValueTemplate(format, at: location, escapesControls: false))
        case .unset: value = .unset
        }
    }

    /// Runs the action. An expression without a value leaves the variable as it was, as
    /// in HAProxy; a format always gives a string (maybe empty).
    func run(_ facts: RequestFacts?, values: StreamValues?) {
        switch value {
        case .unset:
            if let values { values.unset(variable) } else if variable.scope == .proc { ProcessVariables.shared.unset(variable.name) }
        case .sample(let sample):
            guard let new = sample.evaluate(facts, values: values) else { return }
            store(new, values: values)
        case .format(let template):
            store(.string(template.render(facts, values: values)), values: values)
        }
    }

    private func store(_ new: SampleValue, values: StreamValues?) {
        let old = StreamValues.read(variable, in: values)
        for condition in conditions {
            switch condition {
            case .ifexists, .ifset: if old == nil { return }
            case .ifnotexists, .ifnotset: if old != nil { return }
            // The new value is empty or not.
            case .ifempty: if !new.text.isEmpty { return }
            case .ifnotempty: if new.text.isEmpty { return }
            // The variable exists and its value is greater (less) than the new one.
            case .ifgt: guard let a = old?.integer, let b = new.integer, a > b else { return }
            case .iflt: guard let a = old?.integer, let b = new.integer, a < b else { return }
            }
        }
        if let values {
            values.set(variable, new)
        } else if variable.scope == .proc {
            ProcessVariables.shared.set(variable.name, new)
        }
    }
}

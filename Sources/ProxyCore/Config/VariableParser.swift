import Shared

/// `set-var(NAME[,COND…]) EXPR`, `set-var-fmt(NAME[,COND…]) FMT` and `unset-var(NAME)`:
/// the variable actions every rule set shares (`http-request`, `http-response`,
/// `tcp-request content|session`) and the `global` keywords `set-var` / `set-var-fmt`.
enum VariableParser {
    struct Failure: Error { var message: String }

    /// The action's keyword without its parenthesis (`set-var`), or nil when `action` is
    /// not a variable action.
    static func keyword(_ action: String) -> String? {
        for keyword in ["set-var-fmt", "set-var", "unset-var"] where action.hasPrefix(keyword + "(") {
            return keyword
        }
        return nil
    }

    /// How many words the action takes before its condition.
    static func arity(_ action: String) -> Int? {
        switch keyword(action) {
        case "set-var"?, "set-var-fmt"?: return 1
        case "unset-var"?: return 0
        default: return nil
        }
    }

    /// Parses the action word and its arguments; `place` is where the rule runs (for
    /// HAProxy's check that a fetch gives a sample there).
    static func parse(_ action: String, _ args: [String], place: HAProxySamples.Usage?) -> Result<VariableAssignment, Failure> {
        guard let keyword = keyword(action) else { return .failure(Failure(message: "unknown action '\(action)'")) }
        guard action.hasSuffix(")") else {
            return .failure(Failure(message: "missing ')' after the variable name of '\(keyword)'"))
        }
        let inside = action.dropFirst(keyword.count + 1).dropLast()
        let items = inside.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
        let variable: VariableName
        switch VariableName.parse(items[0]) {
        case let .success(v): variable = v
        case let .failure(e): return .failure(Failure(message: e.message))
        }
        var conditions: [VariableAssignment.Condition] = []
        for item in items.dropFirst() {
            guard keyword != "unset-var" else {
                return .failure(Failure(message: "'unset-var' expects a variable name only"))
            }
            guard let condition = VariableAssignment.Condition(rawValue: item) else {
                return .failure(Failure(message: "unknown condition \"\(item)\""))
            }
            conditions.append(condition)
        }
        switch keyword {
        case "unset-var":
            return .success(VariableAssignment(variable: variable, value: .unset))
        case "set-var-fmt":
            switch HTTPRuleParser.format(args.first ?? "", place: place) {
            case let .success(format):
                return .success(VariableAssignment(variable: variable, value: .format(format), conditions: conditions))
            case let .failure(e):
                return .failure(Failure(message: e.message))
            }
        default:
            guard let text = args.first, !text.isEmpty else { return .failure(Failure(message: "missing fetch method")) }
            // HAProxy names the action where the fetch should be.
            if let place, let problem = unavailable(text, named: action, place: place) {
                return .failure(Failure(message: problem))
            }
            switch SampleExpression.parse(text) {
            case let .success(expression):
                return .success(VariableAssignment(variable: variable, value: .expression(expression), conditions: conditions))
            case let .failure(e):
                return .failure(Failure(message: e.message))
            }
        }
    }

    /// HAProxy's message for an expression whose fetch gives no sample at `place`
    /// (`fetch method 'NAME' extracts information from 'HTTP response', none of which is
    /// available here`), or nil.
    static func unavailable(_ expression: String, named name: String, place: HAProxySamples.Usage) -> String? {
        guard let problem = HTTPRuleParser.sampleProblem(expression, rest: expression, place: place),
              let needs = problem.range(of: "needs '"), let end = problem.range(of: "' which") else { return nil }
        return "fetch method '\(name)' extracts information from '\(problem[needs.upperBound..<end.lowerBound])', none of which is available here"
    }

    /// `global` `set-var NAME EXPR` / `set-var-fmt NAME FMT`: a `proc` variable set at
    /// start. HAProxy evaluates the expression then, so it may read only what exists
    /// without a request: constants, environment-free fetches and other `proc` variables.
    static func parseGlobal(_ s: ParserState, _ l: ConfigLine) {
        let keyword = l.keyword
        guard l.words.count == 3 else {
            s.alert(l, "'\(keyword)' requires a process-wide variable name ('proc.<name>') and a \(keyword == "set-var" ? "sample expression" : "format string").")
            return
        }
        switch parse("\(keyword)(\(l[1]))", [l[2]], place: .configurationParser) {
        case let .success(assignment):
            guard assignment.variable.scope == .proc else {
                s.alert(l, "'\(keyword)': cannot set variable '\(l[1])', only scope 'proc' is permitted in the global section.")
                return
            }
            s.global.variables.append(assignment)
        case let .failure(e):
            s.alert(l, e.message)
        }
    }
}

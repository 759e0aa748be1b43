/// One nameserver's counters, named and ordered as HAProxy 2.6's `show resolvers` prints
/// them.
struct DNSNameserverCounters: Sendable, Equatable {
    var sent = 0
    var sendErrors = 0
    var valid = 0
    /// Answers that changed a server's address.
    var update = 0
    var cname = 0
    var cnameError = 0
    /// Answers without a record of the type asked.
    var anyError = 0
    var nx = 0
    var timeout = 0
    var refused = 0
    var other = 0
    /// Answers that could not be read (malformed, or not answering the question asked).
    var invalid = 0
    var tooBig = 0
    var truncated = 0
    /// Answers to no pending query (late, duplicated or forged).
    var outdated = 0

    var lines: [(String, Int)] {
        [("sent", sent), ("snd_error", sendErrors), ("valid", valid), ("update", update), ("cname", cname),
         ("cname_error", cnameError), ("any_err", anyError), ("nx", nx), ("timeout", timeout),
         ("refused", refused), ("other", other), ("invalid", invalid), ("too_big", tooBig),
         ("truncated", truncated), ("outdated", outdated)]
    }

    /// `show resolvers`: `  sent:        12`, the label and its colon padded to 13.
    func render(into out: inout String) {
        for (label, value) in lines {
            let head = label + ":"
            out += "  " + head + String(repeating: " ", count: max(1, 13 - head.count)) + String(value) + "\n"
        }
    }
}

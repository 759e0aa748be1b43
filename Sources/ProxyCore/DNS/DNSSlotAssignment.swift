/// Which DNS record each server of a row gets, as HAProxy 2.6 shares a name's records
/// among the servers that resolve it (a `server-template` row, or servers of one backend
/// with the same name): a server keeps its record while the name still has it, records
/// nobody holds go to servers without one in order, and (unless `resolve-opts
/// allow-dup-ip`) no two servers hold the same record. A server left without a record
/// goes to MAINT (resolution). Pure, so tests can run every case without a socket.
struct DNSTarget: Sendable, Equatable {
    /// What makes two records the same target: the address for A/AAAA records, the
    /// host and port for SRV records (the address behind a host may change).
    var key: String
    var address: IPAddress
    /// SRV records: the port and weight they carry, and the host they name.
    var port: Int? = nil
    var weight: Int? = nil
    var hostname: String? = nil
}

enum DNSSlotAssignment {
    /// `current[i]` is what server i holds now (nil: nothing); the answer's targets in
    /// order. Returns what each server holds after the answer.
    static func assign(current: [DNSTarget?], offered: [DNSTarget], allowDuplicates: Bool,
                       preferredNetworks: [IPNetwork] = []) -> [DNSTarget?] {
        var result = [DNSTarget?](repeating: nil, count: current.count)
        var taken = Set<String>()
        // Servers keep what the answer still has (its newest port, weight and address).
        for (i, held) in current.enumerated() {
            guard let held, let fresh = offered.first(where: { $0.key == held.key }) else { continue }
            if !allowDuplicates && taken.contains(held.key) { continue }
            result[i] = fresh
            taken.insert(held.key)
        }
        // `resolve-net` networks first, then the answer's order.
        let ordered = offered.filter { t in preferredNetworks.contains { $0.contains(t.address) } }
            + offered.filter { t in !preferredNetworks.contains { $0.contains(t.address) } }
        for i in result.indices where result[i] == nil {
            if let free = ordered.first(where: { !taken.contains($0.key) }) {
                result[i] = free
                taken.insert(free.key)
            } else if allowDuplicates, let any = ordered.first {
                result[i] = any
            }
        }
        return result
    }
}

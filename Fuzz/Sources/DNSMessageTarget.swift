@testable import ProxyCore

/// The DNS decoder (issue 15) on whatever a nameserver's socket receives, then what the
/// resolver does with a decoded answer: the targets of its first question.
enum DNSMessageTarget {
    static func run(_ input: UnsafeRawBufferPointer) {
        let bytes = Array(input)
        guard let message = try? DNSCodec.decode(bytes) else { return }
        // Names read with compression stay within DNS's 255-byte limit.
        for name in message.questions.map(\.name) + (message.answers + message.additionals).map(\.name) {
            require(name.utf8.count <= 255 + 63, "name of \(name.utf8.count) bytes decoded")
        }
        // Decoding is a function of the bytes: the same input, the same message.
        require((try? DNSCodec.decode(bytes)) == message, "decoding the same bytes twice differs")
        guard let question = message.questions.first else { return }
        for kind in [DNSResolution.Kind.address(prefer: .ipv6), .address(prefer: .ipv4), .service(prefer: .ipv4)] {
            let resolution = DNSResolution(hostname: DNSResolution.normalised(question.name), kind: kind, now: 0)
            if let type = DNSRecordType(rawValue: question.type) { resolution.queryType = type }
            var cname = false
            let targets = resolution.targets(in: message, sawCNAME: &cname) ?? []
            require(targets.count <= message.answers.count, "more targets than answers")
            let assigned = DNSSlotAssignment.assign(current: [nil, nil, nil], offered: targets, allowDuplicates: false)
            require(Set(assigned.compactMap { $0?.key }).count == assigned.compactMap({ $0 }).count,
                    "two servers share a record without allow-dup-ip")
        }
    }
}

import VRRPCore

/// The VRRP decoder on what a raw socket reads (an IPv4 packet), then the validator
/// against expectations taken from the decoded advert itself and against fixed ones.
enum VRRPPacketTarget {
    static func run(_ input: UnsafeRawBufferPointer) {
        let packet = Array(input)
        guard case .success(let received) = PacketDecoder.decodeIPv4(packet) else { return }
        let advert = received.advert
        require(advert.version == 2 || advert.version == 3, "version \(advert.version) decoded")
        // A decoded advert encodes again into a packet that decodes to the same advert
        // with a good checksum.
        let encoded = advert.encode(source: received.source, destination: received.destination)
        switch PacketDecoder.decodeVRRP(encoded, source: received.source, destination: received.destination,
                                        ttl: received.ttl) {
        case .success(let again):
            require(again.checksumOK, "re-encoded advert has a bad checksum")
            require(again.advert == advert, "re-encoded advert differs: \(again.advert) vs \(advert)")
        case .failure(let reason):
            require(false, "re-encoded advert does not decode: \(reason)")
        }
        _ = PacketValidator.validate(received, against: expectations(for: advert))
    }

    static func expectations(for advert: VRRPAdvert) -> AdvertExpectations {
        let password = String(decoding: advert.authData.prefix { $0 != 0 }, as: UTF8.self)
        return AdvertExpectations(version: advert.version, vrid: advert.vrid,
                                  auth: advert.authType == 1 ? .password(password) : .none,
                                  intervalSeconds: advert.interval, addresses: advert.addresses)
    }
}

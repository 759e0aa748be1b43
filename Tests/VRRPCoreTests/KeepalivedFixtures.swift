// Packets captured with tcpdump from Debian's keepalived 2.2.7 (`keepalived -n -l -D --vrrp`)
// in a network namespace, source 10.77.1.1 on a veth, VIPs 10.77.1.100 and 10.77.1.101/24.
// Regenerate: capture with `tcpdump -w` beside keepalived in a namespace, then for each frame
// `editcap -r CAPTURE.pcap - N | tcpdump -r - -xx` and drop the 14-byte Ethernet header.
// Each string is the whole IPv4 packet (IP header + VRRP), as the raw socket receives it.
enum KeepalivedFixtures {
    /// `v2.conf`, advert with priority 255 (frame 1).
    static let v2_prio255 = "45c0002c00010000ff70cf400a4d0101e00000122133ff020001c8650a4d01640a4d01650000000000000000"
    /// `v2.conf`, advert with priority 0 (frame 14).
    static let v2_prio0 = "45c0002c00040000ff70cf3d0a4d0101e0000012213300020001c7660a4d01640a4d01650000000000000000"
    /// `v2auth.conf`, advert with priority 255 (frame 1).
    static let v2auth_prio255 = "45c0002c00010000ff70cf400a4d0101e00000122134ff02010159e60a4d01640a4d01657365637265743132"
    /// `v2auth.conf`, advert with priority 0 (frame 14).
    static let v2auth_prio0 = "45c0002c00040000ff70cf3d0a4d0101e000001221340002010158e70a4d01640a4d01657365637265743132"
    /// `v3.conf`, advert with priority 255 (frame 1).
    static let v3_prio255 = "45c0002400010000ff70cf480a4d0101e00000123135ff02000acc790a4d01640a4d0165"
    /// `v3.conf`, advert with priority 0 (frame 36).
    static let v3_prio0 = "45c00024001a0000ff70cf2f0a4d0101e000001231350002000acb7a0a4d01640a4d0165"
}

import VRRPCore

/// `vrrpd --dump-keywords`: every keyword of keepalived's dialect vrrpd knows, block by
/// block, and what vrrpd does with it, for the generated vrrpd.conf(5) page (scripts/man).
///
/// The status is the parser's own answer: each keyword is parsed in a one-keyword
/// configuration, and `supported` (parsed, perhaps with an error about its value),
/// `ignored` (keepalived has it, vrrpd warns and ignores it) or `unknown` come from what the
/// parser says. The candidates below are the parser's keyword tables (VRRPCore keeps them
/// internal); VRRPCoreTests.KeywordDumpTests fails when a table has a keyword this list
/// lacks, or when the dump and the tables disagree.
enum KeywordDump {
    struct Block {
        /// As the man page names it.
        let name: String
        let keywords: [String]
        /// The configuration a keyword is tried in (`KW` replaced).
        let probe: String
    }

    static let blocks: [Block] = [
        Block(name: "top level", keywords: [
            "global_defs", "vrrp_script", "vrrp_track_proxyd", "vrrp_instance", "vrrp_sync_group",
            "virtual_server", "virtual_server_group", "real_server", "static_ipaddress", "static_routes",
            "static_rules", "vrrp_track_file", "track_file", "vrrp_track_process", "track_process", "bfd_instance",
            "linkbeat_interfaces", "garp_group", "net_namespace", "net_namespace_ipvs", "instance", "use_pid_dir",
            "child_wait_time", "static_track_group", "vrrp_sync_group_track", "ssl", "virtualhost",
        ], probe: "KW\n"),
        Block(name: "global_defs", keywords: [
            "router_id", "vrrp_version", "vrrp_mcast_group4", "vrrp_garp_master_delay", "vrrp_garp_master_repeat",
            "vrrp_garp_master_refresh", "vrrp_garp_master_refresh_repeat", "vrrp_garp_lower_prio_repeat",
            "vrrp_skip_check_adv_addr", "vrrp_strict", "script_user", "enable_script_security", "vrrp_startup_delay",
            "default_interface",
            "notification_email", "notification_email_from", "smtp_server", "smtp_connect_timeout",
            "smtp_helo_name", "smtp_alert", "smtp_alert_vrrp", "smtp_alert_checker", "lvs_id",
            "checker_log_all_failures", "dynamic_interfaces", "vrrp_mcast_group6", "vrrp_garp_interval",
            "vrrp_gna_interval", "vrrp_lower_prio_no_advert", "vrrp_higher_prio_send_advert",
            "vrrp_iptables", "vrrp_ipsets", "vrrp_check_unicast_src", "vrrp_priority", "checker_priority",
            "bfd_priority", "vrrp_no_swap", "checker_no_swap", "bfd_no_swap", "vrrp_rt_priority",
            "checker_rt_priority", "bfd_rt_priority", "vrrp_cpu_affinity", "checker_cpu_affinity",
            "max_auto_priority", "min_auto_priority_delay", "notify_fifo", "notify_fifo_script",
            "vrrp_notify_fifo", "vrrp_notify_fifo_script", "lvs_notify_fifo", "lvs_notify_fifo_script",
            "lvs_sync_daemon", "lvs_flush", "lvs_flush_onstop", "lvs_timeouts", "enable_snmp_vrrp",
            "enable_snmp_keepalived", "enable_snmp_rfc", "enable_snmp_rfcv2", "enable_snmp_rfcv3",
            "enable_snmp_checker", "enable_traps", "snmp_socket", "enable_dbus", "dbus_service_name",
            "linkbeat_use_polling", "vrrp_garp_lower_prio_delay", "vrrp_netlink_cmd_rcv_bufs",
            "vrrp_netlink_cmd_rcv_bufs_force", "vrrp_netlink_monitor_rcv_bufs",
            "vrrp_netlink_monitor_rcv_bufs_force", "process_names", "process_name", "vrrp_process_name",
            "checker_process_name", "bfd_process_name", "net_namespace", "namespace_with_ipsets",
            "instance", "vrrp_min_garp", "vrrp_rx_bufs_policy", "vrrp_rx_bufs_multiplier", "umask",
            "random_seed", "reload_time_file", "reload_repeat", "reload_file", "data_use_instance",
            "state_dir", "no_email_faults", "nftables", "nftables_priority", "nftables_ifindex",
            "nftables_counters", "vrrp_startup_delay_disabled", "script_user_disabled",
            "vrrp_version_disabled", "disable_local_igmp", "use_symlink_paths", "tmp_config_directory",
            "config_test", "vrrp_notify_priority_changes", "fifo_write_vrrp_states_on_reload",
            "rs_init_notifies", "no_checker_emails", "vrrp_track_process", "process_monitor_rcv_bufs",
            "process_monitor_rcv_bufs_force", "lvs_netlink_cmd_rcv_bufs", "lvs_netlink_monitor_rcv_bufs",
            "vrrp_owner_ignore_adverts", "vrrp_down_timer_adverts", "vrrp_garp_extra_if",
        ], probe: "global_defs {\nKW\n}\n"),
        Block(name: "vrrp_script", keywords: [
            "script", "interval", "timeout", "weight", "rise", "fall", "user", "init_fail",
        ], probe: "vrrp_script s {\nKW\n}\n"),
        Block(name: "vrrp_track_proxyd", keywords: [
            "socket", "frontend", "weight", "timeout", "ping_interval", "handover",
        ], probe: "vrrp_track_proxyd p {\nKW\n}\n"),
        Block(name: "vrrp_instance", keywords: [
            "state", "interface", "virtual_router_id", "priority", "advert_int", "nopreempt", "preempt",
            "preempt_delay", "authentication", "unicast_src_ip", "mcast_src_ip", "unicast_peer", "virtual_ipaddress",
            "virtual_ipaddress_excluded", "track_interface", "track_script", "track_proxyd", "notify_master",
            "notify_backup", "notify_fault", "notify_stop", "notify", "garp_master_delay", "garp_master_repeat",
            "garp_master_refresh", "garp_master_refresh_repeat", "garp_lower_prio_repeat", "version",
            "skip_check_adv_addr", "dont_track_primary", "accept",
            "use_vmac", "vmac_xmit_base", "native_ipv6", "track_file", "track_process", "track_bfd",
            "unicast_ttl", "garp_lower_prio_delay", "lower_prio_no_advert", "higher_prio_send_advert",
            "virtual_routes", "virtual_rules", "no_accept", "strict_mode", "smtp_alert",
            "notify_master_rx_lower_pri", "notify_deleted", "debug", "linkbeat_use_polling",
            "kernel_rx_buf_size", "check_unicast_src", "old_unicast_checksum", "promote_secondaries",
            "unicast_fault_no_peer", "track_src_ip", "mcast_dst_ip",
        ], probe: "vrrp_instance i {\nKW\n}\n"),
        Block(name: "authentication", keywords: ["auth_type", "auth_pass"],
              probe: "vrrp_instance i {\nauthentication {\nKW x\n}\n}\n"),
        Block(name: "virtual_ipaddress", keywords: [
            "brd", "dev", "scope", "label", "no_track", "preferred_lft", "home", "nodad", "noprefixroute",
            "autojoin", "peer", "mngtmpaddr", "valid_lft", "track_group",
        ], probe: "vrrp_instance i {\nvirtual_ipaddress {\n10.0.0.1/24 KW x\n}\n}\n"),
        Block(name: "vrrp_sync_group", keywords: [
            "group", "notify_master", "notify_backup", "notify_fault", "notify_stop", "notify",
            "smtp_alert", "global_tracking", "sync_group_tracking_weight", "track_interface", "track_script",
            "track_file", "track_process", "track_bfd", "notify_priority_changes",
        ], probe: "vrrp_sync_group g {\nKW\n}\n"),
    ]

    struct Entry: Equatable {
        var block: String
        var keyword: String
        var status: String
        var note: String
    }

    static func entries() -> [Entry] {
        blocks.flatMap { block in
            Set(block.keywords).sorted().map { keyword -> Entry in
                let text = block.probe.split(separator: "KW", omittingEmptySubsequences: false).joined(separator: keyword)
                let (status, note) = judge(keyword, in: text)
                return Entry(block: block.name, keyword: keyword, status: status, note: note)
            }
        }
    }

    /// One line per keyword: `BLOCK<TAB>KEYWORD<TAB>STATUS<TAB>NOTE`.
    static func dump() -> String {
        entries().map { "\($0.block)\t\($0.keyword)\t\($0.status)\t\($0.note)" }.joined(separator: "\n") + "\n"
    }

    /// What the parser says about `keyword` in `text`, and the reason it gives for
    /// ignoring it, if any.
    static func judge(_ keyword: String, in text: String) -> (String, String) {
        let (_, diagnostics) = ConfigParser.parse(text: text, file: "probe.conf")
        for d in diagnostics.items {
            let m = d.message
            if m.hasPrefix("Unknown keyword '\(keyword)'") || m.hasPrefix("unknown virtual address option '\(keyword)'") {
                return ("unknown", "")
            }
            if (m.contains("keyword '\(keyword)' is valid for keepalived but not supported by vrrpd")
                || m.contains("option '\(keyword)' is valid for keepalived but not supported by vrrpd")) {
                // "… not supported by vrrpd (why); ignored"
                let parts = m.split(separator: "not supported by vrrpd (", maxSplits: 1)
                if parts.count == 2, let why = parts[1].split(separator: "); ignored").first, parts[1].hasSuffix("); ignored") {
                    return ("ignored", String(why))
                }
                return ("ignored", "")
            }
        }
        return ("supported", "")
    }
}

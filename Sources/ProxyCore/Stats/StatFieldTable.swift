// Generated from `show stat typed` of HAProxy 2.6.12: each field's tags and type per object.
enum StatFieldTable {
    static let names: [String] = [
        "pxname", "svname", "qcur", "qmax", "scur", "smax", "slim", "stot",
        "bin", "bout", "dreq", "dresp", "ereq", "econ", "eresp", "wretr",
        "wredis", "status", "weight", "act", "bck", "chkfail", "chkdown", "lastchg",
        "downtime", "qlimit", "pid", "iid", "sid", "throttle", "lbtot", "tracked",
        "type", "rate", "rate_lim", "rate_max", "check_status", "check_code", "check_duration", "hrsp_1xx",
        "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "hanafail", "req_rate", "req_rate_max",
        "req_tot", "cli_abrt", "srv_abrt", "comp_in", "comp_out", "comp_byp", "comp_rsp", "lastsess",
        "last_chk", "last_agt", "qtime", "ctime", "rtime", "ttime", "agent_status", "agent_code",
        "agent_duration", "check_desc", "agent_desc", "check_rise", "check_fall", "check_health", "agent_rise", "agent_fall",
        "agent_health", "addr", "cookie", "mode", "algo", "conn_rate", "conn_rate_max", "conn_tot",
        "intercepted", "dcon", "dses", "wrew", "connect", "reuse", "cache_lookups", "cache_hits",
        "srv_icur", "src_ilim", "qtime_max", "ctime_max", "rtime_max", "ttime_max", "eint", "idle_conn_cur",
        "safe_conn_cur", "used_conn_cur", "need_conn_est", "uweight", "agg_server_status", "agg_server_check_status", "agg_check_status", "ssl_sess",
        "ssl_reused_sess", "ssl_failed_handshake", "h2_headers_rcvd", "h2_data_rcvd", "h2_settings_rcvd", "h2_rst_stream_rcvd", "h2_goaway_rcvd", "h2_detected_conn_protocol_errors",
        "h2_detected_strm_protocol_errors", "h2_rst_stream_resp", "h2_goaway_resp", "h2_open_connections", "h2_backend_open_streams", "h2_total_connections", "h2_backend_total_streams", "h1_open_connections",
        "h1_open_streams", "h1_total_connections", "h1_total_streams", "h1_bytes_in", "h1_bytes_out", "h1_spliced_bytes_in", "h1_spliced_bytes_out",
    ]
    static let frontendTags: [String?] = [
        "KNS:str", "KNS:str", nil, nil, "MGP:u32", "MMP:u32", "CLP:u32", "MCP:u64", "MCP:u64", "MCP:u64",
        "MCP:u64", "MCP:u64", "MCP:u64", nil, nil, nil, nil, "SGP:str", nil, nil,
        nil, nil, nil, nil, nil, nil, "KGP:u32", "KGS:u32", "KGS:u32", nil,
        nil, nil, "CGS:u32", "MRP:u32", "CLP:u32", "MMP:u32", nil, nil, nil, "MCP:u64",
        "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", nil, "MRP:u32", "MMP:u32", "MCP:u64", nil,
        nil, "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", nil, nil, nil, nil, nil,
        nil, nil, nil, nil, nil, nil, nil, nil, nil, nil,
        nil, nil, nil, nil, nil, "CGS:str", nil, "MRP:u32", "MMP:u32", "MCP:u64",
        "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", nil, nil, "MCP:u64", "MCP:u64", nil, nil,
        nil, nil, nil, nil, "MCP:u64", nil, nil, nil, nil, nil,
        nil, nil, nil, "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64",
        "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MGP:u64", "MGP:u64", "MCP:u64", "MCP:u64", "MGP:u64",
        "MGP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64",
    ]
    static let backendTags: [String?] = [
        "KNS:str", "KNS:str", "MGP:u32", "MMP:u32", "MGP:u32", "MMP:u32", "CLP:u32", "MCP:u64", "MCP:u64", "MCP:u64",
        "MCP:u64", "MCP:u64", nil, "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "SGP:str", "MaP:u32", "MGP:u32",
        "MGP:u32", nil, "MCP:u64", "MAP:u32", "MCP:u32", nil, "KGP:u32", "KGS:u32", "KGS:u32", nil,
        "MCP:u64", nil, "CGS:u32", "MGP:u32", nil, "MGP:u32", nil, nil, nil, "MCP:u64",
        "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", nil, nil, nil, "MCP:u64", "MCP:u64",
        "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MAP:s32", nil, nil, "MaP:u32", "MaP:u32",
        "MaP:u32", "MaP:u32", nil, nil, nil, nil, nil, nil, nil, nil,
        nil, nil, nil, nil, nil, "CGS:str", "CGS:str", nil, nil, nil,
        nil, nil, nil, "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", nil, nil,
        "MMP:u32", "MMP:u32", "MMP:u32", "MMP:u32", "MCP:u64", nil, nil, nil, nil, "MaP:u32",
        "MGP:u32", "MGP:u32", "MGP:u32", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64",
        "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MGP:u64", "MGP:u64", "MCP:u64", "MCP:u64", "MGP:u64",
        "MGP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64",
    ]
    static let serverTags: [String?] = [
        "KNS:str", "KNS:str", "MGP:u32", "MMP:u32", "MGP:u32", "MMP:u32", nil, "MCP:u64", "MCP:u64", "MCP:u64",
        nil, "MCP:u64", nil, "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "SGP:str", "MaP:u32", "SGP:u32",
        "SGP:u32", "MCP:u64", "MCP:u64", "MAP:u32", "MCP:u32", nil, "KGP:u32", "KGS:u32", "KGS:u32", nil,
        "MCP:u64", nil, "CGS:u32", "MRP:u32", nil, "MMP:u32", "MOP:str", nil, "MDP:u64", "MCP:u64",
        "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", "MCP:u64", nil, nil, nil, "MCP:u64", "MCP:u64",
        "MCP:u64", nil, nil, nil, nil, "MAP:s32", "MOP:str", nil, "MaP:u32", "MaP:u32",
        "MaP:u32", "MaP:u32", nil, nil, nil, "MOP:str", nil, "CGS:u32", "CGS:u32", "CGS:u32",
        nil, nil, nil, "CGS:str", nil, "CGS:str", nil, nil, nil, nil,
        nil, nil, nil, "MCP:u64", "MCP:u64", "MCP:u64", nil, nil, "MGP:u32", nil,
        "MMP:u32", "MMP:u32", "MMP:u32", "MMP:u32", "MCP:u64", "MGP:u32", "MGP:u32", "MGP:u32", "MGP:u32", "MaP:u32",
        nil, nil, nil, "MCP:u64", "MCP:u64", "MCP:u64", nil, nil, nil, nil,
        nil, nil, nil, nil, nil, nil, nil, nil, nil, nil,
        nil, nil, nil, nil, nil, nil, nil,
    ]

    /// Which fields HAProxy 2.6.12 fills ('x') or leaves empty ('.') in `mode http`, as
    /// `show stat` printed them; `mode tcp` and checks adjust these below.
    static let frontendMask = "xx..xxxxxxxxx....x........xxx...xxxx...xxxxxx.xxx..xxxx....................x.xxxxxxx..xx......x........xxxxxxxxxxxxxxxxxxxxxxxx"
    static let backendMask = "xxxxxxxxxxxx.xxxxxxxx.xxx.xxx.x.xx.x...xxxxxx...xxxxxxxx..xxxx.............xx......xxxxx..xxxxx....xxxxxxxxxxxxxxxxxxxxxxxxxxxx"
    static let serverMask = "xxxxxx.xxx.x.xxxxxxxx..x..xxx.x.xx.x...xxxxxx...xxx....x..xxxx...........x.x.......xxx..x.xxxxxxxxxx...xxx....................."
    /// Fields HAProxy leaves empty in `mode tcp`, per object.
    static let tcpFrontendEmpty = ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "intercepted", "cache_lookups", "cache_hits"]
    static let tcpBackendEmpty = ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "req_tot", "cache_lookups", "cache_hits"]
    static let tcpServerEmpty = ["hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "req_tot"]
    /// Fields a server with `check` fills.
    static let checkedServerFields = ["chkfail", "chkdown", "downtime", "check_status", "check_duration", "last_chk", "check_desc", "check_rise", "check_fall", "check_health"]
}

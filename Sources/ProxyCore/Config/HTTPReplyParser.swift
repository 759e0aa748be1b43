import Shared

/// The reply of `http-request return|deny|tarpit`, `http-response return|deny` and
/// `http-error`, read as HAProxy 2.6 reads it: `status`, `content-type` and `hdr` in any
/// order around at most one payload (`default-errorfiles`, `errorfile`, `errorfiles`,
/// `file`, `lf-file`, `string`, `lf-string`), with its refusals and warnings word for word.
/// The first word it does not know ends the reply: the caller then expects a condition.
enum HTTPReplyParser {
    typealias Failure = HTTPRuleParser.Failure

    /// `deny` and `tarpit`: with no argument, or only `deny_status N`, HAProxy's error page
    /// for the status (an implied `default-errorfiles`); otherwise a reply as `return`'s,
    /// `deny_status` standing for `status`.
    static func denial(_ s: ParserState, _ args: [String], defaultStatus: Int,
                       place: HAProxySamples.Usage?) -> Result<HTTPReply, Failure> {
        var args = args
        if args.first == "deny_status" {
            args[0] = "status"
            if args.count == 1 { args.append("") }  // "'status' expects <status_code>", as HAProxy says
            if args.count == 2 { args.append("default-errorfiles") }
        } else if args.isEmpty {
            args = ["default-errorfiles"]
        }
        return parse(s, args, defaultStatus: defaultStatus, place: place)
    }

    /// What the payload is (the word that named it is kept beside, for "already defined").
    private enum Payload {
        case empty
        case defaultPages
        case errorFile([UInt8])
        case errorFiles(String)
        case raw([UInt8], isString: Bool)
        case logFormat(String)
    }

    static func parse(_ s: ParserState, _ args: [String], defaultStatus: Int,
                      place: HAProxySamples.Usage? = nil) -> Result<HTTPReply, Failure> {
        // Every throw below is a Failure (the format parser's included).
        Result { try read(s, args, defaultStatus: defaultStatus, place: place) }.mapError { $0 as! Failure }
    }

    private static func read(_ s: ParserState, _ args: [String], defaultStatus: Int,
                             place: HAProxySamples.Usage?) throws -> HTTPReply {
        var reply = HTTPReply(status: defaultStatus)
        var payload = Payload.empty
        var payloadWord = ""
        var i = 0
        var leftover: String?
        func value(_ what: String) throws -> String {
            guard i + 1 < args.count, !args[i + 1].isEmpty else {
                throw Failure(message: "'\(args[i])' expects \(what) as argument")
            }
            return args[i + 1]
        }
        func contents(of path: String) throws -> [UInt8] {
            guard case let .success(bytes) = FileSystem.read(path) else {
                throw Failure(message: "error opening file '\(path)'")
            }
            return bytes
        }
        func format(_ text: String) throws -> FormatString {
            try HTTPRuleParser.format(text, place: place).get()
        }
        words: while i < args.count {
            let word = args[i]
            let isPayload = ["default-errorfiles", "errorfile", "errorfiles", "file", "lf-file", "string", "lf-string"]
                .contains(word)
            if isPayload, !payloadWord.isEmpty {
                throw Failure(message: "unexpected '\(word)' argument, '\(payloadWord)' already defined")
            }
            switch word {
            case "status":
                // HAProxy reads the number as atol does: its leading digits, else 0.
                let code = Int(String(try value("<status_code>").prefix { $0.isASCII && $0.isNumber }.prefix(9))) ?? 0
                guard (200...599).contains(code) else { throw Failure(message: "Unexpected status code '\(code)'") }
                reply.status = code
                i += 2
            case "content-type":
                reply.contentType = try value("<ctype>")
                i += 2
            case "default-errorfiles":
                payload = .defaultPages
                i += 1
            case "errorfile":
                let path = try value("<fmt>")
                let bytes = try contents(of: path)
                if let problem = ErrorFileParser.problem(bytes) { throw Failure(message: "'\(path)': \(problem)") }
                payload = .errorFile(bytes)
                i += 2
            case "errorfiles":
                payload = .errorFiles(try value("<name>"))
                i += 2
            case "file", "lf-file":
                let path = try value("<file>")
                let bytes = try contents(of: path)
                if bytes.count > s.global.bufferSize {
                    throw Failure(message: "file '\(path)' exceeds the buffer size (\(bytes.count) > \(s.global.bufferSize))")
                }
                payload = word == "file" ? .raw(bytes, isString: false) : .logFormat(String(decoding: bytes, as: UTF8.self))
                i += 2
            case "string":
                payload = .raw(Array(try value("<str>").utf8), isString: true)
                i += 2
            case "lf-string":
                payload = .logFormat(try value("<fmt>"))
                i += 2
            case "hdr":
                guard i + 2 < args.count, !args[i + 1].isEmpty, !args[i + 2].isEmpty else {
                    throw Failure(message: "'hdr' expects <name> and <value> as arguments")
                }
                if ["content-length", "transfer-encoding", "content-type"].contains(args[i + 1].lowercased()) {
                    s.pendingWarnings.append("header '\(args[i + 1])' always ignored by the http reply.")
                } else {
                    reply.headers.append((args[i + 1], try format(args[i + 2])))
                }
                i += 3
            default:
                leftover = word
                break words
            }
            if isPayload { payloadWord = word }
        }
        try finish(s, &reply, payload: payload, payloadWord: payloadWord, format: format)
        // A word HAProxy leaves to the condition parser, which does not know it either.
        if let leftover { throw Failure(message: String(HTTPRuleParser.misplaced) + leftover) }
        return reply
    }

    /// HAProxy's checks once the words are read, by kind of payload.
    private static func finish(_ s: ParserState, _ reply: inout HTTPReply, payload: Payload, payloadWord: String,
                               format: (String) throws -> FormatString) throws {
        switch payload {
        case .empty:
            if let type = reply.contentType {
                s.pendingWarnings.append("content-type '\(type)' ignored by the http reply because neither errorfile nor payload defined.")
                reply.contentType = nil
            }
            reply.body = .none
        case .defaultPages, .errorFile, .errorFiles:
            if case .errorFile = payload {} else if !ErrorPagesParser.codes.contains(reply.status) {
                throw Failure(message: "status code '\(reply.status)' not handled by default with '\(payloadWord)' argument.")
            }
            if let type = reply.contentType {
                // (HAProxy's spelling.)
                s.pendingWarnings.append("content-type '\(type)' ignored by the http reply when used with an erorrfile.")
                reply.contentType = nil
            }
            if !reply.headers.isEmpty {
                s.pendingWarnings.append("hdr parameters ignored by the http reply when used with an erorrfile.")
                reply.headers = []
            }
            switch payload {
            case .errorFile(let bytes): reply.body = .errorFile(bytes)
            case .errorFiles:
                throw Failure(message: "'errorfiles' (http-errors sections) is valid in HAProxy but not supported by proxyd yet")
            default: reply.body = .defaultErrorFile
            }
        case .raw(let bytes, let isString):
            if [204, 304].contains(reply.status), !bytes.isEmpty {
                throw Failure(message: "No body expected for \(reply.status) responses")
            }
            if reply.contentType == nil, !bytes.isEmpty {
                throw Failure(message: "a content type must be defined when non-empty payload is configured")
            }
            if let type = reply.contentType, bytes.isEmpty {
                s.pendingWarnings.append("content-type '\(type)' ignored by the http reply when used with an empty payload.")
                reply.contentType = nil
            }
            let room = s.global.bufferSize - bytes.count
            if room < (s.global.maxRewrite ?? 1024) {
                s.pendingWarnings.append("http reply payload runs over the buffer space reserved to headers rewriting. "
                    + "It may lead to internal errors if strict rewriting mode is enabled.")
            }
            reply.body = isString ? .string(String(decoding: bytes, as: UTF8.self)) : .file(bytes)
        case .logFormat(let text):
            if [204, 304].contains(reply.status) {
                throw Failure(message: "No body expected for \(reply.status) responses")
            }
            guard reply.contentType != nil else {
                throw Failure(message: "a content type must be defined with a log-format payload")
            }
            reply.body = .logFormat(try format(text))
        }
    }
}

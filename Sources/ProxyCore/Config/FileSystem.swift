import Glibc

/// The few file-system operations the loader needs, on Glibc (no Foundation in ProxyCore).
enum FileSystem {
    enum Kind { case file, directory, other }

    static func kind(_ path: String) -> Kind? {
        if LoaderIsolation.enabled { return nil }
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        switch st.st_mode & S_IFMT {
        case S_IFREG: return .file
        case S_IFDIR: return .directory
        default: return .other
        }
    }

    static func exists(_ path: String) -> Bool { kind(path) != nil }

    static func lastError() -> String { String(cString: strerror(errno)) }

    /// The whole file, or the `strerror` text.
    static func read(_ path: String) -> Result<[UInt8], FileError> {
        if LoaderIsolation.enabled { return .failure(FileError(message: String(cString: strerror(ENOENT)))) }
        guard let f = fopen(path, "rb") else { return .failure(FileError(message: lastError())) }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
            if n > 0 { out.append(contentsOf: buffer[0..<n]) }
            if n < buffer.count {
                if ferror(f) != 0 { return .failure(FileError(message: lastError())) }
                break
            }
        }
        return .success(out)
    }

    struct FileError: Error { var message: String }

    /// Entries of a directory (names only), unsorted; nil when it cannot be opened.
    static func list(_ path: String) -> [String]? {
        if LoaderIsolation.enabled { return nil }
        guard let d = opendir(path) else { return nil }
        defer { closedir(d) }
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafePointer(to: e.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

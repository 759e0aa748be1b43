#if canImport(Glibc)
import Glibc
#endif
import XCTest
@testable import VRRPCore

/// The query socket's file: put in place by rename (never absent while replaced), removed
/// on exit only while it is still ours, and never taken from a live server.
final class QuerySocketTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "vrrpt-q-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func inode(_ path: String) -> UInt64? {
        var st = stat()
        return stat(path, &st) == 0 ? UInt64(st.st_ino) : nil
    }

    func testReplacesAStaleSocketAndLeavesNoTemporaryFile() throws {
        let path = dir + "/vrrpd.sock"
        // A socket file whose server is gone (a SIGKILLed run): connect is refused.
        let stale = try QueryServer(path: path)
        Glibc.close(stale.fd)
        stale.bound = nil
        let staleInode = inode(path)
        XCTAssertFalse(QueryServer.answers(path))

        let live = try QueryServer(path: path)
        XCTAssertTrue(QueryServer.answers(path))
        XCTAssertNotEqual(inode(path), staleInode, "the stale socket was not replaced")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["vrrpd.sock"], "temporary name left behind")
        var st = stat()
        XCTAssertEqual(stat(path, &st), 0)
        XCTAssertEqual(st.st_mode & 0o777, 0o600)
        live.close()
        XCTAssertNil(inode(path), "its own socket is removed on exit")
    }

    func testALiveServerIsRefusedNotStolen() throws {
        let path = dir + "/vrrpd.sock"
        let live = try QueryServer(path: path)
        defer { live.close() }
        let before = inode(path)
        XCTAssertThrowsError(try QueryServer(path: path)) { e in
            XCTAssertTrue("\(e)".contains("is in use by another running vrrpd"), "\(e)")
        }
        XCTAssertEqual(inode(path), before)
        XCTAssertTrue(QueryServer.answers(path))
    }

    /// A newer daemon put its socket at the path (a restart, a respawned VRRP child): the
    /// older one's exit must not remove it.
    func testExitLeavesAPathThatIsNoLongerOurs() throws {
        let path = dir + "/vrrpd.sock"
        let old = try QueryServer(path: path)
        let replacement = dir + "/other"
        XCTAssertTrue(FileManager.default.createFile(atPath: replacement, contents: Data("newer".utf8)))
        XCTAssertEqual(rename(replacement, path), 0)
        let newer = inode(path)
        old.close()
        XCTAssertEqual(inode(path), newer, "the exiting server removed a path that is no longer its socket")
    }

    func testTemporaryNameStaysInTheDirectoryAndFitsSunPath() {
        XCTAssertEqual(QueryServer.temporaryName(for: "/run/vrrpd.sock"), "/run/.vrrpd.sock.\(getpid())")
        XCTAssertEqual(QueryServer.temporaryName(for: "vrrpd.sock"), ".vrrpd.sock.\(getpid())")
        let long = "/" + String(repeating: "d", count: 80) + "/" + String(repeating: "s", count: 20)
        XCTAssertEqual(QueryServer.temporaryName(for: long), "/" + String(repeating: "d", count: 80) + "/.vq\(getpid())")
        XCTAssertNil(QueryServer.temporaryName(for: "/" + String(repeating: "d", count: 110) + "/x"))
    }
}

import Glibc
import XCTest
@testable import ProxyCore

/// The words of an accept that fails for want of descriptors or memory. EMFILE is checked
/// beside HAProxy in DataPathFaultTests; the system-wide ones cannot be provoked by a
/// test, so their words (HAProxy 2.6's) are pinned here.
final class ResourceShortageLogTests: XCTestCase {
    func testHAProxyWordsForEachError() {
        XCTAssertEqual(ResourceShortageLog.message(frontend: "web", error: EMFILE, maxsock: 2028),
                       "Proxy web reached process FD limit (maxsock=2028). Please check 'ulimit-n' and restart.")
        XCTAssertEqual(ResourceShortageLog.message(frontend: "web", error: ENFILE, maxsock: 2028),
                       "Proxy web reached system FD limit (maxsock=2028). Please check system tunables.")
        for error in [ENOBUFS, ENOMEM] {
            XCTAssertEqual(ResourceShortageLog.message(frontend: "web", error: error, maxsock: 40),
                           "Proxy web reached system memory limit (maxsock=40). Please check system tunables.")
        }
        // Anything else is not one of these (and is not logged this way).
        XCTAssertNil(ResourceShortageLog.message(frontend: "web", error: EPERM, maxsock: 40))
    }

    /// `maxsock` is the descriptor limit `show info` reports.
    func testMaxsockIsTheDescriptorLimit() {
        var limit = rlimit()
        XCTAssertEqual(getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit), 0)
        XCTAssertEqual(ResourceShortageLog.maxsock, Int(min(limit.rlim_cur, rlim_t(Int32.max))))
    }
}

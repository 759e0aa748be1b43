import XCTest
final class ProxyCoreTestsSmoke: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }

import XCTest
final class VRRPCoreTestsSmoke: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }

import XCTest
final class ProxydIntegrationTestsSmoke: XCTestCase { func testBuilds() { XCTAssertTrue(true) } }

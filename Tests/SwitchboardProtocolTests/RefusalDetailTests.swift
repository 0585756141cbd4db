import Foundation
import Testing

@testable import SwitchboardProtocol

/// The details the hub sends are the ones the specs document, and each decoder error has one.
@Suite("Refusal details")
struct RefusalDetailTests {
    static let protocols = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("protocols")

    @Test("every decoder error maps to the detail of the same name")
    func decoderErrors() {
        for code in ProtocolError.Code.allCases { #expect(RefusalDetail(code).rawValue == code.rawValue) }
    }

    @Test("every detail the hub sends is documented in gateway.md or worker.md")
    func documented() throws {
        let specs = try ["gateway.md", "worker.md"].map {
            try String(contentsOf: Self.protocols.appendingPathComponent($0), encoding: .utf8)
        }.joined()
        for detail in RefusalDetail.allCases {
            #expect(specs.contains("`\(detail.rawValue)`"), "protocols/ does not document the detail \(detail.rawValue)")
        }
    }
}

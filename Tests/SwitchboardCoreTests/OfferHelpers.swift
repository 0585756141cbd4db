@testable import SwitchboardCore

/// The offers among a dispatcher's actions, as (worker peer name, delivery id): the tests name
/// their peers by their worker ids.
func namedOffers(_ actions: [DispatchAction]) -> [(String, Int64)] {
    actions.compactMap { if case .offer(let peer, let task) = $0 { (String(decoding: peer.bytes, as: UTF8.self), task.deliveryID) } else { nil } }
}

import CZeroMQ

/// The ZeroMQ socket patterns Switchboard uses.
public enum SocketType: Sendable {
    case router, dealer, pair, rep

    var rawValue: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .pair: ZMQ_PAIR
        case .rep: ZMQ_REP
        }
    }
}

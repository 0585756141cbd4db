import CZeroMQ

/// The ZeroMQ socket patterns Switchboard uses.
public enum SocketType: Sendable {
    case router, dealer, pair, rep, pub, sub, xpub

    var rawValue: Int32 {
        switch self {
        case .router: ZMQ_ROUTER
        case .dealer: ZMQ_DEALER
        case .pair: ZMQ_PAIR
        case .rep: ZMQ_REP
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .xpub: ZMQ_XPUB
        }
    }
}

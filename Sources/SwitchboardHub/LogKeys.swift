/// Log metadata keys, named once so logs can be searched by them.
enum LogKey {
    static let gateway = "switchboard.gateway"
    static let worker = "switchboard.worker"
    static let messageID = "switchboard.message_id"
    static let deliveryID = "switchboard.delivery_id"
    static let code = "switchboard.code"
    static let queue = "switchboard.queue"
    /// A gateway's or worker's name, where either may be meant.
    static let peer = "switchboard.peer"
}

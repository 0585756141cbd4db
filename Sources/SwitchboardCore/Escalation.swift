import HeapModule
import SwitchboardProtocol

/// One step of a queue's escalation: when a waiting task has used `atPercent` of its service-level
/// time, the step acts on it. Steps act in order, each once, and each is written and published as
/// an `escalated` event.
public struct EscalationStep: Sendable, Equatable, Codable {
    /// Percent of the time from receipt to deadline (80: at four fifths; 100: at the deadline; 150: well past it).
    public var atPercent: Int
    /// Raise the priority by this much (at most 9).
    public var raisePriority: Int?
    /// Drop the language and required skills: any worker of the queue may take it.
    public var relax: Bool
    /// Move it to another queue (overflow).
    public var overflowTo: String?

    public init(atPercent: Int, raisePriority: Int? = nil, relax: Bool = false, overflowTo: String? = nil) {
        self.atPercent = atPercent
        self.raisePriority = raisePriority
        self.relax = relax
        self.overflowTo = overflowTo
    }

    enum CodingKeys: String, CodingKey {
        case atPercent = "at_percent"
        case raisePriority = "raise_priority"
        case relax
        case overflowTo = "overflow_to"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        atPercent = try container.decode(Int.self, forKey: .atPercent)
        raisePriority = try container.decodeIfPresent(Int.self, forKey: .raisePriority)
        relax = try container.decodeIfPresent(Bool.self, forKey: .relax) ?? false
        overflowTo = try container.decodeIfPresent(String.self, forKey: .overflowTo)
        guard atPercent > 0 else {
            throw DecodingError.dataCorruptedError(forKey: .atPercent, in: container, debugDescription: "at_percent must be positive")
        }
        guard raisePriority != nil || relax || overflowTo != nil else {
            throw DecodingError.dataCorruptedError(
                forKey: .atPercent, in: container, debugDescription: "an escalation step must raise_priority, relax or overflow_to")
        }
    }

    /// What the step does, for the event's detail.
    var description: String {
        var parts: [String] = []
        if let raisePriority { parts.append("priority +\(raisePriority)") }
        if relax { parts.append("language and skills relaxed") }
        if let overflowTo { parts.append("overflow to \(overflowTo)") }
        return "at \(atPercent) % of the service level: " + parts.joined(separator: ", ")
    }

    /// When it acts on a task received at `receivedAt` and due at `deadline` (Unix ms).
    func due(receivedAt: Int64, deadline: Int64) -> Int64 {
        receivedAt + max(deadline - receivedAt, 0) * Int64(atPercent) / 100
    }
}

extension Dispatcher {
    /// Rebuilds a lane's heap from the entries whose task is still waiting in it, as it was filed.
    mutating func dropStaleEntries(of lane: Lane) {
        guard let heap = ready[lane] else { return }
        let live = heap.unordered.filter { isLive($0, in: lane) }
        readyEntries[lane.queue, default: 0] -= heap.count - live.count
        ready[lane] = Heap(live)
    }

    /// Whether a ready entry still stands for its task: waiting, in this lane, with this urgency.
    func isLive(_ entry: ReadyEntry, in lane: Lane) -> Bool {
        guard let task = waiting[entry.urgency.deliveryID] else { return false }
        return task.urgency == entry.urgency && task.lane == lane
    }
}

/// A waiting task's next escalation, in time order.
struct EscalationDue: Comparable {
    var at: Int64
    var deliveryID: Int64
    static func < (lhs: EscalationDue, rhs: EscalationDue) -> Bool { (lhs.at, lhs.deliveryID) < (rhs.at, rhs.deliveryID) }
}

extension Dispatcher {
    /// Files a ready task's next escalation step, if its queue has one left for it.
    mutating func fileEscalation(_ task: DispatchTask) {
        guard let steps = escalationSteps[task.queue], task.escalations < steps.count else { return }
        // Entries of tasks offered (or gone) meanwhile are left in the heap until due; when they
        // outnumber the waiting tasks, they are dropped, so the heap stays within the windows.
        if escalationsDue.count > 2 * waiting.count + 1024 {
            escalationsDue = Heap(escalationsDue.unordered.filter { waiting[$0.deliveryID] != nil })
        }
        let at = steps[task.escalations].due(receivedAt: task.payload.interaction.receivedAt, deadline: task.deadline)
        escalationsDue.insert(EscalationDue(at: at, deliveryID: task.deliveryID))
    }

    /// Applies the steps that are due to the tasks still waiting, and writes each.
    mutating func escalate(now: Int64) -> [DispatchAction] {
        var actions: [DispatchAction] = []
        // The lanes tasks left: their entries there are dropped at the end, since a lane nobody
        // can serve (often why its tasks escalate) would otherwise keep them, and count them.
        var left: Set<Lane> = []
        defer { for lane in left { dropStaleEntries(of: lane) } }
        while let next = escalationsDue.min, next.at <= now {
            escalationsDue.removeMin()
            guard var task = waiting[next.deliveryID], let steps = escalationSteps[task.queue], task.escalations < steps.count else { continue }
            let step = steps[task.escalations]
            guard step.due(receivedAt: task.payload.interaction.receivedAt, deadline: task.deadline) <= now else { continue }
            left.insert(task.lane)
            waiting[task.deliveryID] = nil
            if let raise = step.raisePriority { task.priority = min(9, task.priority + raise) }
            if step.relax { task.relaxed = true }
            if let queue = step.overflowTo { task.queue = queue }
            task.escalations += 1
            actions.append(
                persist(
                    .escalated(
                        deliveryID: task.deliveryID, queue: task.queue, priority: task.priority, relaxed: task.relaxed, escalations: task.escalations,
                        detail: step.description)))
            admit(task, now: now)
        }
        return actions
    }
}

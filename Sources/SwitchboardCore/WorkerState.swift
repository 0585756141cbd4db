import SwitchboardProtocol

/// What the dispatcher knows of one connected worker.
struct WorkerState {
    var peer: PeerID
    var registration: Ready
    /// Deliveries this worker holds now.
    var held: Set<Int64> = []
    /// Last time anything arrived from it, Unix milliseconds.
    var lastSeen: Int64
    /// Since when it has had no task, for "longest idle first".
    var idleSince: Int64
    /// After BYE: finishes what it holds, gets nothing new.
    var draining = false
    /// Until the store has said which of its `holding` it still holds, it gets nothing new.
    var lookingUpHeld = false
    /// It declined an offer as full with another hub's tasks: nothing new until it is heard from again.
    var busy = false
    /// It sends ACCEPT (READY's `accepts`, or it sent one): its offers time out.
    var sendsAccept: Bool
    /// READY's skills and languages (lower case), as sets to test tasks' needs against.
    let skills: Set<String>
    let languages: Set<String>

    init(peer: PeerID, registration: Ready, lastSeen: Int64, idleSince: Int64) {
        self.peer = peer
        self.registration = registration
        self.lastSeen = lastSeen
        self.idleSince = idleSince
        sendsAccept = registration.accepts
        skills = Set(registration.skills)
        languages = Set(registration.languages.map { $0.lowercased() })
    }

    var freeCapacity: Int { draining || lookingUpHeld || busy ? 0 : registration.capacity - held.count }

    func serves(_ queue: String) -> Bool { registration.queues.contains(queue) }

    /// Whether it may be offered the tasks of this lane.
    func qualifies(for lane: Lane) -> Bool {
        serves(lane.queue) && TaskNeeds.admit(language: lane.language, skills: lane.skills, workerSkills: skills, workerLanguages: languages)
    }
}

/// A task a worker holds, until it answers or its lease runs out.
struct OfferedTask {
    var task: DispatchTask
    var peer: PeerID?
    var workerID: String
    var leaseUntil: Int64
    /// For a worker that sends ACCEPT: when the offer times out unless accepted or completed.
    var acceptBy: Int64? = nil
}

/// One queue's in-memory window of ready deliveries, most urgent first.
struct ReadyEntry: Comparable {
    var urgency: Urgency
    static func < (lhs: ReadyEntry, rhs: ReadyEntry) -> Bool { lhs.urgency < rhs.urgency }
}

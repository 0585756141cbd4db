import Foundation
import Glibc
import Postgres

/// Whose CPU time a benchmark scenario spent, read from Linux's /proc in nanoseconds: the hub's process,
/// PostgreSQL's (its postmaster and every process under it, those that exited meanwhile
/// included), this load generator's own process, and the machine's cores. A figure read beside
/// it says whether the cores were the bound, and whose work filled them.
final class CPUMeter {
    /// PostgreSQL's postmaster, when the cluster runs on this machine; nil otherwise.
    let postmaster: Int32?

    /// Finds the postmaster as the parent of `connection`'s backend, when that backend is a
    /// PostgreSQL process of this machine.
    init(connection: Connection) {
        let backend = (try? connection.query("SELECT pg_backend_pid()").scalar()).flatMap { $0.flatMap { Int32($0) } }
        guard let backend, Self.isPostgres(backend), let stat = ProcessStat.read(backend), Self.isPostgres(stat.parent) else {
            postmaster = nil
            return
        }
        postmaster = stat.parent
    }

    /// The CPU counters now; `hubs` are the measured hubs' processes (summed), if any run.
    func sample(hubs: [Int32] = []) -> CPUSample {
        let hubTimes = hubs.map(ProcessStat.cpuNanoseconds)
        return CPUSample(
            wallNanoseconds: DispatchTime.now().uptimeNanoseconds, machine: MachineStat.read(),
            hub: hubs.isEmpty || hubTimes.contains(nil) ? nil : hubTimes.reduce(0) { $0 + $1! }, postgres: postmaster.flatMap(Self.treeNanoseconds),
            loadGenerator: Self.ownNanoseconds())
    }

    /// Runs `body` and adds the CPU it took to `use`.
    func measure<T>(_ use: inout CPUUse, hub: Int32? = nil, _ body: () throws -> T) rethrows -> T {
        try measure(&use, hubs: hub.map { [$0] } ?? [], body)
    }

    /// Runs `body` and adds the CPU it took to `use`, with every hub's CPU as the hub's.
    func measure<T>(_ use: inout CPUUse, hubs: [Int32], _ body: () throws -> T) rethrows -> T {
        let before = sample(hubs: hubs)
        let result = try body()
        use.add(from: before, to: sample(hubs: hubs))
        return result
    }

    /// The CPU time of `root` and of every process under it that has run: its children's that
    /// exited and were waited for are in its own counters (in clock ticks only), the living ones'
    /// are read one by one.
    private static func treeNanoseconds(_ root: Int32) -> UInt64? {
        guard let stat = ProcessStat.read(root), let own = ProcessStat.cpuNanoseconds(root) else { return nil }
        var total = own + stat.waitedChildren * ProcessStat.nanosecondsPerTick
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for entry in entries {
            guard let pid = Int32(entry), ProcessStat.read(pid)?.parent == root, let child = ProcessStat.cpuNanoseconds(pid) else { continue }
            total += child
        }
        return total
    }

    /// This process's CPU time, its gateway and worker threads that ended included (they do,
    /// after each run, so the threads listed in /proc would miss them).
    private static func ownNanoseconds() -> UInt64 {
        var usage = rusage()
        guard getrusage(RUSAGE_SELF.rawValue, &usage) == 0 else { return 0 }
        func nanoseconds(_ time: timeval) -> UInt64 { UInt64(time.tv_sec) * 1_000_000_000 + UInt64(time.tv_usec) * 1000 }
        return nanoseconds(usage.ru_utime) + nanoseconds(usage.ru_stime)
    }

    private static func isPostgres(_ pid: Int32) -> Bool {
        (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("postgres") ?? false
    }
}

/// One process's line of /proc/PID/stat, the fields the meter reads.
struct ProcessStat: Equatable {
    var parent: Int32
    /// User and system time of the process (all its threads), in clock ticks.
    var own: UInt64
    /// The same of its children that exited and were waited for.
    var waitedChildren: UInt64

    static let nanosecondsPerTick = UInt64(1_000_000_000 / sysconf(Int32(_SC_CLK_TCK)))

    static func read(_ pid: Int32) -> ProcessStat? {
        (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)).flatMap(parse)
    }

    /// The time `pid`'s threads have run, in nanoseconds: the scheduler's own count of each
    /// (/proc/PID/task/TID/schedstat), as a stretch of a tenth of a second is a few clock ticks;
    /// the ticks of /proc/PID/stat where the kernel keeps no such count. Threads that ended are
    /// not counted: for the hub's and PostgreSQL's processes, whose threads live as long as they do.
    static func cpuNanoseconds(_ pid: Int32) -> UInt64? {
        let threads = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var total: UInt64 = 0
        for thread in threads {
            guard let line = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/schedstat", encoding: .utf8),
                let running = line.split(separator: " ").first.flatMap({ UInt64($0) })
            else { return read(pid).map { $0.own * nanosecondsPerTick } }
            total += running
        }
        return threads.isEmpty ? nil : total
    }

    /// The command name, in parentheses, may hold spaces and parentheses itself: the fields are
    /// counted from after its last closing one (proc(5): state, ppid, …, utime is the 14th field).
    static func parse(_ line: String) -> ProcessStat? {
        guard let close = line.lastIndex(of: ")") else { return nil }
        let fields = line[line.index(after: close)...].split(separator: " ")
        guard fields.count > 14, let parent = Int32(fields[1]), let user = UInt64(fields[11]), let system = UInt64(fields[12]),
            let childUser = UInt64(fields[13]), let childSystem = UInt64(fields[14])
        else { return nil }
        return ProcessStat(parent: parent, own: user + system, waitedChildren: childUser + childSystem)
    }
}

/// The machine's line of /proc/stat, all cores together, in clock ticks (only its shares are read).
struct MachineStat: Equatable {
    /// User, nice, system, IRQ and soft-IRQ time.
    var busy: UInt64 = 0
    /// Time the hypervisor gave this machine's cores to others: neither busy here nor idle.
    var stolen: UInt64 = 0
    /// Everything, idle and waiting for I/O included.
    var total: UInt64 = 0

    static func read() -> MachineStat {
        (try? String(contentsOfFile: "/proc/stat", encoding: .utf8)).flatMap(parse) ?? MachineStat()
    }

    static func parse(_ text: String) -> MachineStat? {
        guard let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        // user nice system idle iowait irq softirq steal (guest time is already in user).
        let values = line.split(separator: " ").dropFirst().prefix(8).compactMap { UInt64($0) }
        guard values.count == 8 else { return nil }
        let busy = values[0] + values[1] + values[2] + values[5] + values[6]
        return MachineStat(busy: busy, stolen: values[7], total: values.reduce(0, +))
    }
}

struct CPUSample {
    var wallNanoseconds: UInt64
    var machine: MachineStat
    var hub: UInt64?
    var postgres: UInt64?
    var loadGenerator: UInt64
}

/// CPU time spent over one or more stretches of a run (`CPUMeter.measure`), by whom, in
/// nanoseconds (the machine's in clock ticks); nil where that part was not running or not on this machine.
struct CPUUse {
    var wallSeconds = 0.0
    var machine = MachineStat()
    var hub: UInt64?
    var postgres: UInt64?
    var loadGenerator: UInt64 = 0
    private var stretches = 0

    mutating func add(from before: CPUSample, to after: CPUSample) {
        wallSeconds += Double(after.wallNanoseconds - before.wallNanoseconds) / 1e9
        machine.busy += after.machine.busy &- before.machine.busy
        machine.stolen += after.machine.stolen &- before.machine.stolen
        machine.total += after.machine.total &- before.machine.total
        hub = sum(hub, before.hub, after.hub)
        postgres = sum(postgres, before.postgres, after.postgres)
        loadGenerator += after.loadGenerator &- before.loadGenerator
        stretches += 1
    }

    /// A part missing from any stretch is left out (nil) rather than counted as idle there.
    private func sum(_ total: UInt64?, _ start: UInt64?, _ end: UInt64?) -> UInt64? {
        guard let start, let end, stretches == 0 || total != nil else { return nil }
        return (total ?? 0) + (end >= start ? end - start : 0)
    }

    /// Cores' worth of CPU a part used on average (CPU seconds per second of the stretches).
    func cores(_ nanoseconds: UInt64?) -> Double? {
        guard let nanoseconds, wallSeconds > 0 else { return nil }
        return Double(nanoseconds) / 1e9 / wallSeconds
    }

    /// Microseconds of CPU a part spent per item (message or row) of the stretches.
    func microseconds(_ nanoseconds: UInt64?, per items: Int) -> Double? {
        guard let nanoseconds, items > 0 else { return nil }
        return Double(nanoseconds) / 1e3 / Double(items)
    }

    /// The share of the machine's cores that were busy, and the share stolen by the hypervisor.
    var machineBusy: Double { machine.total > 0 ? Double(machine.busy) / Double(machine.total) : 0 }
    var machineStolen: Double { machine.total > 0 ? Double(machine.stolen) / Double(machine.total) : 0 }
}

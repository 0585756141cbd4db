import ArgumentParser
import Glibc
import Logging
import SwitchboardHub

/// Raised by SIGTERM/SIGINT; the hub loop polls it and drains.
let shutdownSignal = StopSignal()
/// Raised by SIGHUP; the hub reads its allow-lists again.
let reloadSignal = StopSignal()

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the hub until SIGTERM or SIGINT (systemd: Type=notify); SIGHUP reloads the configuration and key allow-lists.",
        discussion: """
            Checks that the database schema is current (run 'switchboard migrate' first), recovers \
            pending and in-flight deliveries, then serves gateways and workers. On SIGTERM it drains: \
            new messages are answered NACK unavailable (hub_draining), nothing more is offered, and \
            it serves on until workers have answered the tasks they hold and every message taken is \
            committed, for up to drain_timeout_ms; then it writes what is decided and exits 0.
            """)

    @OptionGroup var options: CommonOptions

    func run() throws {
        let logger = options.makeLogger(label: "switchboard.hub")
        let config = try options.loadConfig()
        installShutdownHandlers()
        let hub = Hub(config: config, logger: logger)
        do {
            try hub.run(stop: shutdownSignal, reload: reloadSignal, loadConfig: { try options.loadConfig() })
        } catch {
            logger.critical("hub failed: \(error)")
            throw ExitCode(1)
        }
    }
}

/// SIGTERM and SIGINT raise `shutdownSignal`, SIGHUP `reloadSignal`. They are unblocked first: a parent may have started
/// us with them blocked (posix_spawn passes the spawning thread's mask on), and a daemon that
/// cannot be stopped is worse than one that dies.
func installShutdownHandlers() {
    signal(SIGTERM) { _ in shutdownSignal.raise() }
    signal(SIGINT) { _ in shutdownSignal.raise() }
    signal(SIGHUP) { _ in reloadSignal.raise() }
    signal(SIGPIPE, SIG_IGN)
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGTERM)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGHUP)
    pthread_sigmask(SIG_UNBLOCK, &set, nil)
}

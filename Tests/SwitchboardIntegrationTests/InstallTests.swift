import Foundation
import Testing

@Suite("make install and make uninstall: the files an operator's host needs, a unit systemd accepts and keeps confined")
struct InstallTests {
    static let root = DeployTests.root

    @Test(
        "make install into a DESTDIR lays out binaries, unit, sysusers, tmpfiles, config and man page; the unit verifies and exposes 2.0 or less; uninstall removes it, config kept"
    )
    func installUninstall() throws {
        let binary = try #require(ProcessInfo.processInfo.environment["SWITCHBOARD_BIN"], "run with 'make test'")
        let destdir = FileManager.default.temporaryDirectory.appendingPathComponent("swb-install-\(UUID().uuidString)").path
        let from = URL(fileURLWithPath: binary).deletingLastPathComponent().path
        let install = try runProgram("/usr/bin/env", ["make", "-s", "-C", Self.root.path, "install", "DESTDIR=\(destdir)", "INSTALL_FROM=\(from)"])
        #expect(install.status == 0, "\(install.output)")
        for file in [
            "usr/local/bin/switchboard", "usr/local/bin/switchboard-bench", "usr/local/lib/systemd/system/switchboard.service",
            "usr/local/lib/sysusers.d/switchboard.conf", "usr/local/lib/tmpfiles.d/switchboard.conf", "etc/switchboard/switchboard.yaml",
            "etc/switchboard/switchboard.yaml.example", "usr/local/share/man/man1/switchboard.1", "usr/local/share/doc/switchboard/README.md",
            "usr/local/share/doc/switchboard/DEPLOY.md", "usr/local/share/doc/switchboard/protocols/gateway.md",
        ] {
            #expect(FileManager.default.fileExists(atPath: "\(destdir)/\(file)"), "\(file)")
        }
        #expect(FileManager.default.isExecutableFile(atPath: "\(destdir)/usr/local/bin/switchboard"))
        let unitPath = "\(destdir)/usr/local/lib/systemd/system/switchboard.service"
        let unit = try String(contentsOfFile: unitPath, encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/bin/switchboard serve --config /etc/switchboard/switchboard.yaml"))
        // The man page holds every command's help, and renders.
        let man = try runProgram("/usr/bin/env", ["man", "-l", "-P", "cat", "\(destdir)/usr/local/share/man/man1/switchboard.1"])
        #expect(man.status == 0, "\(man.output)")
        for command in ["SWITCHBOARD SERVE", "SWITCHBOARD CUSTOMER", "SWITCHBOARD COMPLAINTS", "drain_timeout_ms"] {
            #expect(man.output.contains(command), "\(command)")
        }

        // The installed unit as it reads once the staged tree is on /: its binary found under DESTDIR.
        let staged = FileManager.default.temporaryDirectory.appendingPathComponent("swb-staged-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: staged, withIntermediateDirectories: true)
        let stagedUnit = staged.appendingPathComponent("switchboard.service").path
        try unit.replacingOccurrences(of: "/usr/local/bin/switchboard", with: "\(destdir)/usr/local/bin/switchboard")
            .write(toFile: stagedUnit, atomically: true, encoding: .utf8)
        let verify = try runProgram("/usr/bin/env", ["systemd-analyze", "verify", stagedUnit])
        #expect(verify.status == 0 && verify.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(verify.output)")
        let security = try runProgram("/usr/bin/env", ["systemd-analyze", "security", "--offline=true", stagedUnit])
        let exposure = security.output.split(separator: "\n").last { $0.contains("Overall exposure level") }
            .flatMap { line in line.split(separator: " ").compactMap { Double($0) }.first }
        #expect(exposure != nil && exposure! <= 2.0, "\(security.output.suffix(300))")

        // An operator's edited configuration survives a reinstall and an uninstall.
        try "# edited\n".write(toFile: "\(destdir)/etc/switchboard/switchboard.yaml", atomically: true, encoding: .utf8)
        #expect(
            try runProgram("/usr/bin/env", ["make", "-s", "-C", Self.root.path, "install", "DESTDIR=\(destdir)", "INSTALL_FROM=\(from)"]).status == 0)
        let uninstall = try runProgram("/usr/bin/env", ["make", "-s", "-C", Self.root.path, "uninstall", "DESTDIR=\(destdir)"])
        #expect(uninstall.status == 0, "\(uninstall.output)")
        #expect(!FileManager.default.fileExists(atPath: "\(destdir)/usr/local/bin/switchboard"))
        #expect(!FileManager.default.fileExists(atPath: unitPath))
        #expect(!FileManager.default.fileExists(atPath: "\(destdir)/usr/local/share/man/man1/switchboard.1"))
        #expect(try String(contentsOfFile: "\(destdir)/etc/switchboard/switchboard.yaml", encoding: .utf8) == "# edited\n")
    }
}

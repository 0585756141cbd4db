import ArgumentParser
import Foundation
import SwitchboardProtocol
import ZeroMQ

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a CURVE key pair: NAME.key (secret, mode 0600) and NAME.pub (one allow-list line).",
        discussion: """
            For the hub: point server_key_file at hub.key and give hub.pub's key to every gateway and \
            worker. For a gateway or worker: append its NAME.pub to the hub's gateway_keys_file or \
            worker_keys_file and send the hub SIGHUP (systemctl reload switchboard). A gateway's NAME is \
            the name its messages are stored under. Existing files are never overwritten.
            """)

    @Argument(help: "The key's name: the hub, a gateway's name, or a worker's name (printable ASCII, no spaces).")
    var name: String

    @Option(help: "Folder to write the two files into.")
    var directory: String = "."

    func validate() throws {
        guard (1...128).contains(name.utf8.count), name.utf8.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "/") }) else {
            throw ValidationError("name must be 1 to 128 printable ASCII characters, without spaces or '/'")
        }
    }

    func run() throws {
        let pair = try CurveKeyPair.generate()
        let file = CurveKeyFile(publicKey: pair.publicKey, secretKey: pair.secretKey)
        let folder = URL(fileURLWithPath: directory, isDirectory: true)
        let secretPath = folder.appendingPathComponent("\(name).key").path
        let publicPath = folder.appendingPathComponent("\(name).pub").path
        for path in [secretPath, publicPath] where FileManager.default.fileExists(atPath: path) {
            throw ValidationError("\(path) exists; keys are never overwritten (remove it first if you mean to replace it)")
        }
        // Created with 0600 from the start: the secret key is never readable by others, not even briefly.
        guard
            FileManager.default.createFile(
                atPath: secretPath, contents: Data(file.secretFileText(name: name).utf8), attributes: [.posixPermissions: 0o600])
        else { throw ValidationError("cannot write \(secretPath)") }
        try file.publicFileText(name: name).write(toFile: publicPath, atomically: true, encoding: .utf8)
        print("wrote \(secretPath) (secret) and \(publicPath)")
        print(file.publicFileText(name: name), terminator: "")
    }
}

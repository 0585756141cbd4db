import SwitchboardConfig
import SwitchboardProtocol

/// One fuzz input: the SWB/1 decoder (with the re-encoding property), the strict JSON parser
/// and the configuration parser must reject bad input with an error, never crash.
///
/// Input layout: byte 0 selects the target; the rest is split into frames, each prefixed by a
/// one-byte length (a short last frame takes what is left).
func fuzzOne(_ data: [UInt8]) {
    guard let selector = data.first else { return }
    let rest = Array(data.dropFirst())
    switch selector % 3 {
    case 0:
        let frames = splitFrames(rest)
        guard let command = try? Codec.decode(frames, limits: DecodingLimits(maxBodyBytes: 4096)) else { return }
        let encoded = Codec.encode(command)
        guard let again = try? Codec.decode(encoded, limits: DecodingLimits(maxBodyBytes: 4096)), again == command else {
            fatalError("decoded command does not survive re-encoding: \(command)")
        }
        precondition(Codec.encode(again) == encoded, "re-encoding is not deterministic")
    case 1:
        guard let value = try? JSONParser.parse(rest) else { return }
        precondition((try? JSONParser.parse(JSONWriter.bytes(value))) == value, "JSON does not survive re-writing")
    default:
        guard let text = String(validating: rest, as: UTF8.self) else { return }
        _ = try? HubConfig.parse(yaml: text)
    }
}

func splitFrames(_ bytes: [UInt8]) -> [[UInt8]] {
    var frames: [[UInt8]] = []
    var index = 0
    while index < bytes.count {
        let length = Int(bytes[index])
        index += 1
        let end = min(bytes.count, index + length)
        frames.append(Array(bytes[index..<end]))
        index = end
    }
    return frames
}

#if FUZZING
    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
        fuzzOne(Array(UnsafeBufferPointer(start: start, count: count)))
        return 0
    }
#else
    import Foundation

    /// Without the fuzzer: runs every file named on the command line (a corpus or a crash) through the target.
    @main
    struct ReplayCorpus {
        static func main() throws {
            var count = 0
            for path in CommandLine.arguments.dropFirst() {
                var isFolder: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: path, isDirectory: &isFolder)
                let files = isFolder.boolValue ? try FileManager.default.contentsOfDirectory(atPath: path).map { "\(path)/\($0)" } : [path]
                for file in files {
                    fuzzOne(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
                    count += 1
                }
            }
            print("\(count) inputs ran without a crash")
        }
    }
#endif

import Embedding
import LMDB
import LSHIndex
import Plumbing
import RedisCluster
import RedisStore
import TripIndex
import VectorIO
import VectorMath
import VectorStore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The inputs read from files, each fed arbitrary bytes by libFuzzer (`make fuzz`).
/// A target passes when every input ends in a value or a thrown error: a trap, an address
/// sanitizer report, a leak or a timeout is a finding.
enum FuzzTarget: String, CaseIterable {
  /// `.npy`: the header dictionary, shape arithmetic, every dtype.
  case npy
  /// `.vec` text: numbers, separators, line endings, dimension limits.
  case vec
  /// `.fvecs` / `.ivecs` / `.bvecs`: record headers and truncation (the first byte picks one).
  case texmex
  /// `labels.csv`: quoting, line breaks, UTF-8, integers.
  case labels
  /// A model file: the input is a 2-byte header length, the header, then the weights; the
  /// magic, length field and checksum are made valid, so the header's JSON, its sizes and the
  /// weights are what is tested.
  case model
  /// Every JSON the tool reads: the parser, then the LSH configuration it must describe.
  case json
  /// The two meta pages of an LMDB data file, read before the file is mapped.
  case datafile
  /// A query filter expression: the parser, then the filter on labelled and unlabelled items.
  case filter
  /// What a Redis node sends (RESP): hiredis's reader and the conversion a connection uses,
  /// then what the client and the store make of a reply: a `CLUSTER SLOTS` map, an item record,
  /// an index's parameters from a hash.
  case resp

  /// Runs one input.
  func run(_ bytes: UnsafeRawBufferPointer) {
    switch self {
    case .npy: readVectors(bytes, fileExtension: "npy")
    case .vec: readVectors(bytes, fileExtension: "vec")
    case .texmex:
      guard let first = bytes.first else { return }
      let kind = ["fvecs", "ivecs", "bvecs"][Int(first) % 3]
      readVectors(UnsafeRawBufferPointer(rebasing: bytes.dropFirst()), fileExtension: kind)
    case .labels:
      let path = Self.write(bytes, fileExtension: "csv")
      _ = try? LabelsFile(path: path)
    case .model:
      guard bytes.count >= 2 else { return }
      let headerLength = min(Int(bytes[0]) | Int(bytes[1]) << 8, bytes.count - 2)
      var file = EmbeddingModel.magic
      withUnsafeBytes(of: UInt32(headerLength).littleEndian) { file += $0 }
      file += bytes.dropFirst(2)
      var checksum = Fingerprint()
      file.withUnsafeBytes { checksum.add($0) }
      withUnsafeBytes(of: checksum.value.littleEndian) { file += $0 }
      _ = try? EmbeddingModel.decode(file, path: "fuzz.tpm")
    case .json:
      let text = String(decoding: bytes, as: UTF8.self)
      guard let value = try? JSONValue.parse(text) else { return }
      _ = value.serialized()
      if let configuration = LSHConfiguration(json: value) {
        _ = try? configuration.validated(forDimension: 64)
      }
    case .datafile:
      let directory = Self.write(bytes, fileExtension: "mdb")
      _ = try? DataFileHeader.read(path: directory)
    case .filter:
      guard let filter = try? ItemFilter.parse(String(decoding: bytes, as: UTF8.self)) else {
        return
      }
      for item in [
        StoredItem(id: 0, name: "", labels: ItemLabels()),
        StoredItem(id: 7, name: "0007_c2", labels: ItemLabels(pid: 7, camera: 2)),
        StoredItem(id: .max, name: "é", labels: ItemLabels(pid: .min, camera: .max)),
      ] {
        _ = filter.matches(item)
      }
    case .resp:
      for reply in RedisReply.replies(in: bytes, limit: 64).replies {
        readReply(reply)
      }
    }
  }

  /// Reads one reply as the client and the store read theirs.
  private func readReply(_ reply: RedisReply) {
    let node = RedisEndpoint(host: "127.0.0.1", port: 7000)
    if let map = ClusterMap(slotsReply: reply, answeredBy: node) {
      for slot in [0, 5000, 16383] { _ = map.master(ofSlot: slot) }
    }
    _ = (reply.integer, reply.text, reply.errorText)
    if let bytes = reply.bytes { _ = ItemRecord(bytes: bytes) }
    // A hash's fields, as `HGETALL` of an index version gives them.
    var parameters: [String: [UInt8]] = [:]
    for (field, value) in reply.fieldPairs {
      if let name = field.text, let bytes = value.bytes { parameters[name] = bytes }
      _ = value.bytes.flatMap(ItemRecord.init(bytes:))
    }
    if !parameters.isEmpty {
      _ = try? ItemEncoder(
        storedParameters: { parameters[$0] }, dimension: 8, metric: .l2, location: "fuzz")
    }
  }

  private func readVectors(_ bytes: UnsafeRawBufferPointer, fileExtension: String) {
    let path = Self.write(bytes, fileExtension: fileExtension)
    guard var reader = try? VectorFileReader(path: path) else { return }
    var values: [Float] = []
    while let rows = try? reader.read(maxRows: 64, into: &values), rows > 0 {
      values.removeAll(keepingCapacity: true)
    }
  }

  /// Writes the input to a per-process file in shared memory and returns its path.
  private static func write(_ bytes: UnsafeRawBufferPointer, fileExtension: String) -> String {
    let path = "/dev/shm/tripindex-fuzz-\(getpid()).\(fileExtension)"
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard descriptor >= 0 else { fatalError("cannot write \(path)") }
    var written = 0
    while written < bytes.count, let base = bytes.baseAddress {
      let result = Glibc.write(descriptor, base + written, bytes.count - written)
      guard result > 0 else { fatalError("cannot write \(path)") }
      written += result
    }
    close(descriptor)
    return path
  }
}

#if FUZZING
  /// libFuzzer's entry point; the target comes from the `FUZZ_TARGET` environment variable.
  @_cdecl("LLVMFuzzerTestOneInput")
  public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
      fatalError(
        "set FUZZ_TARGET to one of \(FuzzTarget.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    target.run(UnsafeRawBufferPointer(start: data, count: data == nil ? 0 : size))
    return 0
  }
#else
  /// Without libFuzzer (a plain `swift build`), replays files through the targets:
  /// `tripindex-fuzz TARGET FILE…` — what `make fuzz` runs under libFuzzer.
  @main
  struct FuzzReplay {
    static func main() {
      let arguments = CommandLine.arguments.dropFirst()
      guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
        print(
          "usage: tripindex-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) FILE…  (fuzz with `make fuzz`)"
        )
        exit(2)
      }
      for path in arguments.dropFirst() {
        guard let file = fopen(path, "rb") else { continue }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
          let count = fread(&buffer, 1, buffer.count, file)
          if count == 0 { break }
          bytes += buffer[0..<count]
        }
        fclose(file)
        bytes.withUnsafeBytes { target.run($0) }
      }
      print("replayed \(arguments.count - 1) input(s) through \(name): no crash")
    }
  }
#endif

import Foundation
import PropertyBased
import TestSupport
import Testing
import VectorIO
import VectorMath

/// Every writer/reader pair gives back exactly what was written.
@Suite struct RoundTripTests {
  static let sizes = Gen.int(in: 1...24)
  static let floats = Gen.float(in: -1e6...1e6).array(of: 24 * 24)
  static let integers = Gen.int(in: -16_777_216...16_777_216).array(of: 24 * 24)

  private func roundTrip(
    _ name: String, rows: Int, dimension: Int, values: [Float], npyType: NpyElementType = .float32
  ) throws -> [Float] {
    let directory = TemporaryDirectory()
    let path = directory.file(name)
    let writer = try VectorFileWriter(path: path, dimension: dimension, npyElementType: npyType)
    // Write in two pieces to exercise streaming.
    let split = (rows / 2) * dimension
    try writer.write(Array(values[0..<split]))
    try writer.write(Array(values[split...]))
    try writer.finish()
    var reader = try VectorFileReader(path: path)
    #expect(reader.dimension == dimension)
    if reader.format != .text { #expect(reader.rowCount == rows) }
    var read: [Float] = []
    // Small batches to cross batch boundaries.
    while try reader.read(maxRows: 3, into: &read) > 0 {}
    return read
  }

  @Test("float formats round trip", arguments: ["x.fvecs", "x.npy", "x.vec"])
  func floatFormats(name: String) async {
    await propertyCheck(count: 60, input: Self.sizes, Self.sizes, Self.floats) {
      rows, dimension, pool in
      let values = Array(pool.prefix(rows * dimension))
      let read = try roundTrip(name, rows: rows, dimension: dimension, values: values)
      #expect(read == values)
    }
  }

  @Test(
    "integer and float64 round trips",
    arguments: [
      ("x.ivecs", NpyElementType.int32), ("x.npy", .int32), ("x.npy", .int64), ("x.npy", .float64),
    ])
  func integerFormats(name: String, type: NpyElementType) async {
    await propertyCheck(count: 40, input: Self.sizes, Self.sizes, Self.integers) {
      rows, dimension, pool in
      let values = pool.prefix(rows * dimension).map(Float.init)
      let read = try roundTrip(
        name, rows: rows, dimension: dimension, values: values, npyType: type)
      #expect(read == values)
    }
  }

  @Test(
    "labels survive a write and read, quotes, commas and groups included", arguments: [false, true])
  func labelsRoundTrip(withGroups: Bool) throws {
    let directory = TemporaryDirectory()
    let entries = [
      ("plain", ItemLabels(pid: 1, camera: 2, group: withGroups ? 7 : nil)),
      ("with, comma", ItemLabels(pid: -1, camera: 3)),
      ("with \"quote\"", ItemLabels(pid: 0, camera: nil, group: withGroups ? -2 : nil)),
      ("none", ItemLabels.none),
    ]
    let path = directory.file("labels.csv")
    try LabelsFile.write(
      entries.map { LabelsFile.Entry(name: $0.0, labels: $0.1, line: 0) }, to: path)
    let read = try LabelsFile(path: path)
    #expect(read.entries.map(\.name) == entries.map(\.0))
    #expect(read.entries.map(\.labels) == entries.map(\.1))
    let header = try String(contentsOfFile: path, encoding: .utf8).prefix { $0 != "\n" }
    #expect(header == (withGroups ? "name,pid,camera,group" : "name,pid,camera"))
  }
}

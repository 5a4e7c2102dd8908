/// Turns a vector into what the index stores for it: its bucket code in every table and its
/// table entry (compact code + id), and a query into its projection and residual norm.
///
/// Every path (building, inserting, removing, tuning) goes through ``project(_:into:)``, so one
/// vector always gets bit-identical codes: a removal finds exactly the entries an insertion wrote.
public struct ItemEncoder: Sendable {
  /// The hashing and projection parameters.
  public let model: LSHModel
  /// The compact codes.
  public let coder: CompactCoder

  /// Creates an encoder.
  public init(model: LSHModel, coder: CompactCoder) {
    self.model = model
    self.coder = coder
  }

  /// The same encoder searching with other query-time settings (probes, candidate budget):
  /// the tables, hashes and codes stay as they are.
  ///
  /// - Parameter setting: the settings; only `probes` and `candidateBudget` may differ.
  /// - Returns: the encoder.
  func searching(with setting: LSHConfiguration) -> ItemEncoder {
    var configuration = model.configuration
    configuration.probes = setting.probes
    configuration.candidateBudget = setting.candidateBudget
    return ItemEncoder(
      model: LSHModel(
        configuration: configuration, transform: model.transform, hasher: model.hasher,
        metric: model.metric),
      coder: coder)
  }

  /// Per-thread scratch memory.
  public struct Scratch {
    var centred: [Float]
    /// The last projection (``LSHConfiguration/sketchDimensions`` values).
    public var projection: [Float]
    /// The last codes, one per table.
    public var codes: [UInt64]
    /// The last entry.
    public var entry: [UInt8]
  }

  /// The sizes of a ``Scratch``: scratches of equal shapes serve each other's encoders.
  struct Shape: Equatable {
    var inputs: Int, outputs: Int, tables: Int, entryBytes: Int

    /// The shape of an encoder's scratch.
    init(encoder: ItemEncoder) {
      inputs = encoder.model.transform.inputDimension
      outputs = encoder.model.transform.outputDimension
      tables = encoder.model.configuration.tables
      entryBytes = encoder.coder.entryBytes
    }

    /// The shape of a scratch.
    init(of scratch: Scratch) {
      inputs = scratch.centred.count
      outputs = scratch.projection.count
      tables = scratch.codes.count
      entryBytes = scratch.entry.count
    }
  }

  /// Scratch sized for this encoder.
  public func makeScratch() -> Scratch {
    Scratch(
      centred: Array(repeating: 0, count: model.transform.inputDimension),
      projection: Array(repeating: 0, count: model.transform.outputDimension),
      codes: Array(repeating: 0, count: model.configuration.tables),
      entry: Array(repeating: 0, count: coder.entryBytes))
  }

  /// Projects a vector onto the principal components (eight lanes at a time, in a fixed order)
  /// and returns the norm of what they leave out.
  ///
  /// - Parameters:
  ///   - vector: the vector.
  ///   - scratch: receives the projection.
  /// - Returns: the residual norm.
  @discardableResult
  public func project(_ vector: UnsafeBufferPointer<Float>, into scratch: inout Scratch) -> Float {
    let transform = model.transform
    let d = transform.inputDimension
    var total = 0.0
    transform.mean.withUnsafeBufferPointer { mean in
      for index in 0..<d {
        let value = vector[index] - mean[index]
        scratch.centred[index] = value
        total += Double(value) * Double(value)
      }
    }
    var explained = 0.0
    transform.basis.withUnsafeBufferPointer { basis in
      scratch.centred.withUnsafeBufferPointer { centred in
        guard let basisBase = basis.baseAddress, let centredBase = centred.baseAddress else {
          return
        }
        let rawBasis = UnsafeRawPointer(basisBase)
        let rawCentred = UnsafeRawPointer(centredBase)
        /// Lanes of basis row `row` from `index` times the centred values there.
        @inline(__always) func terms(_ row: Int, _ index: Int) -> SIMD8<Float> {
          rawBasis.loadUnaligned(fromByteOffset: (row + index) * 4, as: SIMD8<Float>.self)
            * rawCentred.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
        }
        /// The lanes' sum, then the values past the last whole lane group, in order.
        @inline(__always) func finished(_ sums: SIMD8<Float>, _ row: Int, from start: Int) -> Float
        {
          var sum = sums.sum()
          for index in start..<d { sum += basis[row + index] * centred[index] }
          return sum
        }
        let whole = d - d % 8
        let components = transform.outputDimension
        var component = 0
        // Four components at a time: four independent chains of additions keep the adder busy.
        // Each component's sum is formed exactly as alone (the same terms, in the same order),
        // so a vector projects to the same bits whichever path computes it.
        while component + 4 <= components {
          let row = component * d
          var sums = (SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>(), SIMD8<Float>())
          for index in stride(from: 0, to: whole, by: 8) {
            sums.0 += terms(row, index)
            sums.1 += terms(row + d, index)
            sums.2 += terms(row + 2 * d, index)
            sums.3 += terms(row + 3 * d, index)
          }
          let four = SIMD4(
            finished(sums.0, row, from: whole), finished(sums.1, row + d, from: whole),
            finished(sums.2, row + 2 * d, from: whole), finished(sums.3, row + 3 * d, from: whole))
          for offset in 0..<4 {
            scratch.projection[component + offset] = four[offset]
            explained += Double(four[offset]) * Double(four[offset])
          }
          component += 4
        }
        while component < components {
          let row = component * d
          var sums = SIMD8<Float>()
          for index in stride(from: 0, to: whole, by: 8) { sums += terms(row, index) }
          let sum = finished(sums, row, from: whole)
          scratch.projection[component] = sum
          explained += Double(sum) * Double(sum)
          component += 1
        }
      }
    }
    return Float(max(0, total - explained).squareRoot())
  }

  /// Computes a stored vector's bucket codes and table entry into `scratch`.
  ///
  /// - Parameters:
  ///   - vector: the vector.
  ///   - id: its id.
  ///   - scratch: receives the projection, codes and entry.
  public func encode(_ vector: UnsafeBufferPointer<Float>, id: UInt64, into scratch: inout Scratch)
  {
    encode(vector, id: id, into: &scratch, codesOf: model.hasher)
  }

  /// ``encode(_:id:into:)`` with the codes of `hasher`'s tables only (some of the model's, as
  /// ``BucketHasher/tables(_:)`` gives them), at the start of `scratch.codes`.
  func encode(
    _ vector: UnsafeBufferPointer<Float>, id: UInt64, into scratch: inout Scratch,
    codesOf hasher: BucketHasher
  ) {
    let residual = project(vector, into: &scratch)
    let hashDimensions = model.configuration.hashDimensions
    scratch.projection.withUnsafeBufferPointer { projection in
      scratch.codes.withUnsafeMutableBufferPointer { codes in
        hasher.codes(
          UnsafeBufferPointer(rebasing: projection[0..<hashDimensions]),
          into: UnsafeMutableBufferPointer(rebasing: codes[0..<hasher.tables]))
      }
      scratch.entry.withUnsafeMutableBytes { entry in
        coder.encode(projection: projection, residual: residual, id: id, into: entry)
      }
    }
  }
}

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
        for component in 0..<transform.outputDimension {
          let row = component * d
          var sums = SIMD8<Float>()
          var index = 0
          while index + 8 <= d {
            sums +=
              rawBasis.loadUnaligned(fromByteOffset: (row + index) * 4, as: SIMD8<Float>.self)
              * rawCentred.loadUnaligned(fromByteOffset: index * 4, as: SIMD8<Float>.self)
            index += 8
          }
          var sum = sums.sum()
          while index < d {
            sum += basis[row + index] * centred[index]
            index += 1
          }
          scratch.projection[component] = sum
          explained += Double(sum) * Double(sum)
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
    let residual = project(vector, into: &scratch)
    let hashDimensions = model.configuration.hashDimensions
    scratch.projection.withUnsafeBufferPointer { projection in
      scratch.codes.withUnsafeMutableBufferPointer { codes in
        model.hasher.codes(
          UnsafeBufferPointer(rebasing: projection[0..<hashDimensions]), into: codes)
      }
      scratch.entry.withUnsafeMutableBytes { entry in
        coder.encode(projection: projection, residual: residual, id: id, into: entry)
      }
    }
  }
}

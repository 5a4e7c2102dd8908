import TestSupport
import Testing
import VectorIO
import VectorMath

/// Bad input gives one clear error naming the file, the place and what was expected.
@Suite struct ReaderErrorTests {
  private func readError(_ bytes: [UInt8], name: String) -> VectorIOError? {
    let directory = TemporaryDirectory()
    let path = directory.write(bytes, to: name)
    do {
      _ = try VectorFileReader.readAll(path: path)
      return nil
    } catch {
      #expect(error.path == path)
      return error
    }
  }

  private func readError(_ text: String, name: String = "probe.vec") -> VectorIOError? {
    readError(Array(text.utf8), name: name)
  }

  @Test("a truncated .fvecs names the record")
  func truncatedFvecs() throws {
    let bytes = Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 5, columns: 8, seed: 1))
    let error = try #require(readError(Array(bytes.dropLast(7)), name: "base.fvecs"))
    #expect(error.location == .record(4))
    #expect(error.message.contains("truncated"))
    #expect(error.message.contains("32 bytes"))
  }

  @Test("a .npy header announcing 4 GB in a small file is refused without allocating it")
  func hugeNpyHeaderLength() throws {
    // Found by `make fuzz`: version 2 takes a 4-byte header length.
    let bytes =
      Array("\u{93}NUMPY".unicodeScalars.map { UInt8($0.value) }) + [2, 0, 0xFF, 0xFF, 0xFF, 0xFF]
      + Array("{'descr': '<f4'}".utf8)
    let error = try #require(readError(bytes, name: "huge.npy"))
    #expect(error.message.contains("4294967295 bytes"), "\(error)")
    #expect(error.message.contains("truncated"))
  }

  @Test("a .fvecs record with another dimension names it and the expected one")
  func fvecsDimensionChange() throws {
    var bytes = Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 3, columns: 4, seed: 1))
    bytes += Fixtures.fvecsBytes(Fixtures.randomMatrix(rows: 1, columns: 5, seed: 2))
    let error = try #require(readError(bytes, name: "base.fvecs"))
    #expect(error.location == .record(3))
    #expect(error.message == "declares dimension 5; expected 4 as in record 0")
  }

  @Test("an absurd first dimension is rejected before reading")
  func absurdDimension() throws {
    let bytes: [UInt8] = [0xFF, 0xFF, 0xFF, 0x7F, 0, 0, 0, 0]
    let error = try #require(readError(bytes, name: "x.fvecs"))
    #expect(error.location == .record(0))
    #expect(error.message.contains("expected a positive dimension"))
  }

  @Test(
    "NaN and infinity are rejected with their position",
    arguments: [Float.nan, .infinity, -.infinity])
  func nonFinite(value: Float) throws {
    var matrix = Fixtures.randomMatrix(rows: 3, columns: 4, seed: 3)
    matrix[2, 1] = value
    let fvecs = try #require(readError(Fixtures.fvecsBytes(matrix), name: "x.fvecs"))
    #expect(fvecs.location == .record(2))
    #expect(fvecs.message.hasPrefix("value 1 is"))
    #expect(fvecs.message.contains("finite"))
    let npy = try #require(
      readError(
        Fixtures.npyBytes(
          dictionary: "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }",
          payload: Fixtures.float32Bytes(matrix.values)), name: "x.npy"))
    #expect(npy.location == .row(2))
    let text = try #require(readError("1 2 3 4\n\n1 2 3 4\n1 \(value) 3 4\n"))
    #expect(text.location == .line(4))
    #expect(text.message.contains("value 1"))
  }

  @Test(
    "empty files are rejected in every format",
    arguments: ["x.vec", "x.fvecs", "x.ivecs", "x.bvecs", "x.npy"])
  func empty(name: String) throws {
    let error = try #require(readError([], name: name))
    #expect(error.location == .file)
    #expect(error.message.contains("empty"))
  }

  @Test("a text file with only comments holds no vectors")
  func onlyComments() throws {
    let error = try #require(readError("# nothing here\n\n   \n"))
    #expect(error.message.contains("holds no vectors"))
  }

  @Test("text rows must have the first row's length")
  func textDimension() throws {
    let error = try #require(readError("1,2,3\n4,5,6\n7,8\n"))
    #expect(error.location == .line(3))
    #expect(error.message == "has 2 values; expected 3 as on line 1")
  }

  @Test("text tokens must be numbers, separated by at most one comma")
  func textTokens() throws {
    let word = try #require(readError("1 2 three\n"))
    #expect(word.location == .line(1))
    #expect(word.message == "value 2 is 'three'; expected a number")
    let doubleComma = try #require(readError("1,,2\n"))
    #expect(doubleComma.message.contains("empty value between commas"))
    let trailing = try #require(readError("1, 2,\n"))
    #expect(trailing.message.contains("ends with a comma"))
  }

  @Test("text accepts spaces, tabs, commas, CRLF, comments and a missing final newline")
  func textFlexible() throws {
    let directory = TemporaryDirectory()
    let path = directory.write("# header\r\n1, 2\t3\r\n\r\n  4 5,6", to: "x.vec")
    let read = try VectorFileReader.readAll(path: path)
    #expect(read.dimension == 3)
    #expect(read.values == [1, 2, 3, 4, 5, 6])
  }

  @Test("text batch rows report their line numbers")
  func textLocations() throws {
    let directory = TemporaryDirectory()
    let path = directory.write("# c\n1 2\n\n3 4\n5 6\n", to: "x.vec")
    var reader = try VectorFileReader(path: path)
    var values: [Float] = []
    #expect(try reader.read(maxRows: 10, into: &values) == 3)
    #expect((0..<3).map { reader.location(ofBatchRow: $0) } == [.line(2), .line(4), .line(5)])
  }

  @Test(
    "bad .npy headers are named precisely",
    arguments: [
      ("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 2), }", "big-endian"),
      ("{'descr': '<c8', 'fortran_order': False, 'shape': (2, 2), }", "'<c8' is not supported"),
      ("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", "Fortran order"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2, 2), }", "shape (2, 2, 2)"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 2), }", "holds no vectors"),
      ("{'descr': '<f4', 'fortran_order': False }", "lacks"),
      ("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2 }", "malformed"),
    ])
  func badNpyHeader(dictionary: String, expected: String) throws {
    let error = try #require(
      readError(
        Fixtures.npyBytes(dictionary: dictionary, payload: Fixtures.float32Bytes([1, 2, 3, 4])),
        name: "x.npy"))
    #expect(error.message.contains(expected), "\(error)")
  }

  @Test("float16 .npy files are read exactly; an infinite half is refused with its row")
  func float16Npy() throws {
    let halves: [Float16] = [1.5, -2, 0.25, 65504, 0.0001, -0, 3, 7]
    let payload = halves.flatMap { value in
      withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
    }
    let directory = TemporaryDirectory()
    let path = directory.write(
      Fixtures.npyBytes(
        dictionary: "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 4), }",
        payload: payload), to: "half.npy")
    let matrix = try VectorFileReader.readAll(path: path)
    #expect(matrix.dimension == 4)
    #expect(matrix.values == halves.map { Float($0) })
    var infinite = payload
    infinite.replaceSubrange(
      12..<14, with: withUnsafeBytes(of: Float16.infinity.bitPattern.littleEndian) { Array($0) })
    let error = try #require(
      readError(
        Fixtures.npyBytes(
          dictionary: "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 4), }",
          payload: infinite), name: "x.npy"))
    #expect(error.description.contains("x.npy, row 1"), "\(error)")
  }

  @Test("a .npy without the magic, with an unknown version, or with missing data")
  func badNpyFraming() throws {
    let notNpy = try #require(readError(Array("hello, this is text".utf8), name: "x.npy"))
    #expect(notNpy.message.contains("\\x93NUMPY"))
    var future = Fixtures.npyBytes(
      dictionary: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }",
      payload: Fixtures.float32Bytes([1]))
    future[6] = 9
    let version = try #require(readError(future, name: "x.npy"))
    #expect(version.message.contains("version 9.0"))
    let short = try #require(
      readError(
        Fixtures.npyBytes(
          dictionary: "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
          payload: Fixtures.float32Bytes([1, 2, 3, 4, 5])), name: "x.npy"))
    #expect(short.location == .row(2))
    #expect(short.message.contains("3 × 2"))
    let long = try #require(
      readError(
        Fixtures.npyBytes(
          dictionary: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }",
          payload: Fixtures.float32Bytes([1, 2, 3])), name: "x.npy"))
    #expect(long.message.contains("4 bytes after"))
  }

  @Test("npy versions 2 and 3 and a 1-D shape read fine")
  func npyVersions() throws {
    let directory = TemporaryDirectory()
    for major: UInt8 in [2, 3] {
      let path = directory.write(
        Fixtures.npyBytes(
          dictionary: "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
          payload: Fixtures.float32Bytes([1, 2, 3]), major: major), to: "v\(major).npy")
      let read = try VectorFileReader.readAll(path: path)
      #expect(read.dimension == 3 && read.values == [1, 2, 3])
    }
  }

  @Test("integers too large for a float are refused")
  func inexactIntegers() throws {
    var payload: [UInt8] = []
    withUnsafeBytes(of: Int64(1 << 40).littleEndian) { payload += $0 }
    let error = try #require(
      readError(
        Fixtures.npyBytes(
          dictionary: "{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }",
          payload: payload),
        name: "x.npy"))
    #expect(error.message.contains("cannot hold exactly"))
  }

  @Test("missing files, folders and unknown extensions")
  func unreadable() throws {
    let directory = TemporaryDirectory()
    #expect(throws: VectorIOError.self) { try VectorFileReader(path: directory.file("absent.vec")) }
    do {
      _ = try VectorFileReader(path: directory.file("absent.vec"))
    } catch {
      #expect(error.description.hasSuffix("cannot open: No such file or directory"))
    }
    directory.write("x", to: "folder.vec/inner")
    do {
      _ = try VectorFileReader(path: directory.file("folder.vec"))
      Issue.record("a folder was read as a file")
    } catch {
      #expect(error.message == "is not a regular file")
    }
    #expect(throws: VectorIOError.self) {
      try VectorFileReader(path: directory.write("1 2", to: "x.txt"))
    }
  }
}

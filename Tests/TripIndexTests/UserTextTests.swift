import Testing
import TripIndex

/// Text that names parameters and commands reads as each front end words them.
@Suite struct UserTextTests {
  let text: UserText =
    "\(option: .probeLabels) is read for \(option: .excludeSameCamera); run \(command: "index \(option: .store) s.lmdb") first"

  @Test("plain wording: parameter names, commands in words")
  func plain() {
    #expect(
      text.description
        == "probeLabels is read for excludeSameCamera; run the index store s.lmdb command first")
  }

  @Test("JSON wording: parameters as snake-case fields")
  func jsonFields() {
    #expect(
      text.worded(.jsonFields)
        == "probe_labels is read for exclude_same_camera; run the index store s.lmdb command first")
  }

  @Test("a front end's own wording, parameters inside commands included")
  func custom() {
    let flags = Wording(
      parameter: { "--" + $0.snakeCase.replacingOccurrences(of: "_", with: "-") },
      command: { "`tripindex \($0)`" })
    #expect(
      text.worded(flags)
        == "--probe-labels is read for --exclude-same-camera; run `tripindex index --store s.lmdb` first"
    )
  }

  @Test("an error names the first parameter it mentions; joined texts keep theirs")
  func parameters() {
    #expect(TripIndexError(text).parameter == .probeLabels)
    #expect(TripIndexError("nothing named").parameter == nil)
    #expect(text.parameters == [.probeLabels, .excludeSameCamera, .store])
    let joined = UserText.joined(["a \(option: .k)", "b"], separator: "; ")
    #expect(joined.worded(.jsonFields) == "a k; b" && joined.parameters == [.k])
    #expect(Parameter.where.snakeCase == "where" && Parameter.ranklistK.snakeCase == "ranklist_k")
  }
}

import ArgumentParser
import Plumbing

/// `--force`, and the check that a report folder is new or empty unless it is given.
struct ReportFolderOption: ParsableArguments {
  @Flag(help: "Write the report into a folder that already holds files (overwriting them).")
  var force = false

  /// Refuses a report folder that holds files, unless `--force` was given; checked before any
  /// work starts, so a long run never ends in a refusal.
  ///
  /// - Parameter folder: the report folder, if one was asked for.
  /// - Throws: `ValidationError` naming the folder.
  func check(_ folder: String?) throws {
    guard let folder, !force, let entries = Directories.entries(in: folder), !entries.isEmpty
    else { return }
    throw ValidationError(
      "--report \(folder) already holds \(entries.count) file(s); give --force to write over them, or name a new or empty folder"
    )
  }
}

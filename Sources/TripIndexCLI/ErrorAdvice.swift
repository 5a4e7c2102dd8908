import ArgumentParser
import LSHIndex
import Plumbing
import StorageBackend
import TripIndex
import VectorStore

/// Words the libraries' structured errors for this tool's users: the flag a setting is given
/// with, and the command that fixes the problem. The libraries state what is wrong; only the
/// executable knows its commands and flags.
enum ErrorAdvice {
  /// The flag of each LSH setting the libraries name.
  static let settingFlags: [String: String] = [
    "tables": "--tables", "hashesPerTable": "--bits", "bucketWidth": "--width",
    "probes": "--probes", "candidateBudget": "--budget", "hashDimensions": "--hash-dimensions",
    "sketchDimensions": "--sketch-dimensions", "target": "--recall", "sampleSize": "--sample",
    "k": "-k",
  ]

  /// The flag of each option whose flag is not its name in kebab case.
  static let optionFlags: [String: String] = ["k": "-k"]

  /// An option as a flag: `embedFrom` → `--embed-from`, `k` → `-k`.
  static func flag(_ option: String) -> String {
    optionFlags[option] ?? "--" + TextFormatting.splittingCamelCase(option, separator: "-")
  }

  /// How this tool words the use cases' parameters and commands: flags, and command lines.
  static let wording = Wording(parameter: { flag($0.rawValue) }, command: { "`tripindex \($0)`" })

  /// Sets the advice the storage engine prints when it meets damaged data.
  static func install() {
    DamagedDataAdvice.set { directory in
      " (`tripindex check --store \(directory)` reports the same)"
    }
  }

  /// The error as this tool's users should read it: with the flag or command that helps, or
  /// unchanged when there is nothing to add.
  static func advised(_ error: any Error) -> any Error {
    switch error {
    case let error as TripIndexError:
      return Advised(error.worded(wording))
    case let error as VectorStoreError:
      switch error.kind {
      case .missing:
        return Advised("\(error); create one with `tripindex build DIR --store \(error.path)`")
      case .damaged:
        return Advised(
          "\(error); `tripindex check --store \(error.path)` lists all damage, `--repair` rebuilds what can be derived"
        )
      case .indexNotAttached:
        return Advised(
          "\(error); `tripindex index --store \(error.path) --drop` drops the index")
      default:
        return error
      }
    case let error as LSHError:
      switch error.kind {
      case .invalidSetting(let setting):
        guard let flag = settingFlags[setting] else { return error }
        return Advised("\(flag) \(error.message)")
      case .needsRebuild:
        return Advised(
          "\(error); rebuild it with `tripindex index` (or drop it with `tripindex index --drop`)")
      case .dimensionTooLarge:
        return Advised("\(error) (`tripindex train` makes a smaller embedding)")
      default:
        return error
      }
    default:
      return error
    }
  }

  /// An error with the advice in its message.
  struct Advised: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
  }
}

import ArgumentParser
import Glibc
import TripIndex
import VectorMath

@main
struct TripIndexCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tripindex",
    abstract:
      "Metric-learning retrieval: store embeddings in LMDB, search them, evaluate re-ID rankings.",
    discussion: """
      Results go to stdout (a table, or JSON with --json); progress and warnings go to stderr. \
      Errors name the file, line or record at fault and exit with a non-zero status.
      """,
    subcommands: [
      BuildCommand.self, QueryCommand.self, TrainCommand.self, EmbedCommand.self, EvalCommand.self,
      BenchmarkCommand.self, IndexCommand.self, TuneCommand.self, InfoCommand.self,
      DeleteCommand.self, CheckCommand.self, CompactCommand.self, CopyCommand.self,
      ExportCommand.self,
      ExportModelCommand.self, ANNBenchCommand.self, ServeCommand.self,
      DatasetsCommand.self,
    ])

  static func main() {
    AddressSpaceLimit.prepare()
    BLASIdleThreads.shorten()
    // A closed pipe is an error code from write(2), handled below, not a signal.
    signal(SIGPIPE, SIG_IGN)
    FaultGuard.install()
    ErrorAdvice.install()
    do {
      if let setting = ScanShapeChoice.forcedSetting, ScanShapeChoice.forced == nil {
        throw TripIndexError(
          "TRIPINDEX_SCAN_SHAPE is '\(setting)'; expected 'standard' or ORIENTATION/TILE with ORIENTATION probes-by-rows or rows-by-probes and TILE from 8 to 65536 (e.g. rows-by-probes/1024)"
        )
      }
      var command = try parseAsRoot()
      try command.run()
    } catch {
      exitOnOutputFailure()
      exit(withError: ErrorAdvice.advised(error))
    }
    exitOnOutputFailure()
  }

  /// Results that did not reach standard output are a failure: a closed pipe (`query … | head`)
  /// ends quietly with status 141, as a process stopped by SIGPIPE reports to the shell; any
  /// other error (a full disk, `/dev/full`) is said on stderr with status 1.
  static func exitOnOutputFailure() {
    guard let code = StandardStream.outputFailure else { return }
    if code == EPIPE { Glibc.exit(141) }
    StandardStream.error.write(
      "Error: cannot write the results to standard output: \(String(cString: strerror(code)))\n")
    Glibc.exit(1)
  }
}

extension DistanceMetric: ExpressibleByArgument {}

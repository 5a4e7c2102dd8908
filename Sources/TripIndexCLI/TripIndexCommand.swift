import ArgumentParser
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
      DeleteCommand.self, CheckCommand.self, CompactCommand.self, ExportCommand.self,
      ExportModelCommand.self, ANNBenchCommand.self,
      DatasetsCommand.self,
    ])

  static func main() {
    FaultGuard.install()
    ErrorAdvice.install()
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch {
      exit(withError: ErrorAdvice.advised(error))
    }
  }
}

extension DistanceMetric: ExpressibleByArgument {}

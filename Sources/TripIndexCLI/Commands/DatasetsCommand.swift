import ArgumentParser
import TripIndex

struct DatasetsCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "datasets", abstract: "Generate data sets.", subcommands: [SynthReIDCommand.self])
}

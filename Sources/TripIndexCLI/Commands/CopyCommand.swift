import ArgumentParser
import TripIndex

struct CopyCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "copy",
    abstract: "Copy a store to a new store, on LMDB or a Redis Cluster, keeping every id.",
    discussion: """
      --from and --to are each an LMDB directory or redis://HOST:PORT[,HOST:PORT...]/NAME. The \
      target gets the same ids, names, labels and vectors (deleted ids stay deleted), the pid \
      conventions and model the source records, and the source's LSH index with the same \
      fitted parameters, so queries give the same answers on both. The target must not exist \
      (or hold nothing); --replace removes it first. `tripindex check` on both sides agrees \
      afterwards. A copy that fails part-way leaves a partial target: run it again with \
      --replace.
      """)

  @Option(help: ArgumentHelp("The store to read.", valueName: "dir|redis://..."))
  var from: String

  @Option(help: ArgumentHelp("The store to write.", valueName: "dir|redis://..."))
  var to: String

  @Flag(help: "Remove the target's contents first.")
  var replace = false

  @Option(parsing: .unconditional, help: "Rows per write.")
  var batch = 1024

  @OptionGroup var redisOptions: RedisOptions

  @Option(parsing: .unconditional, help: "Redis targets: logical shards of the new store.")
  var shards = RedisAccess.defaultShards

  @Flag(help: "Print the summary as JSON.")
  var json = false

  @Flag(help: "No progress output.")
  var quiet = false

  func run() throws {
    var options = Copy.Options(from: from, to: to)
    options.replace = replace
    options.batchRows = batch
    options.redis = redisOptions.access
    options.redis.shards = shards
    let report = try Copy.run(options, progress: TerminalProgress(quiet: quiet))
    StandardStream.output.write((json ? report.json : report.summary) + "\n")
  }
}

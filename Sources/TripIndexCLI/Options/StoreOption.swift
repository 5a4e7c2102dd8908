import ArgumentParser
import TripIndex

/// Options shared by commands that use a store.
struct StoreOption: ParsableArguments {
  @Option(
    name: .long,
    help: ArgumentHelp(
      "The store: an LMDB directory, or a store on a Redis Cluster, redis://HOST:PORT[,HOST:PORT...]/NAME (any node answering is enough; a password from TRIPINDEX_REDIS_PASSWORD or redis://:PASSWORD@...).",
      valueName: "dir|redis://..."))
  var store: String = "tripindex.lmdb"

  @OptionGroup var redisOptions: RedisOptions

  /// The store as it may be shown (a Redis address without its password).
  var displayedStore: String { RedisAccess.displayed(store) }

  /// How to reach a Redis store, as given.
  var redis: RedisAccess { redisOptions.access }
}

/// How a command reaches stores on a Redis Cluster.
struct RedisOptions: ParsableArguments {
  @Option(
    parsing: .unconditional,
    help:
      "Redis stores: replicas that must acknowledge each write before it counts (default: 1 when every master has a replica, else 0)."
  )
  var replicas: Int?

  @Option(
    parsing: .unconditional,
    help:
      "Redis stores: seconds to keep retrying through a failover or a lost connection before failing."
  )
  var timeout: Double = 60

  /// The access these options describe.
  var access: RedisAccess {
    var access = RedisAccess()
    access.replicas = replicas
    access.timeout = timeout
    return access
  }
}

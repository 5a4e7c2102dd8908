import ArgumentParser
import TripIndex

/// Options shared by commands that use a store.
struct StoreOption: ParsableArguments {
  @Option(name: .long, help: "The store's directory (an LMDB environment).")
  var store: String = "tripindex.lmdb"
}

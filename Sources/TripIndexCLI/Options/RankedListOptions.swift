import ArgumentParser
import RankedLists
import TripIndex

/// The ranked-list page's options, shared by `eval` and `benchmark`.
struct RankedListOptions: ParsableArguments {
  @Option(parsing: .unconditional, help: "Gallery items listed per query in ranklists.html.")
  var ranklistK = 10

  @Option(
    parsing: .unconditional,
    help: "Keep only the N worst queries in ranklists.html (default: all).")
  var ranklistQueries: Int?

  @Option(
    help: ArgumentHelp(
      "A folder searched (recursively) for each item's picture, NAME.jpg, .jpeg or .png; the page links to them.",
      valueName: "dir"))
  var images: String?

  @Flag(help: "Copy the pictures --images finds into the report (images/) instead of linking them.")
  var copyImages = false

  @Option(
    help: ArgumentHelp(
      "Draw vectors that are pictures as PNGs of this shape (each channel scaled min-max over the set), e.g. 8x8 or 32x32x3.",
      valueName: "HxW[x3]"))
  var imageShape: String?

  /// The choices, parsed.
  var choices: RankedListChoices {
    get throws {
      var choices = RankedListChoices()
      choices.depth = ranklistK
      choices.queryLimit = ranklistQueries
      choices.imagesPath = images
      choices.copyImages = copyImages
      if let imageShape {
        do {
          choices.imageShape = try PictureShape(parsing: imageShape)
        } catch {
          throw ValidationError("--image-shape: \(error)")
        }
      }
      return choices
    }
  }
}

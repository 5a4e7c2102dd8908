import Evaluation
import Plumbing
import RankedLists
import VectorMath

/// What a report's ranked-list page (`ranklists.html`) lists and where its pictures come from.
public struct RankedListChoices: Sendable {
  /// Kept items listed per query.
  public var depth = 10
  /// Keep only the N worst queries (`nil`: all).
  public var queryLimit: Int?
  /// A folder searched (recursively) for each item's picture by name.
  public var imagesPath: String?
  /// Copy the pictures into the report instead of linking them.
  public var copyImages = false
  /// Draw the vectors themselves as pictures of this shape.
  public var imageShape: PictureShape?

  /// The defaults: 10 items per query, every query, tiles.
  public init() {}

  /// Refuses settings that contradict each other.
  ///
  /// - Throws: ``TripIndexError`` naming the options.
  func check() throws {
    guard depth >= 1 else {
      throw TripIndexError("\(option: .ranklistK) must be at least 1, not \(depth)")
    }
    if let limit = queryLimit, limit < 1 {
      throw TripIndexError("\(option: .ranklistQueries) must be at least 1, not \(limit)")
    }
    if copyImages && imagesPath == nil {
      throw TripIndexError(
        "\(option: .copyImages) copies the pictures \(option: .images) finds; give \(option: .images)"
      )
    }
    if imagesPath != nil && imageShape != nil {
      throw TripIndexError(
        "\(option: .images) and \(option: .imageShape) both say where pictures come from; give one"
      )
    }
  }

  /// The pictures' source, checked before any work: the images folder scanned, or the shape
  /// matched to the vectors it draws.
  ///
  /// - Parameters:
  ///   - queries: the queries' raw vectors (before any embedding).
  ///   - gallery: the gallery's raw vectors, or `nil` when they are not at hand (a store
  ///     holding embeddings).
  ///   - galleryNote: why the gallery's vectors are not at hand, for the error.
  /// - Returns: the source.
  /// - Throws: ``TripIndexError`` for a shape that does not fit or cannot be drawn;
  ///   `RankedListError` for an unreadable folder.
  func pictureSource(queries: Matrix, gallery: Matrix?, galleryNote: String) throws
    -> PictureSource
  {
    if let imagesPath {
      return .folder(try ImageFolder(root: imagesPath), copy: copyImages)
    }
    guard let imageShape else { return .tiles }
    guard let gallery else {
      throw TripIndexError(
        "\(option: .imageShape) draws the vectors themselves, but \(galleryNote); give \(option: .images) instead"
      )
    }
    do {
      try imageShape.check(dimension: queries.columns)
      try imageShape.check(dimension: gallery.columns)
    } catch {
      throw TripIndexError("\(option: .imageShape) \(imageShape): \(error)")
    }
    return .rendered(
      PictureRenderer(shape: imageShape, fittedTo: [queries, gallery]), queries: queries,
      gallery: gallery)
  }
}

import Evaluation
import Plumbing
import VectorMath

/// Where a ranked-list page's pictures come from.
public enum PictureSource: Sendable {
  /// None: every item is a labelled tile.
  case tiles
  /// Picture files found by item name; linked where they are, or copied into the page's
  /// `images/` folder (`copy`), never re-encoded.
  case folder(ImageFolder, copy: Bool)
  /// The vectors themselves, drawn as small PNGs into the page's `images/` folder.
  case rendered(PictureRenderer, queries: Matrix, gallery: Matrix)
}

/// Each shown item's picture as a link relative to the page (percent-encoded), and how many
/// shown items have none.
public struct PictureLinks: Sendable {
  /// Links of query pictures, by query index.
  public var query: [Int: String] = [:]
  /// Links of gallery pictures, by gallery index.
  public var gallery: [Int: String] = [:]
  /// Shown items for which a picture was looked for and not found.
  public var missing = 0

  /// No pictures at all.
  public init() {}
}

extension PictureSource {
  /// Finds or writes the pictures of the items a page shows. Files the page needs go into
  /// `folder/images/`, named by role and index (`q12.png`, `g7.jpg`), never by item name: a
  /// name is data, and cannot place a file anywhere.
  ///
  /// - Parameters:
  ///   - queries: the query indices shown.
  ///   - gallery: the gallery indices shown.
  ///   - items: their names.
  ///   - folder: the page's folder (existing).
  /// - Returns: the links.
  /// - Throws: ``RankedListError`` for two pictures of one name; ``FileSystemError`` when a
  ///   file cannot be read or written.
  public func links(
    queries: [Int], gallery: Set<Int>, items: ReportItems, in folder: String
  ) throws -> PictureLinks {
    var links = PictureLinks()
    switch self {
    case .tiles:
      return links
    case .folder(let images, let copy):
      // Every picture is found (or refused) before a file is written.
      let found =
        try queries.map { query in ("q", query, try images.picture(of: items.queryNames[query])) }
        + gallery.sorted().map { index in
          ("g", index, try images.picture(of: items.galleryNames[index]))
        }
      if copy { try Directories.create(folder + "/images") }
      let base = copy ? "" : Directories.absolutePath(folder)
      for (role, index, path) in found {
        guard let path else {
          links.missing += 1
          continue
        }
        var link = Self.relativeLink(from: base, to: Directories.absolutePath(path))
        if copy {
          let suffix = path.lastIndex(of: ".").map { path[$0...].lowercased() } ?? ""
          link = "images/\(role)\(index)\(suffix)"
          try TextFile.write(bytes: TextFile.contents(of: path), to: folder + "/" + link)
        }
        if role == "q" { links.query[index] = link } else { links.gallery[index] = link }
      }
    case .rendered(let renderer, let queryVectors, let galleryVectors):
      try Directories.create(folder + "/images")
      for query in queries {
        let file = "images/q\(query).png"
        try TextFile.write(
          bytes: renderer.picture(of: queryVectors, row: query).pngData, to: folder + "/" + file)
        links.query[query] = file
      }
      for index in gallery.sorted() {
        let file = "images/g\(index).png"
        try TextFile.write(
          bytes: renderer.picture(of: galleryVectors, row: index).pngData, to: folder + "/" + file)
        links.gallery[index] = file
      }
    }
    return links
  }

  /// The relative URL from a folder to a file (both absolute), each segment percent-encoded.
  static func relativeLink(from folder: String, to file: String) -> String {
    let from = folder.split(separator: "/").map(String.init)
    let to = file.split(separator: "/").map(String.init)
    var common = 0
    while common < min(from.count, to.count - 1) && from[common] == to[common] { common += 1 }
    let up = Array(repeating: "..", count: from.count - common)
    return (up + to[common...].map(PercentEncoding.encode)).joined(separator: "/")
  }
}

extension RankedListPage {
  /// Writes `ranklists.html` into a folder, with the pictures it needs.
  ///
  /// - Parameters:
  ///   - folder: the report folder (created if missing).
  ///   - pictures: where pictures come from.
  /// - Returns: the links written (and how many shown items had no picture).
  /// - Throws: ``RankedListError`` or ``FileSystemError``.
  @discardableResult
  public func write(to folder: String, pictures: PictureSource) throws -> PictureLinks {
    try Directories.create(folder)
    let queries = shownQueries
    let links = try pictures.links(
      queries: queries, gallery: galleryItems(listedFor: queries), items: items, in: folder)
    try TextFile.write(html(pictures: links, queries: queries), to: folder + "/ranklists.html")
    return links
  }
}

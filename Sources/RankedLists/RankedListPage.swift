import Evaluation
import Plumbing
import VectorMath

/// The ranked-list page, `ranklists.html`: the report's metrics and charts, then one group per
/// query — its picture and, per method, the top of its ranking framed by outcome — worst first.
///
/// The page is one self-contained file that opens offline: plain HTML and CSS, pictures linked
/// by relative paths, and a few lines of JavaScript that re-sort and filter the groups from
/// buttons or the URL (`?sort=ap|first-match|name|difference`, `&filter=rank1-miss`). Every
/// group and row is in the DOM after load with data attributes programs can read (see
/// ``html(pictures:)``).
public struct RankedListPage: Sendable {
  /// One method's outcomes: a row in each query's group.
  public struct Method: Sendable {
    /// The method's name (`exact`, `triplet lsh top-50`, …).
    public var name: String
    /// One outcome per query, in query order.
    public var outcomes: [QueryOutcome]

    /// Creates a method's rows.
    ///
    /// - Parameters:
    ///   - name: its name.
    ///   - outcomes: one per query, in query order.
    public init(name: String, outcomes: [QueryOutcome]) {
      self.name = name
      self.outcomes = outcomes
    }
  }

  /// The order the groups are written in (and the page's default sort).
  public enum Order: Sendable, Equatable {
    /// The first method's average precision, lowest first.
    case worstFirst
    /// The absolute difference of two methods' average precision (by index in
    /// ``methods``), largest first.
    case largestDifference(Int, Int)
  }

  /// The page's title.
  public var title: String
  /// Facts about the run, shown as a list.
  public var details: [(String, String)]
  /// The metrics table: column titles and cells.
  public var table: (header: [String], rows: [[String]])
  /// Chart files in the same folder, shown under the table.
  public var charts: [String]
  /// Names and labels of queries and gallery items.
  public var items: ReportItems
  /// The methods, each a row of every group; the first orders the page.
  public var methods: [Method]
  /// The groups' order.
  public var order: Order
  /// Keep only this many groups, the first in ``order`` (`nil`: all).
  public var queryLimit: Int?
  /// Rows whose pictures load at once; later ones load lazily, as they scroll into view.
  public var eagerRows = 100

  /// Creates a page.
  ///
  /// - Parameters:
  ///   - title: the title.
  ///   - details: facts about the run.
  ///   - table: the metrics table.
  ///   - charts: chart files in the page's folder.
  ///   - items: names and labels.
  ///   - methods: at least one method, each with one outcome per query.
  ///   - order: the groups' order.
  public init(
    title: String, details: [(String, String)], table: (header: [String], rows: [[String]]),
    charts: [String], items: ReportItems, methods: [Method], order: Order
  ) {
    precondition(!methods.isEmpty, "a page shows at least one method")
    for method in methods {
      precondition(method.outcomes.count == items.queryNames.count, "one outcome per query")
    }
    self.title = title
    self.details = details
    self.table = table
    self.charts = charts
    self.items = items
    self.methods = methods
    self.order = order
  }

  /// The queries shown, in the page's order: by ``order``, queries without a true match last,
  /// ties by query order, cut to ``queryLimit``.
  public var shownQueries: [Int] {
    let keys = items.queryNames.indices.map { query in (sortKey(query), query) }
    let sorted = keys.sorted { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }.map(\.1)
    return queryLimit.map { Array(sorted.prefix(max(0, $0))) } ?? sorted
  }

  /// How many queries the page shows.
  public var shownQueryCount: Int {
    min(items.queryNames.count, queryLimit.map { max(0, $0) } ?? .max)
  }

  /// The gallery items some shown row lists.
  public var shownGalleryItems: Set<Int> { galleryItems(listedFor: shownQueries) }

  /// The gallery items some row of these queries lists.
  func galleryItems(listedFor queries: [Int]) -> Set<Int> {
    var shown = Set<Int>()
    for query in queries {
      for method in methods {
        let outcome = method.outcomes[query]
        for item in outcome.top + outcome.removed { shown.insert(item.galleryIndex) }
      }
    }
    return shown
  }

  /// The order key of a query: skipped queries after the others, then the order's measure.
  private func sortKey(_ query: Int) -> Double {
    let skippedLast = 1e300
    switch order {
    case .worstFirst:
      return methods[0].outcomes[query].averagePrecision ?? skippedLast
    case .largestDifference(let first, let second):
      guard let a = methods[first].outcomes[query].averagePrecision,
        let b = methods[second].outcomes[query].averagePrecision
      else { return skippedLast }
      return -abs(a - b)
    }
  }

  /// The page.
  ///
  /// Each query's group is a `section.query` with `data-query` (its name), `data-index`, the
  /// sort keys (`data-sort-ap`, `data-sort-first-match`, `data-difference`) and
  /// `data-rank1-miss`; each row in it is a `div.row` with `data-method`, `data-query`,
  /// `data-ap` (6 decimals; empty when skipped), `data-first-match` (1-based, after the
  /// protocol's removals; empty when skipped) and `data-valid`; each ranked item a
  /// `figure.result` with `data-rank`, `data-name`, `data-distance` (9 significant digits)
  /// and `data-outcome` (`match`, `mismatch`); removed items (`junk`, `same-camera`) are shown
  /// apart, greyed, without `data-rank`; the query's own picture is a `figure.probe` with
  /// `data-name`. Pictures of the first ``eagerRows`` rows load at once
  /// (`src`); later ones carry `data-src` and `loading="lazy"`, and get their `src` as their
  /// group nears the viewport.
  ///
  /// - Parameter pictures: where each item's picture is (items without one get a tile).
  /// - Returns: the HTML text.
  public func html(pictures: PictureLinks) -> String {
    html(pictures: pictures, queries: shownQueries)
  }

  /// The page for queries already put in order (``shownQueries``).
  func html(pictures: PictureLinks, queries: [Int]) -> String {
    var page = ""
    page.reserveCapacity(4096 + items.queryNames.count * methods.count * 2500)
    page += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
    page +=
      "<title>\(MarkupText.escaped(title)) — ranked lists</title>\n<style>\(Self.style)</style>\n"
    page +=
      "</head>\n<body>\n<header>\n<h1>\(MarkupText.escaped(title))</h1>\n<ul class=\"details\">\n"
    for (key, value) in details {
      page += "<li><b>\(MarkupText.escaped(key))</b>: \(MarkupText.escaped(value))</li>\n"
    }
    page += "</ul>\n<table class=\"metrics\">\n<tr>"
    for cell in table.header { page += "<th>\(MarkupText.escaped(cell))</th>" }
    page += "</tr>\n"
    for row in table.rows {
      page += "<tr>" + row.map { "<td>\(MarkupText.escaped($0))</td>" }.joined() + "</tr>\n"
    }
    page += "</table>\n"
    for chart in charts {
      page +=
        "<img class=\"chart\" src=\"\(MarkupText.escaped(chart))\" alt=\"\(MarkupText.escaped(chart))\">\n"
    }
    page += controls
    page += "</header>\n<main id=\"queries\" data-default-sort=\"\(defaultSort)\">\n"
    var rowNumber = 0
    for (position, query) in queries.enumerated() {
      appendGroup(query: query, position: position, rowNumber: &rowNumber, pictures, to: &page)
    }
    page += "</main>\n<script>\(Self.script)</script>\n</body>\n</html>\n"
    return page
  }

  private var defaultSort: String {
    if case .largestDifference = order { return "difference" }
    return "ap"
  }

  private var controls: String {
    var text = "<nav>\n<span>sort by</span>\n"
    var sorts = [
      ("ap", "AP, lowest first"), ("first-match", "first true match, latest first"),
      ("name", "query name"),
    ]
    if case .largestDifference(let first, let second) = order {
      sorts.insert(
        (
          "difference",
          "AP difference, \(methods[first].name) vs \(methods[second].name), largest first"
        ), at: 0)
    }
    for (key, label) in sorts {
      text += "<button data-sort=\"\(key)\">\(MarkupText.escaped(label))</button>\n"
    }
    text += "<span>show</span>\n<button data-filter=\"\">every query</button>\n"
    text += "<button data-filter=\"rank1-miss\">rank-1 misses</button>\n"
    text += "<span id=\"shown\"></span>\n</nav>\n"
    text +=
      "<p class=\"legend\"><span class=\"match\">true match</span> <span class=\"mismatch\">wrong identity</span> <span class=\"removed-item\">removed by the protocol (junk, same camera), not ranked</span>; each item: rank · distance · name. Queries without a true match in the gallery are skipped by the metrics and listed last.</p>\n"
    return text
  }

  private func appendGroup(
    query: Int, position: Int, rowNumber: inout Int, _ pictures: PictureLinks,
    to page: inout String
  ) {
    let primary = methods[0].outcomes[query]
    let rankOneMiss = methods.contains { method in
      let outcome = method.outcomes[query]
      return outcome.isValid && outcome.firstMatchRank != 1
    }
    var difference = ""
    if case .largestDifference(let first, let second) = order,
      let a = methods[first].outcomes[query].averagePrecision,
      let b = methods[second].outcomes[query].averagePrecision
    {
      difference = TextFormatting.fixed(abs(a - b), 6)
    }
    let name = MarkupText.escaped(items.queryNames[query])
    page += "<section class=\"query\" data-index=\"\(position)\" data-query=\"\(name)\""
    page += " data-sort-ap=\"\(Self.apText(primary))\""
    page += " data-sort-first-match=\"\(primary.firstMatchRank.map(String.init) ?? "")\""
    page += " data-difference=\"\(difference)\" data-rank1-miss=\"\(rankOneMiss)\">\n"
    for method in methods {
      let outcome = method.outcomes[query]
      let lazy = rowNumber >= eagerRows
      rowNumber += 1
      page +=
        "<div class=\"row\" data-method=\"\(MarkupText.escaped(method.name))\" data-query=\"\(name)\""
      page += " data-ap=\"\(Self.apText(outcome))\""
      page += " data-first-match=\"\(outcome.firstMatchRank.map(String.init) ?? "")\""
      page +=
        " data-valid=\"\(outcome.isValid)\">\n<div class=\"head\"><b>\(MarkupText.escaped(method.name))</b><br>"
      if let ap = outcome.averagePrecision, let first = outcome.firstMatchRank {
        page += "AP \(TextFormatting.fixed(ap, 3))<br>first match \(first)"
      } else {
        page += "<span class=\"skipped\">skipped: no true match in the gallery</span>"
      }
      page += "</div>\n"
      appendFigure(
        classes: "probe", attributes: " data-name=\"\(name)\"",
        caption: "query · \(items.queryNames[query])",
        labels: items.queryLabels[query],
        source: pictures.query[query], lazy: lazy, to: &page)
      for item in outcome.top { appendResult(item, lazy: lazy, pictures, to: &page) }
      if !outcome.removed.isEmpty {
        page += "<div class=\"removed\" title=\"removed by the protocol, not ranked\">\n"
        for item in outcome.removed { appendResult(item, lazy: lazy, pictures, to: &page) }
        page += "</div>\n"
      }
      page += "</div>\n"
    }
    page += "</section>\n"
  }

  private func appendResult(
    _ item: QueryOutcome.RankedItem, lazy: Bool, _ pictures: PictureLinks, to page: inout String
  ) {
    let name = items.galleryNames[item.galleryIndex]
    var attributes = ""
    var caption = ""
    if let rank = item.rank {
      attributes += " data-rank=\"\(rank)\""
      caption = "\(rank) · "
    }
    attributes += " data-name=\"\(MarkupText.escaped(name))\""
    attributes += " data-distance=\"\(TextFormatting.scientific(Double(item.distance), 8))\""
    attributes += " data-outcome=\"\(item.outcome.rawValue)\""
    caption += Self.shortDistance(item.distance) + " · " + name
    appendFigure(
      classes: "result \(item.outcome.rawValue)", attributes: attributes, caption: caption,
      labels: items.galleryLabels[item.galleryIndex],
      source: pictures.gallery[item.galleryIndex], lazy: lazy, to: &page)
  }

  private func appendFigure(
    classes: String, attributes: String, caption: String, labels: ItemLabels,
    source: String?, lazy: Bool, to page: inout String
  ) {
    page += "<figure class=\"item \(classes)\"\(attributes)>"
    var caption = caption
    if let source {
      // A picture does not say whose it is: the caption does.
      if let pid = labels.pid {
        caption += labels.camera == nil ? " · label \(pid)" : " · pid \(pid)"
      }
      if let camera = labels.camera { caption += " · camera \(camera)" }
      // Later rows name their picture in data-src: the script sets src as the row nears the
      // viewport (thousands of src attributes would cost seconds of parsing).
      page += lazy ? "<img loading=\"lazy\" data-src=\"" : "<img src=\""
      // The caption names the item: the picture's alt text stays empty.
      page += MarkupText.escaped(source) + "\" alt=\"\">"
    } else {
      var tile: [String] = []
      if let pid = labels.pid { tile.append(labels.camera == nil ? "label \(pid)" : "pid \(pid)") }
      if let camera = labels.camera { tile.append("camera \(camera)") }
      if tile.isEmpty { tile.append("no label") }
      page += "<div class=\"tile\">" + tile.joined(separator: "<br>") + "</div>"
    }
    page += "<figcaption>\(MarkupText.escaped(caption))</figcaption></figure>\n"
  }

  private static func apText(_ outcome: QueryOutcome) -> String {
    outcome.averagePrecision.map { TextFormatting.fixed($0, 6) } ?? ""
  }

  /// A distance with about four significant digits, for captions.
  private static func shortDistance(_ distance: Float) -> String {
    let value = abs(Double(distance))
    if value == 0 { return "0" }
    if value < 0.01 { return TextFormatting.scientific(Double(distance), 2) }
    let decimals = value >= 1000 ? 0 : value >= 100 ? 1 : value >= 10 ? 2 : value >= 1 ? 3 : 4
    return TextFormatting.fixed(Double(distance), decimals)
  }

  private static let style = """
    body{font-family:system-ui,sans-serif;margin:1em;color:#222;background:#fff}
    h1{font-size:1.3em}.details{font-size:.85em}table.metrics{border-collapse:collapse;font-size:.85em}
    table.metrics td,table.metrics th{border:1px solid #ccc;padding:2px 6px;text-align:right}
    table.metrics td:first-child{text-align:left}img.chart{max-width:480px;display:block;margin:.5em 0}
    nav{position:sticky;top:0;background:#fff;padding:.4em 0;border-bottom:1px solid #ccc;z-index:1}
    nav button.active{background:#246;color:#fff}nav span{margin:0 .3em 0 .8em;font-size:.85em}
    .legend span{padding:0 4px;border:3px solid}.legend .match{border-color:#2a2}
    .legend .mismatch{border-color:#d22}.legend .removed-item{border-color:#aaa;color:#888}
    section.query{border-bottom:1px solid #ddd;padding:.3em 0;content-visibility:auto;contain-intrinsic-size:auto 150px}
    .row{display:flex;flex-wrap:wrap;align-items:flex-start;gap:4px;margin:2px 0}
    .head{width:9em;font-size:.75em}.skipped{color:#a60}
    figure{margin:0;width:72px;font-size:.6em;text-align:center;overflow-wrap:anywhere}
    figure img,figure .tile{display:block;width:64px;height:96px;margin:0 auto;object-fit:contain;
    image-rendering:pixelated;border:4px solid transparent;background:#f4f4f4}
    figure .tile{font-size:.95em;line-height:1.2;overflow:hidden;box-sizing:content-box}
    figure.probe img,figure.probe .tile{border-color:#36c}
    figure.match img,figure.match .tile{border-color:#2a2}
    figure.mismatch img,figure.mismatch .tile{border-color:#d22}
    .removed{display:flex;gap:4px;margin-left:8px;padding-left:8px;border-left:2px dashed #aaa;opacity:.45}
    .removed figure img,.removed figure .tile{border-color:#aaa}
    """

  /// Sorts and filters the groups from the URL and the buttons; no network, no libraries.
  private static let script = """
    (function(){
    const list=document.getElementById('queries');const groups=Array.from(list.children);
    const value=(g,k)=>{const v=g.dataset[k];return v===undefined||v===''?null:parseFloat(v);};
    const by=(k,dir)=>(a,b)=>{const x=value(a,k),y=value(b,k);
    if(x===null||y===null){if(x!==y)return x===null?1:-1;}else if(x!==y)return dir*(x-y);
    return a.dataset.index-b.dataset.index;};
    const sorts={ap:by('sortAp',1),'first-match':by('sortFirstMatch',-1),difference:by('difference',-1),
    name:(a,b)=>a.dataset.query<b.dataset.query?-1:a.dataset.query>b.dataset.query?1:a.dataset.index-b.dataset.index};
    function apply(){const p=new URLSearchParams(location.search);
    let sort=p.get('sort');if(!(sort in sorts))sort=list.dataset.defaultSort;const filter=p.get('filter')||'';
    let shown=0;for(const g of groups.slice().sort(sorts[sort])){
    g.hidden=filter==='rank1-miss'&&g.dataset.rank1Miss!=='true';if(!g.hidden)shown++;list.appendChild(g);}
    document.querySelectorAll('button[data-sort]').forEach(b=>b.classList.toggle('active',b.dataset.sort===sort));
    document.querySelectorAll('button[data-filter]').forEach(b=>b.classList.toggle('active',b.dataset.filter===filter));
    document.getElementById('shown').textContent=shown+' of '+groups.length+' queries';}
    function go(key,val){const p=new URLSearchParams(location.search);if(val)p.set(key,val);else p.delete(key);
    const q=p.toString();try{history.replaceState(null,'',location.pathname+(q?'?'+q:''));}
    catch(e){location.search=q;return;}apply();}
    document.querySelectorAll('button[data-sort]').forEach(b=>b.onclick=()=>go('sort',b.dataset.sort));
    document.querySelectorAll('button[data-filter]').forEach(b=>b.onclick=()=>go('filter',b.dataset.filter));
    const show=g=>g.querySelectorAll('img[data-src]').forEach(i=>{i.src=i.dataset.src;i.removeAttribute('data-src');});
    const io='IntersectionObserver' in window?new IntersectionObserver(es=>{for(const e of es)
    if(e.isIntersecting){show(e.target);io.unobserve(e.target);}},{rootMargin:'1500px 0px'}):null;
    for(const g of groups)if(g.querySelector('img[data-src]')){if(io)io.observe(g);else show(g);}
    apply();})();
    """
}

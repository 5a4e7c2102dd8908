import Hummingbird

/// Who may do what: with a token, every route but `/health` requires `Authorization: Bearer
/// TOKEN` (401 otherwise; compared in constant time); a read-only server refuses `PUT` and
/// `DELETE` with 403.
struct AccessMiddleware<Context: RequestContext>: RouterMiddleware {
  let configuration: ServerConfiguration

  func handle(
    _ request: Request, context: Context,
    next: (Request, Context) async throws -> Response
  ) async throws -> Response {
    if let token = configuration.token, request.uri.path != "/health" {
      let given = request.headers[.authorization] ?? ""
      guard Self.constantTimeEqual(given, "Bearer " + token) else {
        throw APIError(
          .unauthorized, field: "Authorization",
          "this server requires the header Authorization: Bearer <token>")
      }
    }
    if configuration.readOnly && (request.method == .put || request.method == .delete) {
      throw APIError(.forbidden, field: nil, "this server is read-only: writes are refused")
    }
    return try await next(request, context)
  }

  /// Equality whose time depends on the lengths only, never on where the texts differ.
  static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
    let left = Array(a.utf8)
    let right = Array(b.utf8)
    var difference = UInt8(left.count == right.count ? 0 : 1)
    for index in 0..<max(left.count, right.count) {
      let x = index < left.count ? left[index] : 0
      let y = index < right.count ? right[index] : 0
      difference |= x ^ y
    }
    return difference == 0
  }
}

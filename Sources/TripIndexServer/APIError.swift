import Hummingbird
import NIOCore
import Plumbing

/// A request the server refuses, answered as JSON: `{"error": {"status": 422, "field": "k",
/// "message": "…"}}` (`field` is `null` when no one field is at fault).
struct APIError: Error, HTTPResponseError {
  /// The HTTP status.
  let status: HTTPResponse.Status
  /// The request field at fault (a JSON member, `name` for the path, `body`), or `nil`.
  let field: String?
  /// What is wrong and what was expected.
  let message: String

  init(_ status: HTTPResponse.Status, field: String?, _ message: String) {
    self.status = status
    self.field = field
    self.message = message
  }

  /// The JSON body.
  var json: JSONValue {
    .object([
      (
        "error",
        .object([
          ("status", .integer(Int(status.code))), ("field", field.map { .string($0) } ?? .null),
          ("message", .string(message)),
        ])
      )
    ])
  }

  func response(from request: Request, context: some RequestContext) throws -> Response {
    JSONBody.response(json, status: status)
  }
}

/// JSON responses.
enum JSONBody {
  /// A response carrying JSON text.
  static func response(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
    var buffer = ByteBuffer()
    buffer.writeString(text)
    return Response(
      status: status, headers: [.contentType: "application/json; charset=utf-8"],
      body: ResponseBody(byteBuffer: buffer))
  }

  /// A response carrying a JSON value.
  static func response(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
    response(value.serialized() + "\n", status: status)
  }
}

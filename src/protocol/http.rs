//! The few HTTP/1.1 responses wsgate sends besides the 101: refusals and fixed-page heads.
//!
//! Implements the response side of RFC 9112 §4 (status line) and §6 (message body length via
//! `Content-Length`), with the header fields RFC 9110 asks for on specific statuses:
//! `Allow` on 405 (§15.5.6), `Upgrade` on 426 (§15.5.22, plus `Sec-WebSocket-Version` per
//! RFC 6455 §4.4), `WWW-Authenticate` on 401 (§15.5.2) and `Retry-After` on 503 (§15.6.4).
//! Every response says `Connection: close`: after a refusal the transport closes the socket.
//!
//! Responses are written into a caller-provided slice with a small integer formatter of our
//! own; nothing here allocates, uses `core::fmt` on the hot path, or panics. A buffer that is
//! too small is reported as `None`, never truncated.

use crate::bytes::Writer;
use core::fmt;

/// The HTTP status codes wsgate sends (RFC 9110 §15).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
#[repr(u16)]
pub enum Status {
    /// 200 OK: a fixed page served over plain GET.
    Ok = 200,
    /// 400 Bad Request: a malformed request or a failed WebSocket upgrade check.
    BadRequest = 400,
    /// 401 Unauthorized: the verify hook wants credentials.
    Unauthorized = 401,
    /// 403 Forbidden: the verify hook refused the client.
    Forbidden = 403,
    /// 404 Not Found: no gateway or page at this path.
    NotFound = 404,
    /// 405 Method Not Allowed: anything but GET.
    MethodNotAllowed = 405,
    /// 408 Request Timeout: the request head did not arrive in time.
    RequestTimeout = 408,
    /// 426 Upgrade Required: a plain request on a WebSocket path, or a WebSocket version
    /// other than 13.
    UpgradeRequired = 426,
    /// 429 Too Many Requests: the client's address holds as many connections as it may.
    TooManyRequests = 429,
    /// 431 Request Header Fields Too Large: the head does not fit the header buffer or has
    /// too many fields.
    HeaderFieldsTooLarge = 431,
    /// 500 Internal Server Error.
    InternalServerError = 500,
    /// 503 Service Unavailable: no free connection slot.
    ServiceUnavailable = 503,
}

impl Status {
    /// The numeric status code, e.g. `404`.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The standard reason phrase (RFC 9110 §15), e.g. `"Not Found"`.
    pub const fn reason_phrase(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::BadRequest => "Bad Request",
            Status::Unauthorized => "Unauthorized",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::RequestTimeout => "Request Timeout",
            Status::UpgradeRequired => "Upgrade Required",
            Status::TooManyRequests => "Too Many Requests",
            Status::HeaderFieldsTooLarge => "Request Header Fields Too Large",
            Status::InternalServerError => "Internal Server Error",
            Status::ServiceUnavailable => "Service Unavailable",
        }
    }
}

impl fmt::Display for Status {
    /// Formats as `"<code> <phrase>"`, e.g. `404 Not Found`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code(), self.reason_phrase())
    }
}

/// A refusal: a status plus a short human reason sent as the text/plain body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct HttpError {
    /// The status line's code and phrase.
    pub status: Status,
    /// What went wrong, in a few words the client's developer can act on; sent as the body.
    pub reason: &'static str,
}

impl HttpError {
    /// The refusal sent when every connection slot is taken; its exact bytes are
    /// [`SERVER_FULL_RESPONSE`].
    pub const SERVER_FULL: HttpError = HttpError::new(
        Status::ServiceUnavailable,
        "server full: no free connection slot",
    );

    /// 429: the client's address already holds `Config::max_per_address` connections.
    pub const TOO_MANY_FROM_ADDRESS: HttpError = HttpError::new(
        Status::TooManyRequests,
        "too many connections from this address",
    );

    /// A refusal with this status and body text.
    pub const fn new(status: Status, reason: &'static str) -> Self {
        HttpError { status, reason }
    }
}

impl fmt::Display for HttpError {
    /// Formats as `"<code> <phrase>: <reason>"`, e.g. `405 Method Not Allowed: WebSocket
    /// upgrade needs GET`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)
    }
}

impl core::error::Error for HttpError {}

/// The exact bytes of the 503 "server full" response ([`HttpError::SERVER_FULL`] as written
/// by [`write_error`]), so a transport can send it without any state or buffer.
pub const SERVER_FULL_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
Retry-After: 1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 37\r\n\
Connection: close\r\n\
\r\n\
server full: no free connection slot\n";

/// The answer to a connection refused because its address already holds as many slots as
/// `Config::max_per_address` allows ([`HttpError::TOO_MANY_FROM_ADDRESS`] as written by
/// [`write_error`]; RFC 6585 §4). The transport writes it and closes the socket; the server
/// counts it in `Stats::refused_per_address`.
pub const TOO_MANY_FROM_ADDRESS_RESPONSE: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\n\
Retry-After: 1\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Length: 39\r\n\
Connection: close\r\n\
\r\n\
too many connections from this address\n";

/// Writes a complete error response for `err` into `out` and returns its length, or `None`
/// if `out` is too small (its contents are then unspecified).
///
/// The response is `HTTP/1.1 <code> <phrase>`, then the header the status calls for
/// (`Allow: GET` for 405, `Upgrade: websocket` and `Sec-WebSocket-Version: 13` for 426,
/// `WWW-Authenticate: Bearer` for 401, `Retry-After: 1` for 503), then `Content-Type:
/// text/plain; charset=utf-8`, `Content-Length`, `Connection: close`, a blank line and the
/// body: the reason followed by a newline.
///
/// ```
/// use wsgate::protocol::http::{write_error, HttpError, Status};
/// let mut out = [0u8; 256];
/// let n = write_error(&mut out, &HttpError::new(Status::NotFound, "no gateway at /x")).unwrap();
/// assert!(out[..n].starts_with(b"HTTP/1.1 404 Not Found\r\n"));
/// assert!(out[..n].ends_with(b"\r\n\r\nno gateway at /x\n"));
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_error(out: &mut [u8], err: &HttpError) -> Option<usize> {
    let mut w = Writer::new(out);
    w.put(b"HTTP/1.1 ")?;
    w.put_decimal(usize::from(err.status.code()))?;
    w.put(b" ")?;
    w.put(err.status.reason_phrase().as_bytes())?;
    w.put(b"\r\n")?;
    match err.status {
        Status::MethodNotAllowed => w.put(b"Allow: GET\r\n")?,
        Status::UpgradeRequired => w.put(b"Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n")?,
        Status::Unauthorized => w.put(b"WWW-Authenticate: Bearer\r\n")?,
        Status::ServiceUnavailable | Status::TooManyRequests => w.put(b"Retry-After: 1\r\n")?,
        _ => {}
    }
    w.put(b"Content-Type: text/plain; charset=utf-8\r\nContent-Length: ")?;
    w.put_decimal(err.reason.len().checked_add(1)?)?;
    w.put(b"\r\nConnection: close\r\n\r\n")?;
    w.put(err.reason.as_bytes())?;
    w.put(b"\n")?;
    Some(w.len())
}

/// Writes the head of a 200 response for a fixed page of `body_len` bytes into `out` and
/// returns its length, or `None` if `out` is too small. The caller sends the body after it.
///
/// The head is `HTTP/1.1 200 OK`, `Content-Type: <content_type>`, `Content-Length`,
/// `Cache-Control: no-cache`, `Connection: close` and a blank line. `content_type` is the
/// application's own constant (e.g. `"text/html; charset=utf-8"`) and is written verbatim.
///
/// ```
/// use wsgate::protocol::http::write_page_head;
/// let mut out = [0u8; 128];
/// let n = write_page_head(&mut out, "text/html", 1234).unwrap();
/// assert_eq!(
///     &out[..n],
///     b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 1234\r\n\
///       Cache-Control: no-cache\r\nConnection: close\r\n\r\n"
/// );
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_page_head(out: &mut [u8], content_type: &str, body_len: usize) -> Option<usize> {
    let mut w = Writer::new(out);
    w.put(b"HTTP/1.1 200 OK\r\nContent-Type: ")?;
    w.put(content_type.as_bytes())?;
    w.put(b"\r\nContent-Length: ")?;
    w.put_decimal(body_len)?;
    w.put(b"\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")?;
    Some(w.len())
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::format;
    use std::string::String;

    fn error_bytes(status: Status, reason: &'static str) -> String {
        let mut out = [0u8; 512];
        let n = write_error(&mut out, &HttpError::new(status, reason)).expect("fits");
        String::from_utf8(out[..n].to_vec()).expect("ascii")
    }

    const ALL: [Status; 12] = [
        Status::Ok,
        Status::BadRequest,
        Status::Unauthorized,
        Status::Forbidden,
        Status::NotFound,
        Status::MethodNotAllowed,
        Status::RequestTimeout,
        Status::UpgradeRequired,
        Status::TooManyRequests,
        Status::HeaderFieldsTooLarge,
        Status::InternalServerError,
        Status::ServiceUnavailable,
    ];

    #[test]
    fn codes_and_phrases() {
        let expected = [
            (200, "OK"),
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (426, "Upgrade Required"),
            (429, "Too Many Requests"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (503, "Service Unavailable"),
        ];
        for (status, (code, phrase)) in ALL.iter().zip(expected) {
            assert_eq!(status.code(), code);
            assert_eq!(status.reason_phrase(), phrase);
        }
    }

    #[test]
    fn display() {
        assert_eq!(format!("{}", Status::NotFound), "404 Not Found");
        assert_eq!(
            format!(
                "{}",
                HttpError::new(Status::MethodNotAllowed, "WebSocket upgrade needs GET")
            ),
            "405 Method Not Allowed: WebSocket upgrade needs GET"
        );
    }

    #[test]
    fn error_400_exact() {
        assert_eq!(
            error_bytes(Status::BadRequest, "missing Host header"),
            "HTTP/1.1 400 Bad Request\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 20\r\n\
             Connection: close\r\n\
             \r\n\
             missing Host header\n"
        );
    }

    #[test]
    fn error_401_exact() {
        assert_eq!(
            error_bytes(Status::Unauthorized, "token required"),
            "HTTP/1.1 401 Unauthorized\r\n\
             WWW-Authenticate: Bearer\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 15\r\n\
             Connection: close\r\n\
             \r\n\
             token required\n"
        );
    }

    #[test]
    fn error_403_exact() {
        assert_eq!(
            error_bytes(Status::Forbidden, "nope"),
            "HTTP/1.1 403 Forbidden\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 5\r\n\
             Connection: close\r\n\
             \r\n\
             nope\n"
        );
    }

    #[test]
    fn error_404_exact() {
        assert_eq!(
            error_bytes(Status::NotFound, "no gateway at this path"),
            "HTTP/1.1 404 Not Found\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 24\r\n\
             Connection: close\r\n\
             \r\n\
             no gateway at this path\n"
        );
    }

    #[test]
    fn error_405_exact() {
        assert_eq!(
            error_bytes(Status::MethodNotAllowed, "WebSocket upgrade needs GET"),
            "HTTP/1.1 405 Method Not Allowed\r\n\
             Allow: GET\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 28\r\n\
             Connection: close\r\n\
             \r\n\
             WebSocket upgrade needs GET\n"
        );
    }

    #[test]
    fn error_408_exact() {
        assert_eq!(
            error_bytes(Status::RequestTimeout, "request head took too long"),
            "HTTP/1.1 408 Request Timeout\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 27\r\n\
             Connection: close\r\n\
             \r\n\
             request head took too long\n"
        );
    }

    #[test]
    fn error_426_exact() {
        assert_eq!(
            error_bytes(
                Status::UpgradeRequired,
                "unsupported WebSocket version (this server speaks 13)"
            ),
            "HTTP/1.1 426 Upgrade Required\r\n\
             Upgrade: websocket\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 54\r\n\
             Connection: close\r\n\
             \r\n\
             unsupported WebSocket version (this server speaks 13)\n"
        );
    }

    #[test]
    fn error_431_exact() {
        assert_eq!(
            error_bytes(
                Status::HeaderFieldsTooLarge,
                "too many header fields (max 32)"
            ),
            "HTTP/1.1 431 Request Header Fields Too Large\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 32\r\n\
             Connection: close\r\n\
             \r\n\
             too many header fields (max 32)\n"
        );
    }

    #[test]
    fn error_500_exact() {
        assert_eq!(
            error_bytes(Status::InternalServerError, ""),
            "HTTP/1.1 500 Internal Server Error\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             Content-Length: 1\r\n\
             Connection: close\r\n\
             \r\n\
             \n"
        );
    }

    #[test]
    fn error_503_exact_and_const() {
        let expected = "HTTP/1.1 503 Service Unavailable\r\n\
                        Retry-After: 1\r\n\
                        Content-Type: text/plain; charset=utf-8\r\n\
                        Content-Length: 37\r\n\
                        Connection: close\r\n\
                        \r\n\
                        server full: no free connection slot\n";
        assert_eq!(
            error_bytes(
                Status::ServiceUnavailable,
                "server full: no free connection slot"
            ),
            expected
        );
        assert_eq!(SERVER_FULL_RESPONSE, expected.as_bytes());
        let mut out = [0u8; 256];
        let n = write_error(&mut out, &HttpError::SERVER_FULL).expect("fits");
        assert_eq!(&out[..n], SERVER_FULL_RESPONSE);
        assert_eq!(HttpError::SERVER_FULL.status, Status::ServiceUnavailable);
        assert_eq!(
            HttpError::SERVER_FULL.reason,
            "server full: no free connection slot"
        );
    }

    #[test]
    fn error_429_exact_and_const() {
        let expected = "HTTP/1.1 429 Too Many Requests\r\n\
                        Retry-After: 1\r\n\
                        Content-Type: text/plain; charset=utf-8\r\n\
                        Content-Length: 39\r\n\
                        Connection: close\r\n\
                        \r\n\
                        too many connections from this address\n";
        assert_eq!(TOO_MANY_FROM_ADDRESS_RESPONSE, expected.as_bytes());
        let mut out = [0u8; 256];
        let n = write_error(&mut out, &HttpError::TOO_MANY_FROM_ADDRESS).expect("fits");
        assert_eq!(&out[..n], TOO_MANY_FROM_ADDRESS_RESPONSE);
    }

    #[test]
    fn content_length_matches_body_for_every_status() {
        for status in ALL {
            let text = error_bytes(status, "some reason");
            let (head, body) = text.split_once("\r\n\r\n").expect("blank line");
            assert_eq!(body, "some reason\n");
            assert!(head.contains(&format!("\r\nContent-Length: {}\r\n", body.len())));
            assert!(head.starts_with(&format!(
                "HTTP/1.1 {} {}\r\n",
                status.code(),
                status.reason_phrase()
            )));
            assert!(head.ends_with("\r\nConnection: close"));
        }
    }

    #[test]
    fn error_exact_fit_and_every_short_buffer() {
        let err = HttpError::new(Status::UpgradeRequired, "plain GET on a WebSocket path");
        let mut full = [0u8; 512];
        let n = write_error(&mut full, &err).expect("fits");
        let mut exact = std::vec![0u8; n];
        assert_eq!(write_error(&mut exact, &err), Some(n));
        assert_eq!(&exact[..], &full[..n]);
        for short in 0..n {
            let mut buf = std::vec![0u8; short];
            assert_eq!(write_error(&mut buf, &err), None, "len {short}");
        }
    }

    #[test]
    fn page_head_exact() {
        let mut out = [0u8; 256];
        let n = write_page_head(&mut out, "text/html; charset=utf-8", 5120).expect("fits");
        assert_eq!(
            &out[..n],
            b"HTTP/1.1 200 OK\r\n\
              Content-Type: text/html; charset=utf-8\r\n\
              Content-Length: 5120\r\n\
              Cache-Control: no-cache\r\n\
              Connection: close\r\n\
              \r\n"
        );
        let n = write_page_head(&mut out, "application/javascript", 0).expect("fits");
        assert_eq!(
            &out[..n],
            b"HTTP/1.1 200 OK\r\n\
              Content-Type: application/javascript\r\n\
              Content-Length: 0\r\n\
              Cache-Control: no-cache\r\n\
              Connection: close\r\n\
              \r\n"
        );
    }

    #[test]
    fn page_head_short_buffers() {
        let mut full = [0u8; 256];
        let n = write_page_head(&mut full, "text/plain", usize::MAX).expect("fits");
        let expected = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
            usize::MAX
        );
        assert_eq!(&full[..n], expected.as_bytes());
        for short in 0..n {
            let mut buf = std::vec![0u8; short];
            assert_eq!(write_page_head(&mut buf, "text/plain", usize::MAX), None);
        }
    }
}

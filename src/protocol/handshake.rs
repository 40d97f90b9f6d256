//! The WebSocket opening handshake, server side (RFC 6455 §4.2).
//!
//! - [`find_head_end`] finds the end of the request head as bytes trickle in, resuming where
//!   the last call stopped, so a request split across any number of reads works.
//! - [`Request::parse`] parses the head (RFC 9112 §2.2, §3, §5) with a small scanner of its
//!   own into a borrowed view with at most [`MAX_HEADERS`] header fields.
//! - [`validate_upgrade`] checks the client's handshake against RFC 6455 §4.2.1, refusing each
//!   failure with its own status and reason ([`HttpError`], written by
//!   [`write_error`](super::http::write_error)).
//! - [`select_protocol`] picks a subprotocol from the server's list (§4.2.2 step 5.4).
//! - [`accept_key`] and [`write_accept`] build the `101 Switching Protocols` response
//!   (§4.2.2 step 5).
//!
//! It never allocates, never copies header data (everything borrows the request buffer),
//! never echoes client bytes into the response except the accept hash, never negotiates
//! extensions (`Sec-WebSocket-Extensions` is ignored, so no permessage-deflate), and never
//! panics, whatever the length of a key, header or protocol list.

use super::base64;
use super::http::{HttpError, Status};
use super::sha1::Sha1;
use crate::bytes::Writer;

/// Most header fields a request head may carry; more is refused with 431.
pub const MAX_HEADERS: usize = 32;

/// The GUID appended to the client's key before hashing (RFC 6455 §1.3, §4.2.2).
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

// Refusals, one per failed check; the texts are part of the observable behaviour (tested).

// The 431 reason spells out the limit.
const _: () = assert!(MAX_HEADERS == 32, "update the TOO_MANY_HEADERS reason");
const TOO_MANY_HEADERS: HttpError = HttpError::new(
    Status::HeaderFieldsTooLarge,
    "too many header fields (max 32)",
);
const MALFORMED: HttpError = HttpError::new(Status::BadRequest, "malformed HTTP request");
const INCOMPLETE: HttpError = HttpError::new(Status::BadRequest, "incomplete HTTP request");
const BAD_TARGET: HttpError = HttpError::new(
    Status::BadRequest,
    "request target must be a path or an http(s) or ws(s) URL",
);
const BARE_LF: HttpError = HttpError::new(
    Status::BadRequest,
    "bare LF in the request head: lines must end with CRLF",
);
const NOT_GET: HttpError = HttpError::new(Status::MethodNotAllowed, "WebSocket upgrade needs GET");
const NOT_HTTP11: HttpError = HttpError::new(Status::BadRequest, "WebSocket needs HTTP/1.1");
const NO_HOST: HttpError = HttpError::new(Status::BadRequest, "missing Host header");
const MANY_HOSTS: HttpError = HttpError::new(Status::BadRequest, "more than one Host header");
const BAD_UPGRADE: HttpError = HttpError::new(
    Status::BadRequest,
    "missing or wrong Upgrade header (expected websocket)",
);
const BAD_CONNECTION: HttpError = HttpError::new(
    Status::BadRequest,
    "Connection header lacks the upgrade token",
);
const NO_VERSION: HttpError = HttpError::new(Status::BadRequest, "missing Sec-WebSocket-Version");
const BAD_VERSION: HttpError = HttpError::new(
    Status::UpgradeRequired,
    "unsupported WebSocket version (this server speaks 13)",
);
const BAD_KEY: HttpError =
    HttpError::new(Status::BadRequest, "missing or invalid Sec-WebSocket-Key");

/// Finds the end of an HTTP head (`\r\n\r\n`) in `buf` and returns the index just after it.
///
/// Lines must end with CRLF. A bare LF (one not preceded by CR) ends the search at once:
/// the index just after it is returned, and [`Request::parse`] refuses that head with 400
/// "bare LF in the request head". So such a request is answered as soon as the LF arrives
/// rather than waiting for a blank line that the client may never send, and no header is
/// ever split where a proxy in front would not split it (RFC 9112 §2.2 lets a recipient
/// choose; wsgate applies the strict rule everywhere).
///
/// `scanned` is how many bytes of `buf` an earlier call already searched without finding the
/// end (normally the previous `buf.len()`); the search resumes 3 bytes before it so a
/// terminator split across reads is still found. Any value is safe: `0` searches everything,
/// a value past `buf.len()` counts as `buf.len()` (nothing new to search, so `None`).
///
/// ```
/// use wsgate::protocol::handshake::find_head_end;
/// let mut buf = b"GET / HTTP/1.1\r\nHost: a\r\n\r".to_vec();
/// assert_eq!(find_head_end(&buf, 0), None);
/// let scanned = buf.len();
/// buf.push(b'\n');
/// assert_eq!(find_head_end(&buf, scanned), Some(buf.len()));
/// // A bare LF ends the head where it is (and the head is refused with 400).
/// assert_eq!(find_head_end(b"GET / HTTP/1.1\nHost: a\n\n", 0), Some(15));
/// ```
pub fn find_head_end(buf: &[u8], scanned: usize) -> Option<usize> {
    let start = scanned.min(buf.len()).saturating_sub(3);
    let mut from = start;
    loop {
        let lf = from.checked_add(buf.get(from..)?.iter().position(|&b| b == b'\n')?)?;
        let end = lf.checked_add(1)?;
        let line_start = lf.checked_sub(1).and_then(|cr| buf.get(cr));
        if line_start != Some(&b'\r') {
            return Some(end);
        }
        if lf >= start.saturating_add(3) && buf.get(lf - 3..end) == Some(b"\r\n\r\n") {
            return Some(end);
        }
        from = end;
    }
}

/// A parsed request head. Borrows the buffer it was parsed from.
///
/// Header values returned by its accessors are trimmed of leading and trailing spaces and
/// tabs.
///
/// It holds [`MAX_HEADERS`] header slots, so it is 544 bytes on 32-bit targets and 1088 on
/// 64-bit ones; it is meant to live on the stack only while the handshake is answered.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The method, e.g. `GET` (case-sensitive, RFC 9110 §9.1).
    pub method: &'a str,
    /// The path of the request target, before any `?` (e.g. `/chat`); always starts with `/`.
    pub path: &'a str,
    /// The query, after the `?` and without it; `""` if there is none.
    pub query: &'a str,
    /// The minor HTTP version: `1` for HTTP/1.1, `0` for HTTP/1.0.
    pub minor_version: u8,
    /// Header slots; only the first `count` are filled.
    headers: [Field<'a>; MAX_HEADERS],
    /// Number of header fields the request carried (at most [`MAX_HEADERS`]).
    count: usize,
}

impl<'a> Request<'a> {
    /// Parses a complete request head, as delimited by [`find_head_end`]: `head` must end
    /// with the blank line and hold nothing after it.
    ///
    /// # Errors
    ///
    /// More than [`MAX_HEADERS`] fields is 431 "too many header fields (max 32)"; a
    /// head that ends early is 400 "incomplete HTTP request"; a line that ends with a bare
    /// LF instead of CRLF is 400 "bare LF in the request head: lines must end with CRLF";
    /// a request target that is neither an absolute path (origin-form) nor an `http`,
    /// `https`, `ws` or `wss` URL (absolute-form, which RFC 9112 §3.2.2 says a server must
    /// accept: its path and query are used, its authority ignored) is 400 "request target
    /// must be a path or an http(s) or ws(s) URL"; any other syntax error, or bytes after
    /// the end of the head, is 400 "malformed HTTP request".
    ///
    /// ```
    /// use wsgate::protocol::handshake::Request;
    /// let req = Request::parse(b"GET /ws?id=7 HTTP/1.1\r\nHost: dev\r\n\r\n").unwrap();
    /// assert_eq!((req.method, req.path, req.query), ("GET", "/ws", "id=7"));
    /// assert_eq!(req.header("host"), Some(&b"dev"[..]));
    /// ```
    // Not inlined: one call per connection, and at opt-level "z" inlining it into its one
    // caller costs flash (measured: 276 bytes in the firmware).
    #[inline(never)]
    pub fn parse(head: &'a [u8]) -> Result<Request<'a>, HttpError> {
        let mut s = Scanner { rest: head };
        // Empty lines before the request line are skipped (RFC 9112 §2.2).
        while let Some(b'\r' | b'\n') = s.rest.first() {
            s.newline()?;
        }
        // request-line = method SP request-target SP HTTP-version CRLF (RFC 9112 §3)
        let method = s.take_while(is_tchar);
        s.expect(b' ')?;
        if method.is_empty() {
            return Err(MALFORMED);
        }
        let target = s.take_while(|b| b > b' ' && b != 0x7f);
        s.expect(b' ')?;
        if target.is_empty() {
            return Err(MALFORMED);
        }
        let target = core::str::from_utf8(target).map_err(|_| MALFORMED)?;
        let minor_version = s.version()?;
        s.newline()?;
        // field-line = field-name ":" OWS field-value OWS (RFC 9112 §5); no obsolete folding.
        let mut headers = [Field::EMPTY; MAX_HEADERS];
        let mut count = 0;
        loop {
            match s.rest.first() {
                None => return Err(INCOMPLETE),
                Some(b'\r' | b'\n') => break,
                Some(_) => {}
            }
            let name = s.take_while(is_tchar);
            s.expect(b':')?;
            if name.is_empty() {
                return Err(MALFORMED);
            }
            s.take_while(|b| b == b' ' || b == b'\t');
            let value = s.take_while(|b| b == b'\t' || (b >= b' ' && b != 0x7f));
            s.newline()?;
            let Some(slot) = headers.get_mut(count) else {
                return Err(TOO_MANY_HEADERS);
            };
            *slot = Field {
                name: core::str::from_utf8(name).map_err(|_| MALFORMED)?,
                value: trim_ows(value),
            };
            count += 1;
        }
        s.newline()?;
        if !s.rest.is_empty() {
            return Err(MALFORMED);
        }
        let target = origin_form(target).ok_or(BAD_TARGET)?;
        let (path, query) = match target.bytes().position(|b| b == b'?') {
            Some(i) => (target.get(..i), target.get(i + 1..)),
            None => (Some(target), None),
        };
        // `http://host?q` has an empty path: it is `/` (RFC 9112 §3.2.1).
        let path = path.filter(|p| !p.is_empty()).unwrap_or("/");
        Ok(Request {
            method: core::str::from_utf8(method).map_err(|_| MALFORMED)?,
            path,
            query: query.unwrap_or(""),
            minor_version,
            headers,
            count,
        })
    }

    /// The first value of the header `name` (ASCII case-insensitive), trimmed of spaces and
    /// tabs; `None` if there is no such header.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers_named(name).next()
    }

    /// Every value of the header `name` (ASCII case-insensitive), trimmed, in request order.
    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a [u8]> + 's {
        self.headers()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// Every header as `(name, trimmed value)`, in request order.
    pub fn headers(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        self.headers
            .iter()
            .take(self.count)
            .map(|h| (h.name, h.value))
    }

    /// `true` if the client asks for a WebSocket: it sent an `Upgrade` or a
    /// `Sec-WebSocket-Key` header. A request without either is a plain HTTP request (a page,
    /// or a 426 on a WebSocket path).
    pub fn wants_upgrade(&self) -> bool {
        self.header("upgrade").is_some() || self.header("sec-websocket-key").is_some()
    }
}

/// The validated upgrade fields of a request.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Upgrade<'a> {
    /// The client's `Sec-WebSocket-Key`: 24 bytes of base64 encoding 16 bytes, as sent
    /// (trimmed); feed it to [`accept_key`] or [`write_accept`].
    pub key: &'a [u8],
}

/// Checks the request against RFC 6455 §4.2.1 and returns the client's key.
///
/// # Errors
///
/// The checks run in this order and the first failure is returned:
///
/// 1. method `GET`, else 405 "WebSocket upgrade needs GET";
/// 2. HTTP/1.1 or later, else 400 "WebSocket needs HTTP/1.1";
/// 3. a `Host` header, else 400 "missing Host header"; more than one is 400 "more than one
///    Host header" (RFC 9112 §3.2);
/// 4. an `Upgrade` header listing the token `websocket` (case-insensitive), else 400
///    "missing or wrong Upgrade header (expected websocket)";
/// 5. `Connection` header(s) listing the token `upgrade` (case-insensitive, e.g. Firefox's
///    `keep-alive, Upgrade`), else 400 "Connection header lacks the upgrade token";
/// 6. `Sec-WebSocket-Version`, else 400 "missing Sec-WebSocket-Version"; every such header
///    equal to `13`, else 426 "unsupported WebSocket version (this server speaks 13)"
///    (write it with [`write_error`](super::http::write_error), which adds
///    `Sec-WebSocket-Version: 13` as §4.4 asks);
/// 7. exactly one `Sec-WebSocket-Key`, the strict base64 of exactly 16 bytes, else 400
///    "missing or invalid Sec-WebSocket-Key".
///
/// ```
/// use wsgate::protocol::handshake::{validate_upgrade, Request};
/// let head = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Version: 13\r\n\r\n";
/// let req = Request::parse(head).unwrap();
/// assert_eq!(validate_upgrade(&req).unwrap().key, b"dGhlIHNhbXBsZSBub25jZQ==");
/// ```
pub fn validate_upgrade<'a>(req: &Request<'a>) -> Result<Upgrade<'a>, HttpError> {
    if req.method != "GET" {
        return Err(NOT_GET);
    }
    if req.minor_version < 1 {
        return Err(NOT_HTTP11);
    }
    match req.headers_named("host").count() {
        0 => return Err(NO_HOST),
        1 => {}
        _ => return Err(MANY_HOSTS),
    }
    if !req
        .headers_named("upgrade")
        .any(|v| has_token(v, b"websocket"))
    {
        return Err(BAD_UPGRADE);
    }
    if !req
        .headers_named("connection")
        .any(|v| has_token(v, b"upgrade"))
    {
        return Err(BAD_CONNECTION);
    }
    let mut versions = req.headers_named("sec-websocket-version").peekable();
    if versions.peek().is_none() {
        return Err(NO_VERSION);
    }
    if !versions.all(|v| v == b"13") {
        return Err(BAD_VERSION);
    }
    let mut keys = req.headers_named("sec-websocket-key");
    let (Some(key), None) = (keys.next(), keys.next()) else {
        return Err(BAD_KEY);
    };
    if !is_strict_key(key) {
        return Err(BAD_KEY);
    }
    Ok(Upgrade { key })
}

/// Chooses a subprotocol (RFC 6455 §4.2.2 step 5.4): walks the client's
/// `Sec-WebSocket-Protocol` tokens (all such headers, comma-separated, trimmed) in the
/// client's order and returns the first that appears exactly (case-sensitive) in
/// `supported`.
///
/// Returns the server's own `&'static str`, never the client's bytes; `None` if nothing
/// matches (then the 101 carries no `Sec-WebSocket-Protocol`, and the client decides).
///
/// ```
/// use wsgate::protocol::handshake::{select_protocol, Request};
/// let req = Request::parse(b"GET / HTTP/1.1\r\nSec-WebSocket-Protocol: v2, v1\r\n\r\n").unwrap();
/// assert_eq!(select_protocol(&req, &["v1", "v2"]), Some("v2"));
/// assert_eq!(select_protocol(&req, &["v3"]), None);
/// ```
pub fn select_protocol(req: &Request<'_>, supported: &[&'static str]) -> Option<&'static str> {
    req.headers_named("sec-websocket-protocol")
        .flat_map(tokens)
        .find_map(|offered| supported.iter().find(|s| s.as_bytes() == offered).copied())
}

/// The `Sec-WebSocket-Accept` value for a client key (RFC 6455 §4.2.2 step 5.4):
/// base64(SHA-1(key ++ "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")), 28 bytes. Any key length
/// is accepted.
///
/// ```
/// use wsgate::protocol::handshake::accept_key;
/// assert_eq!(&accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> [u8; 28] {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(ACCEPT_GUID);
    let digest = sha.finish();
    let mut out = [0u8; 28];
    // A 20-byte digest always encodes to exactly 28 bytes, so this cannot fail.
    let _written = base64::encode(&digest, &mut out);
    out
}

/// Writes the `101 Switching Protocols` response (RFC 6455 §4.2.2 step 5) into `out` and
/// returns its length, or `None` if `out` is too small:
/// `HTTP/1.1 101 Switching Protocols`, `Upgrade: websocket`, `Connection: Upgrade`,
/// `Sec-WebSocket-Accept: <accept_key(key)>`, then `Sec-WebSocket-Protocol: <p>` if
/// `protocol` is `Some(p)`, then a blank line.
///
/// `protocol` should come from [`select_protocol`]; it is written verbatim.
///
/// ```
/// use wsgate::protocol::handshake::write_accept;
/// let mut out = [0u8; 256];
/// let n = write_accept(&mut out, b"dGhlIHNhbXBsZSBub25jZQ==", None).unwrap();
/// assert_eq!(
///     &out[..n],
///     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
///       Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
/// );
/// ```
#[must_use = "the length written is the only way to know what was written"]
pub fn write_accept(out: &mut [u8], key: &[u8], protocol: Option<&str>) -> Option<usize> {
    let accept = accept_key(key);
    let mut w = Writer::new(out);
    w.put(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n")?;
    w.put(b"Sec-WebSocket-Accept: ")?;
    w.put(&accept)?;
    w.put(b"\r\n")?;
    if let Some(p) = protocol {
        w.put(b"Sec-WebSocket-Protocol: ")?;
        w.put(p.as_bytes())?;
        w.put(b"\r\n")?;
    }
    w.put(b"\r\n")?;
    Some(w.len())
}

/// One header field of a [`Request`]: its name and its value, trimmed.
#[derive(Clone, Copy, Debug)]
struct Field<'a> {
    name: &'a str,
    value: &'a [u8],
}

impl Field<'_> {
    const EMPTY: Field<'static> = Field {
        name: "",
        value: b"",
    };
}

/// `tchar` (RFC 9110 §5.6.2): the bytes of a method or a header name, as a 256-bit set.
const TCHAR: [u32; 8] = {
    let mut set = [0u32; 8];
    let extra = b"!#$%&'*+-.^_`|~";
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        let mut yes = c.is_ascii_alphanumeric();
        let mut i = 0;
        while i < extra.len() {
            yes |= extra[i] == c;
            i += 1;
        }
        if yes {
            set[b / 32] |= 1 << (b % 32);
        }
        b += 1;
    }
    set
};

fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b >> 5)] & (1 << (b & 31)) != 0
}

/// A cursor over the request head. Running out of bytes is "incomplete"; a wrong byte is
/// "malformed".
struct Scanner<'a> {
    rest: &'a [u8],
}

impl<'a> Scanner<'a> {
    /// Takes the longest prefix whose bytes all pass `keep`.
    fn take_while(&mut self, keep: impl Fn(u8) -> bool) -> &'a [u8] {
        let n = self
            .rest
            .iter()
            .position(|&b| !keep(b))
            .unwrap_or(self.rest.len());
        let (taken, rest) = self.rest.split_at_checked(n).unwrap_or((self.rest, &[]));
        self.rest = rest;
        taken
    }

    /// Takes the byte `want`.
    fn expect(&mut self, want: u8) -> Result<(), HttpError> {
        match self.rest.split_first() {
            Some((&b, rest)) if b == want => {
                self.rest = rest;
                Ok(())
            }
            Some(_) => Err(MALFORMED),
            None => Err(INCOMPLETE),
        }
    }

    /// Takes a line end: CRLF. A bare LF is refused (see [`find_head_end`]).
    fn newline(&mut self) -> Result<(), HttpError> {
        match self.rest {
            [b'\r', b'\n', rest @ ..] => {
                self.rest = rest;
                Ok(())
            }
            [b'\n', ..] => Err(BARE_LF),
            [b'\r'] | [] => Err(INCOMPLETE),
            _ => Err(MALFORMED),
        }
    }

    /// Takes `HTTP/1.0` or `HTTP/1.1` and returns the minor version.
    fn version(&mut self) -> Result<u8, HttpError> {
        let (v, rest) = match self.rest.split_at_checked(8) {
            Some(split) => split,
            // Too short: incomplete while what is there could still become a version.
            None if b"HTTP/1.".starts_with(self.rest) => return Err(INCOMPLETE),
            None => return Err(MALFORMED),
        };
        let minor = match v {
            b"HTTP/1.0" => 0,
            b"HTTP/1.1" => 1,
            _ => return Err(MALFORMED),
        };
        self.rest = rest;
        Ok(minor)
    }
}

/// The path and query of a request target (RFC 9112 §3.2): an origin-form target
/// (`/chat?x`) as it is, or those of an absolute-form one (`http://host:80/chat?x`, also
/// `https`, `ws` and `wss`, scheme case-insensitive), whose authority is dropped (a path
/// left empty is `""`, read as `/`). `None` for anything else (`*`, other schemes).
fn origin_form(target: &str) -> Option<&str> {
    let bytes = target.as_bytes();
    if bytes.first() == Some(&b'/') {
        return Some(target);
    }
    // Byte by byte rather than with `str` patterns: this is firmware code, kept small.
    let colon = bytes.iter().position(|&b| b == b':')?;
    let scheme = bytes.get(..colon)?;
    let known = [&b"http"[..], b"https", b"ws", b"wss"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme));
    if !known || bytes.get(colon + 1..colon + 3) != Some(b"//") {
        return None;
    }
    let authority = colon + 3;
    let end = bytes
        .iter()
        .skip(authority)
        .position(|&b| b == b'/' || b == b'?')
        .map_or(bytes.len(), |n| authority + n);
    if end == authority {
        return None;
    }
    target.get(end..)
}

/// `true` if `key` is the strict base64 of exactly 16 bytes (RFC 6455 §4.2.1 item 5), as
/// [`base64::decode`] would accept it, checked without decoding: 21 symbols, a 22nd whose
/// 4 unused low bits are zero, then `==`.
fn is_strict_key(key: &[u8]) -> bool {
    let [symbols @ .., last, b'=', b'='] = key else {
        return false;
    };
    key.len() == 24
        && symbols.iter().all(|&c| base64::value(c).is_some())
        && base64::value(*last).is_some_and(|v| v & 0x0f == 0)
}

/// `value` without leading and trailing spaces and tabs (RFC 9110 §5.6.3 OWS).
fn trim_ows(mut value: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = value {
        value = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = value {
        value = rest;
    }
    value
}

/// The non-empty, trimmed elements of a comma-separated list (RFC 9110 §5.6.1).
fn tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|t| !t.is_empty())
}

/// `true` if the comma-separated list `value` holds `token` (ASCII case-insensitive).
fn has_token(value: &[u8], token: &[u8]) -> bool {
    tokens(value).any(|t| t.eq_ignore_ascii_case(token))
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use crate::protocol::http::write_error;
    use std::format;
    use std::string::String;
    use std::vec::Vec;

    const RFC_KEY: &[u8] = b"dGhlIHNhbXBsZSBub25jZQ==";
    const RFC_ACCEPT: &[u8] = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

    const CHROME: &[u8] = b"GET /chat HTTP/1.1\r\n\
Host: 192.168.1.50:8080\r\n\
Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://192.168.1.50:8080\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Sec-WebSocket-Key: E4WSEcseoWr4csPLS2QJHA==\r\n\
Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\
\r\n";

    const FIREFOX: &[u8] = b"GET /ws?token=abc&x=1 HTTP/1.1\r\n\
Host: localhost:3000\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0\r\n\
Accept: */*\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Sec-WebSocket-Version: 13\r\n\
Origin: http://localhost:3000\r\n\
Sec-WebSocket-Protocol: chat, superchat\r\n\
Sec-WebSocket-Extensions: permessage-deflate\r\n\
Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n\
Connection: keep-alive, Upgrade\r\n\
Sec-Fetch-Dest: empty\r\n\
Sec-Fetch-Mode: websocket\r\n\
Sec-Fetch-Site: same-origin\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
Upgrade: websocket\r\n\
\r\n";

    /// A valid minimal upgrade head with `line` (a full header line incl. CRLF, or "")
    /// replacing the header line that starts with `drop` (or appended if `drop` is "").
    fn head_with(drop: &str, line: &str) -> Vec<u8> {
        let base = [
            "Host: example.com\r\n",
            "Upgrade: websocket\r\n",
            "Connection: Upgrade\r\n",
            "Sec-WebSocket-Version: 13\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
        ];
        let mut s = String::from("GET /chat HTTP/1.1\r\n");
        let mut replaced = false;
        for h in base {
            if !drop.is_empty() && h.starts_with(drop) {
                s.push_str(line);
                replaced = true;
            } else {
                s.push_str(h);
            }
        }
        if !replaced {
            s.push_str(line);
        }
        s.push_str("\r\n");
        s.into_bytes()
    }

    fn validate(head: &[u8]) -> Result<Vec<u8>, HttpError> {
        let req = Request::parse(head)?;
        validate_upgrade(&req).map(|u| u.key.to_vec())
    }

    fn err(status: Status, reason: &'static str) -> HttpError {
        HttpError::new(status, reason)
    }

    fn bad(reason: &'static str) -> HttpError {
        err(Status::BadRequest, reason)
    }

    // ---- accept key and 101 ----

    #[test]
    fn rfc_sample_accept_key() {
        assert_eq!(&accept_key(RFC_KEY), RFC_ACCEPT);
        assert_eq!(
            &accept_key(b"x3JJHMbDL1EzLkh9GBhXDw=="),
            b"HSmrc0sMlYUkAGmm5OPpG2HaGWk="
        );
        assert_eq!(
            &accept_key(b"E4WSEcseoWr4csPLS2QJHA=="),
            b"7eQChgCtQMnVILefJAO6dK5JwPc="
        );
    }

    #[test]
    fn accept_key_any_length() {
        assert_eq!(&accept_key(b""), b"Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=");
        assert_eq!(&accept_key(&[b'A'; 100]), b"WXqNWiGhe0+utGv47+HlLjR7KVw=");
        let big = [0xffu8; 10_000];
        assert_eq!(accept_key(&big).len(), 28);
    }

    #[test]
    fn write_accept_exact_without_protocol() {
        let mut out = [0u8; 256];
        let n = write_accept(&mut out, RFC_KEY, None).expect("fits");
        assert_eq!(
            &out[..n],
            &b"HTTP/1.1 101 Switching Protocols\r\n\
               Upgrade: websocket\r\n\
               Connection: Upgrade\r\n\
               Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
               \r\n"[..]
        );
        assert_eq!(n, 129);
    }

    #[test]
    fn write_accept_exact_with_protocol() {
        let mut out = [0u8; 256];
        let n = write_accept(&mut out, RFC_KEY, Some("chat")).expect("fits");
        assert_eq!(
            &out[..n],
            &b"HTTP/1.1 101 Switching Protocols\r\n\
               Upgrade: websocket\r\n\
               Connection: Upgrade\r\n\
               Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
               Sec-WebSocket-Protocol: chat\r\n\
               \r\n"[..]
        );
    }

    #[test]
    fn write_accept_every_short_buffer() {
        for protocol in [None, Some("chat")] {
            let mut full = [0u8; 256];
            let n = write_accept(&mut full, RFC_KEY, protocol).expect("fits");
            let mut exact = std::vec![0u8; n];
            assert_eq!(write_accept(&mut exact, RFC_KEY, protocol), Some(n));
            assert_eq!(&exact[..], &full[..n]);
            for short in 0..n {
                let mut buf = std::vec![0u8; short];
                assert_eq!(write_accept(&mut buf, RFC_KEY, protocol), None);
            }
        }
    }

    // ---- real browsers ----

    #[test]
    fn chrome_request_accepted() {
        let end = find_head_end(CHROME, 0).expect("complete");
        assert_eq!(end, CHROME.len());
        let req = Request::parse(CHROME).expect("parses");
        assert_eq!(req.method, "GET");
        assert_eq!(req.path, "/chat");
        assert_eq!(req.query, "");
        assert_eq!(req.minor_version, 1);
        assert!(req.wants_upgrade());
        assert_eq!(req.headers().count(), 12);
        assert_eq!(req.header("HOST"), Some(&b"192.168.1.50:8080"[..]));
        assert_eq!(req.header("origin"), Some(&b"http://192.168.1.50:8080"[..]));
        let up = validate_upgrade(&req).expect("valid");
        assert_eq!(up.key, b"E4WSEcseoWr4csPLS2QJHA==");
        assert_eq!(select_protocol(&req, &["chat"]), None);
        let mut out = [0u8; 256];
        let n = write_accept(&mut out, up.key, None).expect("fits");
        assert_eq!(
            &out[..n],
            &b"HTTP/1.1 101 Switching Protocols\r\n\
               Upgrade: websocket\r\n\
               Connection: Upgrade\r\n\
               Sec-WebSocket-Accept: 7eQChgCtQMnVILefJAO6dK5JwPc=\r\n\
               \r\n"[..]
        );
    }

    #[test]
    fn firefox_request_accepted() {
        let req = Request::parse(FIREFOX).expect("parses");
        assert_eq!(req.path, "/ws");
        assert_eq!(req.query, "token=abc&x=1");
        assert_eq!(req.header("connection"), Some(&b"keep-alive, Upgrade"[..]));
        let up = validate_upgrade(&req).expect("valid");
        assert_eq!(up.key, b"x3JJHMbDL1EzLkh9GBhXDw==");
        let proto = select_protocol(&req, &["superchat", "chat"]);
        assert_eq!(proto, Some("chat"), "client order wins");
        let mut out = [0u8; 256];
        let n = write_accept(&mut out, up.key, proto).expect("fits");
        assert_eq!(
            &out[..n],
            &b"HTTP/1.1 101 Switching Protocols\r\n\
               Upgrade: websocket\r\n\
               Connection: Upgrade\r\n\
               Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n\
               Sec-WebSocket-Protocol: chat\r\n\
               \r\n"[..]
        );
    }

    #[test]
    fn minimal_rfc_request_accepted() {
        assert_eq!(validate(&head_with("", "")), Ok(RFC_KEY.to_vec()));
    }

    // ---- refusals, in check order ----

    #[test]
    fn post_is_405() {
        let mut head = head_with("", "");
        head.splice(0..3, b"POST".iter().copied());
        assert_eq!(
            validate(&head),
            Err(err(Status::MethodNotAllowed, "WebSocket upgrade needs GET"))
        );
        for method in ["HEAD", "PUT", "get", "OPTIONS"] {
            let mut head = head_with("", "");
            head.splice(0..3, method.bytes());
            assert_eq!(
                validate(&head).map_err(|e| e.status),
                Err(Status::MethodNotAllowed)
            );
        }
    }

    #[test]
    fn http10_is_400() {
        let head = head_with("", "");
        let text = String::from_utf8(head).expect("ascii");
        let head = text.replacen("HTTP/1.1", "HTTP/1.0", 1).into_bytes();
        assert_eq!(validate(&head), Err(bad("WebSocket needs HTTP/1.1")));
    }

    #[test]
    fn missing_host_is_400() {
        assert_eq!(
            validate(&head_with("Host:", "")),
            Err(bad("missing Host header"))
        );
    }

    #[test]
    fn two_hosts_is_400() {
        assert_eq!(
            validate(&head_with("", "host: other.example\r\n")),
            Err(bad("more than one Host header"))
        );
    }

    #[test]
    fn upgrade_header_checks() {
        let wrong = bad("missing or wrong Upgrade header (expected websocket)");
        assert_eq!(validate(&head_with("Upgrade:", "")), Err(wrong));
        for line in [
            "Upgrade: h2c\r\n",
            "Upgrade: websockets\r\n",
            "Upgrade: web socket\r\n",
            "Upgrade:\r\n",
            "Upgrade: ,\r\n",
        ] {
            assert_eq!(validate(&head_with("Upgrade:", line)), Err(wrong), "{line}");
        }
        for line in [
            "Upgrade: WebSocket\r\n",
            "Upgrade: WEBSOCKET\r\n",
            "upgrade:   websocket  \r\n",
            "Upgrade: h2c, websocket\r\n",
            "Upgrade: websocket,foo\r\n",
            "Upgrade: h2c\r\nUpgrade: websocket\r\n",
        ] {
            assert_eq!(
                validate(&head_with("Upgrade:", line)),
                Ok(RFC_KEY.to_vec()),
                "{line}"
            );
        }
    }

    #[test]
    fn connection_header_checks() {
        let wrong = bad("Connection header lacks the upgrade token");
        assert_eq!(validate(&head_with("Connection:", "")), Err(wrong));
        for line in [
            "Connection: keep-alive\r\n",
            "Connection: upgraded\r\n",
            "Connection: keep-alive upgrade\r\n",
            "Connection: close\r\n",
            "Connection:\r\n",
        ] {
            assert_eq!(
                validate(&head_with("Connection:", line)),
                Err(wrong),
                "{line}"
            );
        }
        for line in [
            "Connection: upgrade\r\n",
            "Connection: UPGRADE\r\n",
            "Connection: keep-alive, Upgrade\r\n",
            "Connection: keep-alive,Upgrade\r\n",
            "Connection: Upgrade, keep-alive\r\n",
            "Connection:\t keep-alive ,\tUpgrade \t\r\n",
            "Connection: keep-alive\r\nConnection: Upgrade\r\n",
        ] {
            assert_eq!(
                validate(&head_with("Connection:", line)),
                Ok(RFC_KEY.to_vec()),
                "{line}"
            );
        }
    }

    #[test]
    fn version_checks() {
        assert_eq!(
            validate(&head_with("Sec-WebSocket-Version:", "")),
            Err(bad("missing Sec-WebSocket-Version"))
        );
        let unsupported = err(
            Status::UpgradeRequired,
            "unsupported WebSocket version (this server speaks 13)",
        );
        for line in [
            "Sec-WebSocket-Version: 8\r\n",
            "Sec-WebSocket-Version: 12\r\n",
            "Sec-WebSocket-Version: 14\r\n",
            "Sec-WebSocket-Version: 013\r\n",
            "Sec-WebSocket-Version: 13, 8\r\n",
            "Sec-WebSocket-Version:\r\n",
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8\r\n",
        ] {
            assert_eq!(
                validate(&head_with("Sec-WebSocket-Version:", line)),
                Err(unsupported),
                "{line}"
            );
        }
        assert_eq!(
            validate(&head_with(
                "Sec-WebSocket-Version:",
                "sec-websocket-version:  13 \r\n"
            )),
            Ok(RFC_KEY.to_vec())
        );
    }

    #[test]
    fn version_8_response_bytes() {
        let e = validate(&head_with(
            "Sec-WebSocket-Version:",
            "Sec-WebSocket-Version: 8\r\n",
        ))
        .expect_err("refused");
        let mut out = [0u8; 256];
        let n = write_error(&mut out, &e).expect("fits");
        assert_eq!(
            &out[..n],
            &b"HTTP/1.1 426 Upgrade Required\r\n\
               Upgrade: websocket\r\n\
               Sec-WebSocket-Version: 13\r\n\
               Content-Type: text/plain; charset=utf-8\r\n\
               Content-Length: 54\r\n\
               Connection: close\r\n\
               \r\n\
               unsupported WebSocket version (this server speaks 13)\n"[..]
        );
    }

    #[test]
    fn key_checks() {
        let invalid = bad("missing or invalid Sec-WebSocket-Key");
        assert_eq!(validate(&head_with("Sec-WebSocket-Key:", "")), Err(invalid));
        let long = format!("Sec-WebSocket-Key: {}\r\n", "A".repeat(100));
        let huge = format!("Sec-WebSocket-Key: {}==\r\n", "QUFB".repeat(2000));
        let bad_keys = [
            long.as_str(),
            huge.as_str(),
            "Sec-WebSocket-Key:\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ===\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZR==\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZWEx\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbX BsZSBub25jZQ==\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ-_\r\n",
            "Sec-WebSocket-Key: ========================\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==\r\n",
        ];
        for line in bad_keys {
            assert_eq!(
                validate(&head_with("Sec-WebSocket-Key:", line)),
                Err(invalid),
                "{}",
                &line[..line.len().min(60)]
            );
        }
        // Surrounding whitespace is not part of the key.
        assert_eq!(
            validate(&head_with(
                "Sec-WebSocket-Key:",
                "sec-websocket-key: \t dGhlIHNhbXBsZSBub25jZQ== \r\n"
            )),
            Ok(RFC_KEY.to_vec())
        );
    }

    #[test]
    fn strict_key_check_agrees_with_decode() {
        // Every last-symbol and padding variant, and keys of other lengths.
        let decodes =
            |key: &[u8]| key.len() == 24 && base64::decode(key, &mut [0u8; 24]) == Some(16);
        let alphabet = b"AQgw+/=-_ a9z";
        for &c21 in alphabet {
            for &c22 in alphabet {
                for &c23 in alphabet {
                    let mut key = *b"dGhlIHNhbXBsZSBub25jZQ==";
                    key[21] = c21;
                    key[22] = c22;
                    key[23] = c23;
                    assert_eq!(is_strict_key(&key), decodes(&key), "{key:?}");
                    key[3] = b'=';
                    assert_eq!(is_strict_key(&key), decodes(&key), "{key:?}");
                }
            }
        }
        for key in [
            &b""[..],
            b"==",
            b"Zg==",
            b"dGhlIHNhbXBsZSBub25jZQ=",
            b"dGhlIHNhbXBsZSBub25jZQ===",
        ] {
            assert_eq!(is_strict_key(key), decodes(key), "{key:?}");
        }
    }

    #[test]
    fn hundred_byte_key_is_400_and_response_bytes() {
        let line = format!("Sec-WebSocket-Key: {}\r\n", "x".repeat(100));
        let e = validate(&head_with("Sec-WebSocket-Key:", &line)).expect_err("refused");
        assert_eq!(e.status, Status::BadRequest);
        let mut out = [0u8; 256];
        let n = write_error(&mut out, &e).expect("fits");
        assert_eq!(
            &out[..n],
            &b"HTTP/1.1 400 Bad Request\r\n\
               Content-Type: text/plain; charset=utf-8\r\n\
               Content-Length: 37\r\n\
               Connection: close\r\n\
               \r\n\
               missing or invalid Sec-WebSocket-Key\n"[..]
        );
    }

    #[test]
    fn checks_run_in_order() {
        // Everything wrong: the method is reported first.
        let head = b"POST /x HTTP/1.0\r\nSec-WebSocket-Version: 8\r\n\r\n";
        assert_eq!(
            validate(head).map_err(|e| e.status),
            Err(Status::MethodNotAllowed)
        );
        let head = b"GET /x HTTP/1.0\r\nSec-WebSocket-Version: 8\r\n\r\n";
        assert_eq!(validate(head), Err(bad("WebSocket needs HTTP/1.1")));
        let head = b"GET /x HTTP/1.1\r\nSec-WebSocket-Version: 8\r\n\r\n";
        assert_eq!(validate(head), Err(bad("missing Host header")));
        let head = b"GET /x HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Version: 8\r\n\r\n";
        assert_eq!(
            validate(head),
            Err(bad("missing or wrong Upgrade header (expected websocket)"))
        );
        let head =
            b"GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\n\r\n";
        assert_eq!(
            validate(head),
            Err(bad("Connection header lacks the upgrade token"))
        );
        let head = b"GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 8\r\n\r\n";
        assert_eq!(
            validate(head).map_err(|e| e.status),
            Err(Status::UpgradeRequired)
        );
        let head = b"GET /x HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n";
        assert_eq!(
            validate(head),
            Err(bad("missing or invalid Sec-WebSocket-Key"))
        );
    }

    // ---- parsing ----

    #[test]
    fn thirty_two_headers_ok_thirty_three_is_431() {
        let too_many = err(
            Status::HeaderFieldsTooLarge,
            "too many header fields (max 32)",
        );
        let build = |n: usize| {
            let mut s = String::from("GET / HTTP/1.1\r\n");
            for i in 0..n {
                s.push_str(&format!("X-H{i}: {i}\r\n"));
            }
            s.push_str("\r\n");
            s.into_bytes()
        };
        let head = build(32);
        let req = Request::parse(&head).expect("32 fit");
        assert_eq!(req.headers().count(), 32);
        assert_eq!(req.header("x-h31"), Some(&b"31"[..]));
        for n in [33usize, 34, 64, 200] {
            let head = build(n);
            assert_eq!(Request::parse(&head).map(|_| ()), Err(too_many), "{n}");
        }
        // A full upgrade request padded with filler headers: 431 before any upgrade check.
        let mut head = head_with("", "");
        head.truncate(head.len() - 2);
        for i in 0..200 {
            head.extend_from_slice(format!("X-Filler-{i}: y\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        assert_eq!(validate(&head), Err(too_many));
    }

    #[test]
    fn parse_errors() {
        let malformed = bad("malformed HTTP request");
        let incomplete = bad("incomplete HTTP request");
        let bad_target = bad("request target must be a path or an http(s) or ws(s) URL");
        let bare_lf = bad("bare LF in the request head: lines must end with CRLF");
        let cases: [(&[u8], HttpError); 20] = [
            (b"", incomplete),
            (b"GET / HTTP/1.1\r\n", incomplete),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", incomplete),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nextra", malformed),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n", malformed),
            (b"GET / HTTP/2.0\r\n\r\n", malformed),
            (b"GET / HTTX/1.1\r\n\r\n", malformed),
            (b"GET  / HTTP/1.1\r\n\r\n", malformed),
            (b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", malformed),
            (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", malformed),
            (b"G(T / HTTP/1.1\r\n\r\n", malformed),
            (b"GET * HTTP/1.1\r\n\r\n", bad_target),
            (b"GET ftp://a/ HTTP/1.1\r\n\r\n", bad_target),
            (b"GET http:///x HTTP/1.1\r\n\r\n", bad_target),
            (b"GET ?x HTTP/1.1\r\n\r\n", bad_target),
            (b"GET / HTTP/1.1\nHost: a\n\n", bare_lf),
            (b"GET / HTTP/1.1\r\nHost: a\n", bare_lf),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\n", bare_lf),
            (b"\nGET / HTTP/1.1\r\n\r\n", bare_lf),
            (b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n", malformed),
        ];
        for (head, expected) in cases {
            assert_eq!(
                Request::parse(head).map(|_| ()),
                Err(expected),
                "{:?}",
                String::from_utf8_lossy(head)
            );
        }
    }

    #[test]
    fn absolute_form_targets_use_their_path_and_query() {
        // RFC 9112 §3.2.2: a server must accept the absolute-form; the authority is not
        // used for routing (Host is kept as sent).
        let cases = [
            ("http://device.local/chat", "/chat", ""),
            ("HTTP://device.local:8080/chat?a=1", "/chat", "a=1"),
            ("https://d/", "/", ""),
            ("ws://d", "/", ""),
            ("wss://d?x=2", "/", "x=2"),
            ("http://user@d:1/a/b", "/a/b", ""),
        ];
        for (target, path, query) in cases {
            let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
            let req = Request::parse(head.as_bytes()).expect("parses");
            assert_eq!((req.path, req.query), (path, query), "{target}");
            assert_eq!(req.header("host"), Some(&b"a"[..]));
        }
    }

    #[test]
    fn path_and_query_split() {
        let cases = [
            ("/", "/", ""),
            ("/chat", "/chat", ""),
            ("/chat?", "/chat", ""),
            ("/chat?a=1", "/chat", "a=1"),
            ("/chat?a=1?b=2", "/chat", "a=1?b=2"),
            ("/a/b/c?x", "/a/b/c", "x"),
            ("/?q", "/", "q"),
        ];
        for (target, path, query) in cases {
            let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
            let req = Request::parse(head.as_bytes()).expect("parses");
            assert_eq!((req.path, req.query), (path, query), "{target}");
        }
    }

    #[test]
    fn header_accessors() {
        let head = b"GET / HTTP/1.1\r\n\
X-A: first \r\n\
x-b:\tb\t\r\n\
X-a:  second\r\n\
Empty:\r\n\
X-A: third\r\n\
\r\n";
        let req = Request::parse(head).expect("parses");
        assert_eq!(req.header("x-a"), Some(&b"first"[..]));
        assert_eq!(req.header("X-B"), Some(&b"b"[..]));
        assert_eq!(req.header("empty"), Some(&b""[..]));
        assert_eq!(req.header("missing"), None);
        assert_eq!(req.header(""), None);
        let all: Vec<&[u8]> = req.headers_named("X-A").collect();
        assert_eq!(all, [&b"first"[..], b"second", b"third"]);
        let names: Vec<&str> = req.headers().map(|(n, _)| n).collect();
        assert_eq!(names, ["X-A", "x-b", "X-a", "Empty", "X-A"]);
        assert!(!req.wants_upgrade());
    }

    #[test]
    fn header_name_match_is_ascii_only() {
        let req = Request::parse(b"GET / HTTP/1.1\r\nHOST: a\r\n\r\n").expect("parses");
        assert_eq!(req.header("host"), Some(&b"a"[..]));
        assert_eq!(req.header("hos"), None);
        assert_eq!(req.header("hostx"), None);
        assert_eq!(req.header("h\u{f8}st"), None);
    }

    #[test]
    fn wants_upgrade_cases() {
        let plain = Request::parse(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").expect("parses");
        assert!(!plain.wants_upgrade());
        let up = Request::parse(b"GET / HTTP/1.1\r\nupgrade: foo\r\n\r\n").expect("parses");
        assert!(up.wants_upgrade());
        let key =
            Request::parse(b"GET / HTTP/1.1\r\nSec-WebSocket-Key: x\r\n\r\n").expect("parses");
        assert!(key.wants_upgrade());
        // A plain GET on a WebSocket path: the caller answers 426, and validation says why.
        assert_eq!(
            validate_upgrade(&plain).map(|_| ()),
            Err(bad("missing or wrong Upgrade header (expected websocket)"))
        );
    }

    #[test]
    fn request_size() {
        #[cfg(target_pointer_width = "64")]
        assert_eq!(core::mem::size_of::<Request<'_>>(), 1088);
        #[cfg(target_pointer_width = "32")]
        assert_eq!(core::mem::size_of::<Request<'_>>(), 544);
    }

    #[test]
    fn request_is_copy_and_debug() {
        let req = Request::parse(CHROME).expect("parses");
        let copy = req;
        assert_eq!(copy.header("upgrade"), req.header("upgrade"));
        let text = format!("{req:?}");
        assert!(text.contains("/chat"));
        let up = validate_upgrade(&req).expect("valid");
        assert!(format!("{up:?}").contains("key"));
    }

    // ---- subprotocols ----

    fn proto_req(lines: &str) -> Vec<u8> {
        format!("GET / HTTP/1.1\r\nHost: a\r\n{lines}\r\n").into_bytes()
    }

    #[test]
    fn select_protocol_cases() {
        let supported: &[&'static str] = &["json", "chat.v2", "chat"];
        let cases: [(&str, Option<&str>); 12] = [
            ("", None),
            ("Sec-WebSocket-Protocol: chat\r\n", Some("chat")),
            ("Sec-WebSocket-Protocol: chat, json\r\n", Some("chat")),
            ("Sec-WebSocket-Protocol: json, chat\r\n", Some("json")),
            ("Sec-WebSocket-Protocol: CHAT\r\n", None),
            ("Sec-WebSocket-Protocol: cha\r\n", None),
            ("Sec-WebSocket-Protocol: chatx\r\n", None),
            ("Sec-WebSocket-Protocol: ,, ,\r\n", None),
            ("Sec-WebSocket-Protocol:\r\n", None),
            (
                "Sec-WebSocket-Protocol: x,\t chat.v2 ,y\r\n",
                Some("chat.v2"),
            ),
            (
                "Sec-WebSocket-Protocol: x\r\nsec-websocket-protocol: y, chat\r\n",
                Some("chat"),
            ),
            (
                "Sec-WebSocket-Protocol: json\r\nSec-WebSocket-Protocol: chat\r\n",
                Some("json"),
            ),
        ];
        for (lines, expected) in cases {
            let head = proto_req(lines);
            let req = Request::parse(&head).expect("parses");
            assert_eq!(select_protocol(&req, supported), expected, "{lines}");
        }
        let head = proto_req("Sec-WebSocket-Protocol: chat\r\n");
        let req = Request::parse(&head).expect("parses");
        assert_eq!(select_protocol(&req, &[]), None);
    }

    #[test]
    fn select_protocol_returns_the_servers_str() {
        static CHAT: &str = "chat";
        let head = proto_req("Sec-WebSocket-Protocol: chat\r\n");
        let req = Request::parse(&head).expect("parses");
        let chosen = select_protocol(&req, &[CHAT]).expect("chosen");
        assert!(core::ptr::eq(chosen, CHAT));
        assert!(!head.as_ptr_range().contains(&chosen.as_ptr()));
    }

    #[test]
    fn select_protocol_huge_list_never_panics() {
        let mut list = String::new();
        for i in 0..3000 {
            list.push_str(&format!("p{i}, "));
        }
        list.push_str(&"z".repeat(5000));
        list.push_str(", chat");
        let head = proto_req(&format!("Sec-WebSocket-Protocol: {list}\r\n"));
        let req = Request::parse(&head).expect("parses");
        assert_eq!(select_protocol(&req, &["chat"]), Some("chat"));
        assert_eq!(select_protocol(&req, &["nope"]), None);
    }

    // ---- head end ----

    #[test]
    fn find_head_end_basic() {
        assert_eq!(find_head_end(b"", 0), None);
        assert_eq!(find_head_end(b"\r\n\r", 0), None);
        assert_eq!(find_head_end(b"\r\n\r\n", 0), Some(4));
        assert_eq!(find_head_end(b"a\r\n\r\nb\r\n\r\n", 0), Some(5));
        // A bare LF ends the head at once (Request::parse then refuses it with 400).
        assert_eq!(find_head_end(b"a\n\nb", 0), Some(2));
        assert_eq!(find_head_end(b"a\r\n\nb\r\r\n\n", 0), Some(4));
        assert_eq!(find_head_end(b"\n", 0), Some(1));
        assert_eq!(
            find_head_end(b"a\r\nb\r", 0),
            None,
            "CR alone is not an end"
        );
        assert_eq!(
            find_head_end(b"a\r\nb\r\n", 4),
            None,
            "CRLF is a line end only"
        );
        assert_eq!(
            find_head_end(b"\r\n\r\n", 100),
            None,
            "nothing past scanned"
        );
        assert_eq!(find_head_end(b"\r\n\r\n", 4), None);
        assert_eq!(find_head_end(b"\r\n\r\n", 3), Some(4));
        assert_eq!(find_head_end(b"xx\r\n\r\n", usize::MAX), None);
        assert_eq!(find_head_end(b"xxxxx\r\n\r\n", 6), Some(9));
        assert_eq!(find_head_end(b"xxxxx\r\n\r\n", 8), Some(9));
        assert_eq!(find_head_end(b"xxxxx\r\n\r\n", 9), None);
        assert_eq!(find_head_end(b"x\r\n\r\n", 4), Some(5));
        assert_eq!(find_head_end(CHROME, 0), Some(CHROME.len()));
        // With bytes after the head (e.g. a pipelined second request), the first end wins.
        let mut two = FIREFOX.to_vec();
        two.extend_from_slice(CHROME);
        assert_eq!(find_head_end(&two, 0), Some(FIREFOX.len()));
    }

    #[test]
    fn find_head_end_resumes_across_every_split_point() {
        for msg in [
            CHROME,
            FIREFOX,
            b"\r\n\r\n".as_slice(),
            b"GET / HTTP/1.1\r\n\r\n",
        ] {
            let end = msg.len();
            // Two reads, split at every point.
            for split in 0..=end {
                let first = &msg[..split];
                let found = find_head_end(first, 0);
                if split < end {
                    assert_eq!(found, None, "split {split}");
                    assert_eq!(find_head_end(msg, split), Some(end), "split {split}");
                } else {
                    assert_eq!(found, Some(end));
                }
            }
            // Byte by byte, resuming each time at the previous length.
            let mut scanned = 0;
            let mut result = None;
            for len in 1..=end {
                result = find_head_end(&msg[..len], scanned);
                if result.is_some() {
                    assert_eq!(len, end);
                    break;
                }
                scanned = len;
            }
            assert_eq!(result, Some(end));
            // Three reads, every pair of split points.
            for a in 0..end {
                for b in a..end {
                    assert_eq!(find_head_end(&msg[..a], 0), None);
                    assert_eq!(find_head_end(&msg[..b], a), None);
                    assert_eq!(find_head_end(msg, b), Some(end), "{a} {b}");
                }
            }
        }
    }

    #[test]
    fn split_request_end_to_end() {
        // A request arriving in 7-byte reads is found, parsed and accepted.
        let mut buf = Vec::new();
        let mut scanned = 0;
        let mut end = None;
        for chunk in FIREFOX.chunks(7) {
            buf.extend_from_slice(chunk);
            end = find_head_end(&buf, scanned);
            if end.is_some() {
                break;
            }
            scanned = buf.len();
        }
        let end = end.expect("found");
        let req = Request::parse(&buf[..end]).expect("parses");
        assert_eq!(
            validate_upgrade(&req).map(|u| u.key),
            Ok(&b"x3JJHMbDL1EzLkh9GBhXDw=="[..])
        );
    }

    // ---- refusal response bytes ----

    #[test]
    fn refusal_response_bytes() {
        let cases: [(HttpError, &[u8]); 4] = [
            (
                bad("missing Host header"),
                b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
                  Content-Length: 20\r\nConnection: close\r\n\r\nmissing Host header\n",
            ),
            (
                err(Status::MethodNotAllowed, "WebSocket upgrade needs GET"),
                b"HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n\
                  Content-Type: text/plain; charset=utf-8\r\nContent-Length: 28\r\n\
                  Connection: close\r\n\r\nWebSocket upgrade needs GET\n",
            ),
            (
                err(
                    Status::HeaderFieldsTooLarge,
                    "too many header fields (max 32)",
                ),
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n\
                  Content-Type: text/plain; charset=utf-8\r\nContent-Length: 32\r\n\
                  Connection: close\r\n\r\ntoo many header fields (max 32)\n",
            ),
            (
                err(Status::NotFound, "no WebSocket gateway at this path"),
                b"HTTP/1.1 404 Not Found\r\n\
                  Content-Type: text/plain; charset=utf-8\r\nContent-Length: 34\r\n\
                  Connection: close\r\n\r\nno WebSocket gateway at this path\n",
            ),
        ];
        for (e, expected) in cases {
            let mut out = [0u8; 256];
            let n = write_error(&mut out, &e).expect("fits");
            assert_eq!(&out[..n], expected, "{e}");
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic fuzz: mutate the Firefox request byte by byte.
        let mut state = 0x2545_f491_u32;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        for _ in 0..3000 {
            let mut head = FIREFOX.to_vec();
            for _ in 0..(next() % 8 + 1) {
                let i = next() as usize % head.len();
                head[i] = next() as u8;
            }
            let cut = next() as usize % (head.len() + 1);
            let head = &head[..cut];
            let _ = find_head_end(head, next() as usize % (cut + 5));
            if let Ok(req) = Request::parse(head) {
                let _ = validate_upgrade(&req);
                let _ = select_protocol(&req, &["chat", "superchat"]);
                let _ = req.wants_upgrade();
            }
        }
    }
}

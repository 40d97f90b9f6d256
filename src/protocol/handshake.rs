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
mod tests;

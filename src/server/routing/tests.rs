//! `decide` alone: a parsed request, a few gateways and pages, the closing flag; no server,
//! no connection. Each test asserts the exact status and reason of the answer.

extern crate std;

use super::*;
use crate::connection::MessageKind;
use crate::gateway::{Context, Gateway};
use std::string::String;
use std::vec::Vec;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A gateway that records what its `verify` hook was shown and answers with `refusal`.
struct Svc {
    path: &'static str,
    protocols: &'static [&'static str],
    refusal: Option<HttpError>,
    verified: Vec<(ClientId, Option<&'static str>, String)>,
}

impl Svc {
    fn at(path: &'static str) -> Self {
        Svc {
            path,
            protocols: &[],
            refusal: None,
            verified: Vec::new(),
        }
    }
}

impl Service for Svc {
    fn path(&self) -> &str {
        self.path
    }
    fn protocols(&self) -> &[&'static str] {
        self.protocols
    }
    fn verify(
        &mut self,
        client: ClientId,
        request: &Request<'_>,
        protocol: Option<&'static str>,
    ) -> Result<(), HttpError> {
        self.verified
            .push((client, protocol, String::from(request.path)));
        self.refusal.map_or(Ok(()), Err)
    }
    fn dispatch(&mut self, _: &mut Context<'_>, _: &[u8], _: MessageKind) {}
}

static PAGES: [Page; 2] = [
    Page {
        path: "/",
        content_type: "text/html",
        body: b"<p>home</p>",
    },
    Page {
        path: "/status.json",
        content_type: "application/json",
        body: b"{}",
    },
];

const CLIENT: ClientId = ClientId::new(3, 7);

/// A valid upgrade request for `target`, with `extra` header lines (each ending in CRLF).
fn upgrade(target: &str, extra: &str) -> String {
    std::format!(
        "GET {target} HTTP/1.1\r\nHost: dev\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A plain request: `method target`, a Host header, nothing else.
fn plain(method: &str, target: &str) -> String {
    std::format!("{method} {target} HTTP/1.1\r\nHost: dev\r\n\r\n")
}

/// Parses `head` and routes it.
fn route(head: &str, gateways: &mut [&mut dyn Service], closing: bool) -> Decision {
    let req = Request::parse(head.as_bytes()).expect("test heads parse");
    decide(&req, gateways, &PAGES, closing, CLIENT)
}

/// The refusal, or a panic naming the decision.
fn refusal(d: Decision) -> (Status, &'static str) {
    match d {
        Decision::Refuse(e) => (e.status, e.reason),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// The accepted gateway index and subprotocol, or a panic naming the decision.
fn accepted(d: Decision) -> (usize, Option<&'static str>) {
    match d {
        Decision::Accept {
            gateway,
            key,
            protocol,
        } => {
            assert_eq!(&key, KEY.as_bytes());
            (gateway, protocol)
        }
        other => panic!("expected an accept, got {other:?}"),
    }
}

/// The page served, or a panic naming the decision.
fn page(d: Decision) -> &'static Page {
    match d {
        Decision::Page(p) => p,
        other => panic!("expected a page, got {other:?}"),
    }
}

#[test]
fn plain_request_other_than_get_is_405() {
    let mut ws = Svc::at("/ws");
    for (method, target) in [
        ("POST", "/ws"),
        ("PUT", "/"),
        ("DELETE", "/none"),
        ("get", "/"),
    ] {
        assert_eq!(
            refusal(route(&plain(method, target), &mut [&mut ws], false)),
            (Status::MethodNotAllowed, "only GET is served here"),
            "{method} {target}"
        );
    }
}

#[test]
fn get_of_a_page_serves_it() {
    let mut ws = Svc::at("/ws");
    let p = page(route(&plain("GET", "/status.json"), &mut [&mut ws], false));
    assert!(core::ptr::eq(p, &PAGES[1]));
    // Matched like gateway paths, query ignored.
    let p = page(route(&plain("GET", "/status.json/?v=2"), &mut [], false));
    assert!(core::ptr::eq(p, &PAGES[1]));
    let p = page(route(&plain("GET", "/?x"), &mut [], false));
    assert!(core::ptr::eq(p, &PAGES[0]));
}

#[test]
fn a_page_wins_over_a_gateway_for_plain_get_only() {
    let mut root = Svc::at("/");
    let p = page(route(&plain("GET", "/"), &mut [&mut root], false));
    assert!(core::ptr::eq(p, &PAGES[0]));
    assert_eq!(
        accepted(route(&upgrade("/", ""), &mut [&mut root], false)),
        (0, None)
    );
}

#[test]
fn plain_get_at_a_gateway_path_is_426() {
    let mut a = Svc::at("/a");
    let mut rooms = Svc::at("/rooms/:id");
    for target in ["/a", "/a/", "/rooms/9?x=1"] {
        assert_eq!(
            refusal(route(
                &plain("GET", target),
                &mut [&mut a, &mut rooms],
                false
            )),
            (
                Status::UpgradeRequired,
                "this path is a WebSocket endpoint: send a WebSocket upgrade request"
            ),
            "{target}"
        );
    }
    assert!(a.verified.is_empty() && rooms.verified.is_empty());
}

#[test]
fn plain_get_of_nothing_is_404() {
    let mut ws = Svc::at("/ws");
    for target in ["/nothing", "/ws/more", "/status.json/x"] {
        assert_eq!(
            refusal(route(&plain("GET", target), &mut [&mut ws], false)),
            (Status::NotFound, "nothing at this path"),
            "{target}"
        );
    }
}

#[test]
fn upgrade_at_no_gateway_is_404() {
    let mut ws = Svc::at("/ws");
    // A page at the path does not make it a WebSocket endpoint.
    for target in ["/chat", "/", "/status.json"] {
        assert_eq!(
            refusal(route(&upgrade(target, ""), &mut [&mut ws], false)),
            (Status::NotFound, "no WebSocket gateway at this path"),
            "{target}"
        );
    }
    assert_eq!(
        refusal(route(&upgrade("/ws", ""), &mut [], false)),
        (Status::NotFound, "no WebSocket gateway at this path")
    );
    assert!(ws.verified.is_empty());
}

#[test]
fn upgrade_while_closing_is_503_before_verify() {
    let mut ws = Svc::at("/ws");
    assert_eq!(
        refusal(route(&upgrade("/ws", ""), &mut [&mut ws], true)),
        (Status::ServiceUnavailable, "server shutting down")
    );
    assert!(ws.verified.is_empty());
    // No gateway is still 404, and plain requests are routed as usual.
    assert_eq!(
        refusal(route(&upgrade("/x", ""), &mut [&mut ws], true)),
        (Status::NotFound, "no WebSocket gateway at this path")
    );
    let p = page(route(&plain("GET", "/"), &mut [&mut ws], true));
    assert!(core::ptr::eq(p, &PAGES[0]));
}

#[test]
fn bad_upgrade_headers_get_their_status() {
    let full = upgrade("/ws", "");
    let cases: [(String, Status, &str); 8] = [
        (
            full.replace("Version: 13", "Version: 8"),
            Status::UpgradeRequired,
            "unsupported WebSocket version (this server speaks 13)",
        ),
        (
            full.replace("Sec-WebSocket-Version: 13\r\n", ""),
            Status::BadRequest,
            "missing Sec-WebSocket-Version",
        ),
        (
            full.replace(&std::format!("Sec-WebSocket-Key: {KEY}\r\n"), ""),
            Status::BadRequest,
            "missing or invalid Sec-WebSocket-Key",
        ),
        (
            full.replace(KEY, "c2hvcnQ="),
            Status::BadRequest,
            "missing or invalid Sec-WebSocket-Key",
        ),
        (
            full.replace("Host: dev\r\n", ""),
            Status::BadRequest,
            "missing Host header",
        ),
        (
            full.replace("Upgrade: websocket", "Upgrade: h2c"),
            Status::BadRequest,
            "missing or wrong Upgrade header (expected websocket)",
        ),
        (
            full.replace("HTTP/1.1", "HTTP/1.0"),
            Status::BadRequest,
            "WebSocket needs HTTP/1.1",
        ),
        (
            full.replace("GET", "POST"),
            Status::MethodNotAllowed,
            "WebSocket upgrade needs GET",
        ),
    ];
    for (head, status, reason) in &cases {
        let mut ws = Svc::at("/ws");
        assert_eq!(
            refusal(route(head, &mut [&mut ws], false)),
            (*status, *reason),
            "{head:?}"
        );
        assert!(ws.verified.is_empty());
        // Checked before the path: the same answer where no gateway is.
        let elsewhere = head.replace("/ws", "/none");
        assert_eq!(
            refusal(route(&elsewhere, &mut [&mut ws], false)),
            (*status, *reason),
            "{elsewhere:?}"
        );
    }
    // A key alone makes a request an upgrade attempt.
    let mut ws = Svc::at("/ws");
    let key_only =
        std::format!("GET /ws HTTP/1.1\r\nHost: dev\r\nSec-WebSocket-Key: {KEY}\r\n\r\n");
    assert_eq!(
        refusal(route(&key_only, &mut [&mut ws], false)),
        (
            Status::BadRequest,
            "missing or wrong Upgrade header (expected websocket)"
        )
    );
}

#[test]
fn verify_refusals_are_answered_as_given() {
    for refusal_given in [
        HttpError::new(Status::Unauthorized, "token required"),
        HttpError::new(Status::Forbidden, "not on the list"),
    ] {
        let mut ws = Svc::at("/ws");
        ws.refusal = Some(refusal_given);
        assert_eq!(
            refusal(route(&upgrade("/ws?t=1", ""), &mut [&mut ws], false)),
            (refusal_given.status, refusal_given.reason)
        );
        assert_eq!(ws.verified, [(CLIENT, None, String::from("/ws"))]);
    }
}

#[test]
fn gateway_verify_hook_sees_the_request() {
    let mut g: Gateway<u32, 1> = Gateway::new("/rooms/:id", 0);
    g.on_verify(|calls, info| {
        *calls += 1;
        match (info.param("id"), info.query_param("token")) {
            (Some("7"), Some("s3cret")) => Ok(()),
            (Some("7"), _) => Err(HttpError::new(Status::Unauthorized, "token required")),
            _ => Err(HttpError::new(Status::Forbidden, "room closed")),
        }
    });
    let d = route(&upgrade("/rooms/7?token=s3cret", ""), &mut [&mut g], false);
    assert_eq!(accepted(d), (0, None));
    let d = route(&upgrade("/rooms/7", ""), &mut [&mut g], false);
    assert_eq!(refusal(d), (Status::Unauthorized, "token required"));
    let d = route(&upgrade("/rooms/8?token=s3cret", ""), &mut [&mut g], false);
    assert_eq!(refusal(d), (Status::Forbidden, "room closed"));
    assert_eq!(*g.state(), 3);
}

#[test]
fn subprotocol_is_the_clients_first_the_gateway_speaks() {
    let mut ws = Svc::at("/ws");
    ws.protocols = &["v1", "v2"];
    let cases = [
        ("Sec-WebSocket-Protocol: v2, v1\r\n", Some("v2")),
        (
            "Sec-WebSocket-Protocol: v3\r\nSec-WebSocket-Protocol: v1\r\n",
            Some("v1"),
        ),
        ("Sec-WebSocket-Protocol: V1, v3\r\n", None),
        ("", None),
    ];
    for (extra, want) in cases {
        let d = route(&upgrade("/ws", extra), &mut [&mut ws], false);
        assert_eq!(accepted(d), (0, want), "{extra:?}");
        // verify is shown the protocol that will be answered.
        assert_eq!(ws.verified.last().map(|v| v.1), Some(want));
    }
    // A gateway that speaks none never picks one.
    let mut plain_ws = Svc::at("/ws");
    let d = route(
        &upgrade("/ws", "Sec-WebSocket-Protocol: v1\r\n"),
        &mut [&mut plain_ws],
        false,
    );
    assert_eq!(accepted(d), (0, None));
}

#[test]
fn first_bound_gateway_wins() {
    let mut param = Svc::at("/rooms/:id");
    let mut exact = Svc::at("/rooms/lobby");
    let mut other = Svc::at("/other");
    let d = route(
        &upgrade("/rooms/lobby", ""),
        &mut [&mut other, &mut param, &mut exact],
        false,
    );
    assert_eq!(accepted(d), (1, None));
    assert_eq!(param.verified.len(), 1);
    assert!(exact.verified.is_empty() && other.verified.is_empty());
    // Bound the other way round, the exact path wins.
    let d = route(
        &upgrade("/rooms/lobby", ""),
        &mut [&mut exact, &mut param],
        false,
    );
    assert_eq!(accepted(d), (0, None));
    // The refusal of the first match is final: later matches are not asked.
    param.refusal = Some(HttpError::new(Status::Forbidden, "no"));
    let d = route(
        &upgrade("/rooms/lobby", ""),
        &mut [&mut param, &mut exact],
        false,
    );
    assert_eq!(refusal(d), (Status::Forbidden, "no"));
    assert_eq!(exact.verified.len(), 1);
}

#[test]
fn param_paths_match_one_segment() {
    let mut rooms = Svc::at("/rooms/:id");
    let mut chat = Svc::at("chat/");
    for (target, want) in [
        ("/rooms/42", Some(0)),
        ("/rooms/42/", Some(0)),
        ("//rooms//42?x=/y", Some(0)),
        ("/chat", Some(1)),
        ("/rooms", None),
        ("/rooms/42/x", None),
        ("/Chat", None),
    ] {
        let d = route(&upgrade(target, ""), &mut [&mut rooms, &mut chat], false);
        match want {
            Some(i) => assert_eq!(accepted(d), (i, None), "{target}"),
            None => assert_eq!(
                refusal(d),
                (Status::NotFound, "no WebSocket gateway at this path"),
                "{target}"
            ),
        }
    }
}

#[test]
fn absolute_form_targets_route_by_their_path() {
    let mut chat = Svc::at("/chat");
    for target in [
        "http://dev.local/chat",
        "ws://dev.local:8080/chat?room=1",
        "https://dev.local/chat/",
    ] {
        let d = route(&upgrade(target, ""), &mut [&mut chat], false);
        assert_eq!(accepted(d), (0, None), "{target}");
    }
    let paths: Vec<&str> = chat.verified.iter().map(|v| v.2.as_str()).collect();
    assert_eq!(paths, ["/chat", "/chat", "/chat/"]);
    let d = route(
        &plain("GET", "http://dev.local/chat"),
        &mut [&mut chat],
        false,
    );
    assert_eq!(refusal(d).0, Status::UpgradeRequired);
    let p = page(route(
        &plain("GET", "http://dev.local/status.json"),
        &mut [],
        false,
    ));
    assert!(core::ptr::eq(p, &PAGES[1]));
    let d = route(
        &upgrade("http://dev.local/elsewhere", ""),
        &mut [&mut chat],
        false,
    );
    assert_eq!(
        refusal(d),
        (Status::NotFound, "no WebSocket gateway at this path")
    );
}

#[test]
fn accept_carries_the_client_key_and_client_id_reaches_verify() {
    let mut ws = Svc::at("/");
    let d = route(&upgrade("/", ""), &mut [&mut ws], false);
    assert_eq!(accepted(d), (0, None));
    assert_eq!(ws.verified, [(CLIENT, None, String::from("/"))]);
}

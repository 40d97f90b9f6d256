//! WebSocket close status codes and validation of received Close payloads
//! (RFC 6455 §5.5.1, §7.1.5, §7.4).
//!
//! A Close frame's payload is either empty or a 2-byte big-endian status code followed by a
//! UTF-8 reason. [`parse_close_payload`] checks a received (already unmasked) payload: the code
//! must be one an endpoint may put on the wire ([`CloseCode::is_valid_on_wire`]) and the reason
//! must be valid UTF-8. [`ClosePayloadError::close_code`] says which code to fail the
//! connection with when it is not.
//!
//! This module never allocates, never panics and never checks the 125-byte limit of control
//! frames (the frame codec does that before the payload is read).

use core::fmt;

/// A WebSocket close status code (RFC 6455 §7.4).
///
/// Any `u16` can be held; [`CloseCode::is_valid_on_wire`] says whether an endpoint may send it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure; the purpose of the connection has been fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutting down, page navigated away).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: the endpoint received a kind of data it cannot accept (e.g. binary when only
    /// text is understood).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present. Reported locally only; never sent on the wire.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: the connection closed without a Close frame. Reported locally only; never sent
    /// on the wire.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: a message held data inconsistent with its type (e.g. invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a message was too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected the server to negotiate an extension it did not.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later (temporary overload).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway or proxy received an invalid response from upstream.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);

    /// `true` if an endpoint may put this code in a Close frame on the wire:
    /// 1000-1003, 1007-1014 and 3000-4999.
    ///
    /// 1004 (reserved), 1005 and 1006 (local only), 1015 (TLS failure, local only),
    /// codes below 1000, 1016-2999 (reserved for future RFCs) and 5000 and above are not.
    pub const fn is_valid_on_wire(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }

    /// The numeric code.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// A short English description of the code, e.g. `"normal closure"`.
    ///
    /// Codes without a specific meaning are described by their range
    /// (`"registered"`, `"private use"`, `"reserved"`, `"invalid"`).
    pub const fn description(self) -> &'static str {
        match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status received",
            1006 => "abnormal closure",
            1007 => "invalid payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure",
            1004 | 1016..=2999 => "reserved",
            3000..=3999 => "registered",
            4000..=4999 => "private use",
            _ => "invalid",
        }
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> Self {
        code.0
    }
}

impl fmt::Display for CloseCode {
    /// Formats as `"<code> (<description>)"`, e.g. `"1000 (normal closure)"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.0, self.description())
    }
}

/// Why a received Close payload is refused (RFC 6455 §5.5.1, §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum ClosePayloadError {
    /// The payload is a single byte: too short for a status code, too long for none.
    OneByte,
    /// The status code (carried here) may not be sent on the wire.
    InvalidCode(u16),
    /// The close reason is not valid UTF-8.
    InvalidUtf8,
}

impl ClosePayloadError {
    /// The close code to fail the connection with: 1002 (protocol error) for
    /// [`OneByte`](Self::OneByte) and [`InvalidCode`](Self::InvalidCode), 1007 (invalid
    /// payload data) for [`InvalidUtf8`](Self::InvalidUtf8).
    pub const fn close_code(&self) -> CloseCode {
        match self {
            ClosePayloadError::OneByte | ClosePayloadError::InvalidCode(_) => {
                CloseCode::PROTOCOL_ERROR
            }
            ClosePayloadError::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
        }
    }
}

impl fmt::Display for ClosePayloadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClosePayloadError::OneByte => f.write_str(
                "close frame payload is 1 byte; it must be empty or start with a 2-byte status code",
            ),
            ClosePayloadError::InvalidCode(code) => write!(
                f,
                "close frame carries status code {} ({}), which may not be sent on the wire",
                code,
                CloseCode(*code).description()
            ),
            ClosePayloadError::InvalidUtf8 => {
                f.write_str("close frame reason is not valid UTF-8")
            }
        }
    }
}

impl core::error::Error for ClosePayloadError {}

/// Parses a complete, unmasked Close payload.
///
/// - empty: `Ok(None)`: the peer gave no code (report [`CloseCode::NO_STATUS`], 1005, locally
///   and reply with an empty Close or 1000);
/// - 1 byte: `Err(OneByte)`;
/// - otherwise the big-endian code in the first two bytes must be
///   [valid on the wire](CloseCode::is_valid_on_wire) (else `Err(InvalidCode(code))`) and the
///   rest must be valid UTF-8 (else `Err(InvalidUtf8)`); returns the code and the reason.
///
/// The code is checked before the reason.
pub fn parse_close_payload(p: &[u8]) -> Result<Option<(CloseCode, &str)>, ClosePayloadError> {
    match p {
        [] => Ok(None),
        [_] => Err(ClosePayloadError::OneByte),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.is_valid_on_wire() {
                return Err(ClosePayloadError::InvalidCode(code.0));
            }
            match core::str::from_utf8(reason) {
                Ok(reason) => Ok(Some((code, reason))),
                Err(_) => Err(ClosePayloadError::InvalidUtf8),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::format;
    use std::string::ToString;

    #[test]
    fn constants_have_rfc_values() {
        assert_eq!(CloseCode::NORMAL.as_u16(), 1000);
        assert_eq!(CloseCode::GOING_AWAY.as_u16(), 1001);
        assert_eq!(CloseCode::PROTOCOL_ERROR.as_u16(), 1002);
        assert_eq!(CloseCode::UNSUPPORTED_DATA.as_u16(), 1003);
        assert_eq!(CloseCode::NO_STATUS.as_u16(), 1005);
        assert_eq!(CloseCode::ABNORMAL.as_u16(), 1006);
        assert_eq!(CloseCode::INVALID_PAYLOAD.as_u16(), 1007);
        assert_eq!(CloseCode::POLICY_VIOLATION.as_u16(), 1008);
        assert_eq!(CloseCode::MESSAGE_TOO_BIG.as_u16(), 1009);
        assert_eq!(CloseCode::MANDATORY_EXTENSION.as_u16(), 1010);
        assert_eq!(CloseCode::INTERNAL_ERROR.as_u16(), 1011);
        assert_eq!(CloseCode::SERVICE_RESTART.as_u16(), 1012);
        assert_eq!(CloseCode::TRY_AGAIN_LATER.as_u16(), 1013);
        assert_eq!(CloseCode::BAD_GATEWAY.as_u16(), 1014);
    }

    #[test]
    fn valid_on_wire_matches_rfc_for_every_u16() {
        for v in 0..=u16::MAX {
            let expected = (1000..=1003).contains(&v)
                || (1007..=1014).contains(&v)
                || (3000..=4999).contains(&v);
            assert_eq!(CloseCode(v).is_valid_on_wire(), expected, "code {v}");
        }
    }

    #[test]
    fn valid_on_wire_boundaries() {
        for v in [
            0u16, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ] {
            assert!(!CloseCode(v).is_valid_on_wire(), "code {v}");
        }
        for v in [
            1000u16, 1001, 1002, 1003, 1007, 1010, 1011, 1014, 3000, 3999, 4000, 4999,
        ] {
            assert!(CloseCode(v).is_valid_on_wire(), "code {v}");
        }
    }

    #[test]
    fn conversions() {
        assert_eq!(CloseCode::from(1001u16), CloseCode::GOING_AWAY);
        assert_eq!(u16::from(CloseCode::MESSAGE_TOO_BIG), 1009);
        let c: CloseCode = 4321u16.into();
        assert_eq!(c.as_u16(), 4321);
        let v: u16 = c.into();
        assert_eq!(v, 4321);
    }

    #[test]
    fn display() {
        assert_eq!(CloseCode::NORMAL.to_string(), "1000 (normal closure)");
        assert_eq!(CloseCode::GOING_AWAY.to_string(), "1001 (going away)");
        assert_eq!(
            CloseCode::PROTOCOL_ERROR.to_string(),
            "1002 (protocol error)"
        );
        assert_eq!(
            CloseCode::NO_STATUS.to_string(),
            "1005 (no status received)"
        );
        assert_eq!(CloseCode::ABNORMAL.to_string(), "1006 (abnormal closure)");
        assert_eq!(
            CloseCode::INVALID_PAYLOAD.to_string(),
            "1007 (invalid payload data)"
        );
        assert_eq!(
            CloseCode::MESSAGE_TOO_BIG.to_string(),
            "1009 (message too big)"
        );
        assert_eq!(CloseCode::BAD_GATEWAY.to_string(), "1014 (bad gateway)");
        assert_eq!(CloseCode(1015).to_string(), "1015 (TLS handshake failure)");
        assert_eq!(CloseCode(1004).to_string(), "1004 (reserved)");
        assert_eq!(CloseCode(2500).to_string(), "2500 (reserved)");
        assert_eq!(CloseCode(3000).to_string(), "3000 (registered)");
        assert_eq!(CloseCode(4000).to_string(), "4000 (private use)");
        assert_eq!(CloseCode(4999).to_string(), "4999 (private use)");
        assert_eq!(CloseCode(999).to_string(), "999 (invalid)");
        assert_eq!(CloseCode(5000).to_string(), "5000 (invalid)");
        assert_eq!(CloseCode(0).to_string(), "0 (invalid)");
    }

    #[test]
    fn parse_empty_is_no_code() {
        assert_eq!(parse_close_payload(&[]), Ok(None));
    }

    #[test]
    fn parse_one_byte() {
        assert_eq!(
            parse_close_payload(&[0x03]),
            Err(ClosePayloadError::OneByte)
        );
        assert_eq!(
            parse_close_payload(&[0xE8]),
            Err(ClosePayloadError::OneByte)
        );
    }

    #[test]
    fn parse_code_only() {
        assert_eq!(
            parse_close_payload(&[0x03, 0xE8]),
            Ok(Some((CloseCode::NORMAL, "")))
        );
        assert_eq!(
            parse_close_payload(&[0x0F, 0xA0]),
            Ok(Some((CloseCode(4000), "")))
        );
        assert_eq!(
            parse_close_payload(&[0x0B, 0xB8]),
            Ok(Some((CloseCode(3000), "")))
        );
    }

    #[test]
    fn parse_code_and_reason() {
        let mut p = std::vec::Vec::new();
        p.extend_from_slice(&1001u16.to_be_bytes());
        p.extend_from_slice("bye \u{e9}".as_bytes());
        assert_eq!(p, [0x03, 0xE9, b'b', b'y', b'e', b' ', 0xC3, 0xA9]);
        assert_eq!(
            parse_close_payload(&p),
            Ok(Some((CloseCode::GOING_AWAY, "bye \u{e9}")))
        );
        let mut q = std::vec::Vec::new();
        q.extend_from_slice(&[0x03, 0xE8]);
        q.extend_from_slice("\u{3b1}\u{3b2} \u{1f600}".as_bytes());
        assert_eq!(
            parse_close_payload(&q),
            Ok(Some((CloseCode::NORMAL, "\u{3b1}\u{3b2} \u{1f600}")))
        );
        // A 123-byte reason (the most a 125-byte control payload can carry).
        let mut r = std::vec::Vec::from(4999u16.to_be_bytes());
        r.extend(core::iter::repeat_n(b'x', 123));
        let Ok(Some((code, reason))) = parse_close_payload(&r) else {
            panic!("expected a code and a reason");
        };
        assert_eq!(code, CloseCode(4999));
        assert_eq!(reason.len(), 123);
    }

    #[test]
    fn parse_invalid_codes() {
        for v in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535] {
            let b = v.to_be_bytes();
            assert_eq!(
                parse_close_payload(&[b[0], b[1]]),
                Err(ClosePayloadError::InvalidCode(v)),
                "code {v}"
            );
            // The code is checked before the reason.
            assert_eq!(
                parse_close_payload(&[b[0], b[1], 0xFF]),
                Err(ClosePayloadError::InvalidCode(v)),
                "code {v}"
            );
        }
    }

    #[test]
    fn parse_invalid_utf8_reason() {
        // Autobahn 7.5.1: 1000 + invalid UTF-8 reason.
        let p = [
            0x03, 0xE8, 0xCE, 0xBA, 0xE1, 0xBD, 0xB9, 0xCF, 0x83, 0xCE, 0xBC, 0xCE, 0xB5, 0xED,
            0xA0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64,
        ];
        assert_eq!(parse_close_payload(&p), Err(ClosePayloadError::InvalidUtf8));
        assert_eq!(
            parse_close_payload(&[0x03, 0xE8, 0xC0, 0x80]),
            Err(ClosePayloadError::InvalidUtf8)
        );
        // Truncated code point at the end of the reason.
        assert_eq!(
            parse_close_payload(&[0x03, 0xE8, b'a', 0xE2, 0x82]),
            Err(ClosePayloadError::InvalidUtf8)
        );
    }

    #[test]
    fn error_close_codes() {
        assert_eq!(
            ClosePayloadError::OneByte.close_code(),
            CloseCode::PROTOCOL_ERROR
        );
        assert_eq!(
            ClosePayloadError::InvalidCode(1005).close_code(),
            CloseCode::PROTOCOL_ERROR
        );
        assert_eq!(
            ClosePayloadError::InvalidUtf8.close_code(),
            CloseCode::INVALID_PAYLOAD
        );
    }

    #[test]
    fn error_display() {
        assert_eq!(
            format!("{}", ClosePayloadError::OneByte),
            "close frame payload is 1 byte; it must be empty or start with a 2-byte status code"
        );
        assert_eq!(
            format!("{}", ClosePayloadError::InvalidCode(1005)),
            "close frame carries status code 1005 (no status received), which may not be sent on the wire"
        );
        assert_eq!(
            format!("{}", ClosePayloadError::InvalidUtf8),
            "close frame reason is not valid UTF-8"
        );
    }
}

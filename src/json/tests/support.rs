//! Helpers shared by the tests of the JSON layer and of the envelope built on it.

extern crate std;

use super::{JsonStr, json_string_len, write_json_string};
use std::string::String;
use std::vec;

/// Decodes an event name into an owned string (test helper).
pub(crate) fn dec(s: JsonStr<'_>) -> Option<String> {
    let mut buf = [0u8; 4096];
    s.decode_into(&mut buf).map(String::from)
}

/// `s` written by [`write_json_string`], checked against [`json_string_len`].
pub(crate) fn jstr(s: &str) -> String {
    let mut out = vec![0u8; json_string_len(s)];
    let n = write_json_string(s, &mut out).unwrap();
    assert_eq!(n, out.len());
    String::from_utf8(out).unwrap()
}

/// Every length and position around the word and chunk sizes.
pub(crate) const LENGTHS: [usize; 17] = [
    0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 63, 64, 65, 70,
];

/// A xorshift generator: the same inputs on every run.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

//! SHA-1 (FIPS 180-4 §6.1), only for `Sec-WebSocket-Accept` (RFC 6455 §4.2.2 step 5.4).
//!
//! One hash of about 60 bytes per handshake: this is written for size, not speed. The 80
//! rounds are one loop, the message schedule a ring of 16 words, and input is taken a byte
//! at a time. SHA-1 is not collision resistant; RFC 6455 uses it only to prove that the
//! server read the client's key, and so does wsgate. Never use it for anything else.
//!
//! It never allocates, never panics (every index is masked into range) and accepts input of
//! any length.

/// An incremental SHA-1 hash: [`Sha1::update`] with the input, then [`Sha1::finish`].
pub(crate) struct Sha1 {
    /// The chaining value H0..H4.
    state: [u32; 5],
    /// The block being filled; `len % 64` bytes of it are valid.
    block: [u8; 64],
    /// Bytes hashed so far (the padding counts the message length modulo 2^64 bits).
    len: u64,
}

impl Sha1 {
    /// A hash of nothing yet (FIPS 180-4 §5.3.1 initial value).
    pub(crate) const fn new() -> Self {
        Sha1 {
            state: [
                0x6745_2301,
                0xEFCD_AB89,
                0x98BA_DCFE,
                0x1032_5476,
                0xC3D2_E1F0,
            ],
            block: [0; 64],
            len: 0,
        }
    }

    /// Adds `data` to the message.
    pub(crate) fn update(&mut self, data: &[u8]) {
        for &b in data {
            self.push(b);
        }
    }

    /// Pads the message (FIPS 180-4 §5.1.1) and returns its 20-byte digest.
    pub(crate) fn finish(mut self) -> [u8; 20] {
        let bits = self.len.wrapping_mul(8);
        self.push(0x80);
        while self.len % 64 != 56 {
            self.push(0);
        }
        for b in bits.to_be_bytes() {
            self.push(b);
        }
        let mut out = [0u8; 20];
        for (i, b) in out.iter_mut().enumerate() {
            let word = self.state[(i / 4) % 5];
            *b = word.to_be_bytes()[i % 4];
        }
        out
    }

    fn push(&mut self, b: u8) {
        let at = (self.len % 64) as usize;
        self.block[at % 64] = b;
        self.len = self.len.wrapping_add(1);
        if at == 63 {
            self.compress();
        }
    }

    /// Hashes the full block into the state (FIPS 180-4 §6.1.2).
    fn compress(&mut self) {
        let mut w = [0u32; 16];
        for (i, &b) in self.block.iter().enumerate() {
            let word = &mut w[(i / 4) % 16];
            *word = (*word << 8) | u32::from(b);
        }
        let [mut a, mut b, mut c, mut d, mut e] = self.state;
        for t in 0..80 {
            let s = t % 16;
            if t >= 16 {
                // W[t] = ROTL1(W[t-3] ^ W[t-8] ^ W[t-14] ^ W[t-16]), in a ring of 16.
                w[s] = (w[(t + 13) % 16] ^ w[(t + 8) % 16] ^ w[(t + 2) % 16] ^ w[s]).rotate_left(1);
            }
            let (f, k) = match t / 20 {
                0 => ((b & c) | (!b & d), 0x5A82_7999),
                1 => (b ^ c ^ d, 0x6ED9_EBA1),
                2 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let next = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(w[s]);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = next;
        }
        for (h, v) in self.state.iter_mut().zip([a, b, c, d, e]) {
            *h = h.wrapping_add(v);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;
    use std::string::String;
    use std::vec::Vec;

    fn hex(data: &[u8]) -> String {
        let mut sha = Sha1::new();
        sha.update(data);
        sha.finish()
            .iter()
            .map(|b| std::format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn fips_180_vectors() {
        // FIPS 180 / NIST CSRC examples.
        assert_eq!(hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
        assert_eq!(hex(b""), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(
            hex(b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1"
        );
        assert_eq!(
            hex(
                b"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno\
                  ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu"
            ),
            "a49b2446a02c645bf419f995b67091253a04a259"
        );
    }

    #[test]
    fn one_million_a() {
        let mut sha = Sha1::new();
        for _ in 0..1000 {
            sha.update(&[b'a'; 1000]);
        }
        let digest: String = sha
            .finish()
            .iter()
            .map(|b| std::format!("{b:02x}"))
            .collect();
        assert_eq!(digest, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    }

    #[test]
    fn padding_boundaries() {
        // Lengths around the block and padding edges; digests from Python's hashlib.
        let cases = [
            (55, "ddf57317ef34bfee3b6df83d359098930eb278bc"),
            (56, "a0d492bb0fc889d0eca3bc137066ab6f4f74f369"),
            (63, "c55856749bef509bdfe6bfebfc7bf4e793e82132"),
            (64, "bede92be29c3874e1b54ddc77988d606fc857a8e"),
            (65, "b05a80522b053d6dc7e0a517d0e70212c7dad11f"),
            (119, "504e27376a6e0f0dba8295b85cb25dc4dfa17d23"),
            (120, "82134b02fb3f702491be9bed581eeab59334acb2"),
            (128, "a09133e6730ffe899efb70204cb5646cd5dc24ee"),
        ];
        for (n, expected) in cases {
            let data: Vec<u8> = (0..n).map(|i: usize| (i * 7 + 3) as u8).collect();
            assert_eq!(hex(&data), expected, "length {n}");
            // Any split of the input gives the same digest.
            for split in [0, 1, n / 2, n] {
                let mut sha = Sha1::new();
                sha.update(&data[..split]);
                sha.update(&data[split..]);
                let split_hex: String = sha
                    .finish()
                    .iter()
                    .map(|b| std::format!("{b:02x}"))
                    .collect();
                assert_eq!(split_hex, expected, "length {n} split {split}");
            }
        }
    }
}

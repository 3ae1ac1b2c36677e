//! Small helpers shared by the parsers: base64 → hex, SRI integrity strings, line numbers.

use crate::HashAlg;

/// Decode standard or URL-safe base64 (padding optional); `None` on any invalid character.
pub(crate) fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &c in s.trim_end_matches('=').as_bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const D: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(D[(b >> 4) as usize] as char);
        s.push(D[(b & 15) as usize] as char);
    }
    s
}

/// Expected hex length of a digest.
pub(crate) fn hex_len(alg: HashAlg) -> usize {
    match alg {
        HashAlg::Md5 => 32,
        HashAlg::Sha1 => 40,
        HashAlg::Sha256 => 64,
        HashAlg::Sha384 => 96,
        HashAlg::Sha512 => 128,
    }
}

/// An SRI `integrity` value (`sha512-BASE64 sha1-BASE64 ...`) as (alg, hex) pairs; unknown
/// algorithms and undecodable values are dropped.
pub(crate) fn sri_hashes(integrity: &str) -> Vec<(HashAlg, String)> {
    let mut out = Vec::new();
    for part in integrity.split_whitespace() {
        let Some((alg, b64)) = part.split_once('-') else {
            continue;
        };
        let Some(alg) = alg_from_name(alg) else {
            continue;
        };
        if let Some(bytes) = base64_decode(b64.split('?').next().unwrap_or(b64)) {
            let h = hex(&bytes);
            if h.len() == hex_len(alg) {
                out.push((alg, h));
            }
        }
    }
    out
}

/// `alg:hex` (pip, poetry, uv, Pipfile) as a hash, if the algorithm is known and the hex valid.
pub(crate) fn prefixed_hex(s: &str) -> Option<(HashAlg, String)> {
    let (alg, h) = s.split_once(':').or_else(|| s.split_once('='))?;
    let alg = alg_from_name(alg)?;
    let h = h.trim().to_ascii_lowercase();
    (h.len() == hex_len(alg) && h.bytes().all(|b| b.is_ascii_hexdigit())).then_some((alg, h))
}

fn alg_from_name(name: &str) -> Option<HashAlg> {
    Some(match name.to_ascii_lowercase().as_str() {
        "sha1" => HashAlg::Sha1,
        "sha256" => HashAlg::Sha256,
        "sha384" => HashAlg::Sha384,
        "sha512" => HashAlg::Sha512,
        "md5" => HashAlg::Md5,
        _ => return None,
    })
}

/// 1-based line number of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> u32 {
    let end = offset.min(text.len());
    text.as_bytes()[..end].iter().filter(|&&b| b == b'\n').count() as u32 + 1
}

/// 1-based line of the first line that contains `needle`, if any (for warnings about
/// structured formats whose parser does not keep positions).
pub(crate) fn line_containing(text: &str, needle: &str) -> Option<u32> {
    text.find(needle).map(|o| line_of(text, o))
}

/// The line of a `serde_json` error.
pub(crate) fn json_err_line(e: &serde_json::Error) -> Option<u32> {
    (e.line() > 0).then_some(e.line() as u32)
}

/// The line of a `toml` error.
pub(crate) fn toml_err_line(text: &str, e: &toml::de::Error) -> Option<u32> {
    e.span().map(|s| line_of(text, s.start))
}

/// The line of a `serde_yaml` error.
pub(crate) fn yaml_err_line(e: &serde_yaml::Error) -> Option<u32> {
    e.location().map(|l| l.line() as u32)
}

/// The first line of an error message (serde errors can be long).
pub(crate) fn short(e: impl std::fmt::Display) -> String {
    let s = e.to_string();
    s.lines().next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sri_decodes() {
        let h = sri_hashes("sha1-2jmbFmZhvSTQyqkdiqSdmjWhYy0= sha512-AAAA");
        assert_eq!(h, vec![(HashAlg::Sha1, "da399b166661bd24d0caa91d8aa49d9a35a1632d".into())]);
        assert_eq!(base64_decode("aGk="), Some(b"hi".to_vec()));
        assert_eq!(base64_decode("a*"), None);
    }

    #[test]
    fn prefixed() {
        let sha = "a".repeat(64);
        assert_eq!(prefixed_hex(&format!("sha256:{sha}")), Some((HashAlg::Sha256, sha)));
        assert_eq!(prefixed_hex("sha256:abc"), None);
        assert_eq!(prefixed_hex("crc:00"), None);
    }
}

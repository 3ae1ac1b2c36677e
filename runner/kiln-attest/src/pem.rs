//! A small, tolerant PEM reader (RFC 7468 "lax" parsing).
//!
//! Real key files have one long base64 line (npm's registry key), `\r\n` endings, text before
//! the first block, an `EC PARAMETERS` block before the key, RFC 1421 headers, and base64 whose
//! last character carries non-zero padding bits. All of that is accepted here; what the bytes
//! mean is judged by the key parsers. Decoded contents are zeroized on drop, since they may be
//! private keys.

use base64::Engine as _;
use base64::alphabet::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

const LAX: GeneralPurpose = GeneralPurpose::new(
    &STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// One PEM block.
pub(crate) struct Block {
    /// The label, e.g. `PUBLIC KEY`.
    pub label: String,
    /// The decoded DER (or, for cosign keys, JSON).
    pub contents: Zeroizing<Vec<u8>>,
}

/// True when `bytes` contains a PEM begin line.
pub(crate) fn is_pem(bytes: &[u8]) -> bool {
    bytes.windows(11).any(|w| w == b"-----BEGIN ")
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Block({:?}, {} bytes)", self.label, self.contents.len())
    }
}

/// Every block of `bytes`, in order. Fails on text with no block, an unterminated block, a
/// mismatched end label, or a body that is not base64.
pub(crate) fn parse(bytes: &[u8]) -> Result<Vec<Block>> {
    let text =
        std::str::from_utf8(bytes).map_err(|_| Error::Pem("PEM text is not UTF-8".into()))?;
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = Zeroizing::new(String::new());
        let mut closed = false;
        for line in lines.by_ref() {
            if line == end {
                closed = true;
                break;
            }
            if line.starts_with("-----") {
                return Err(Error::Pem(format!(
                    "PEM block {label:?} ends with {line:?}"
                )));
            }
            if line.contains(':') {
                continue; // RFC 1421 header such as Proc-Type
            }
            body.push_str(line);
        }
        if !closed {
            return Err(Error::Pem(format!(
                "PEM block {label:?} is truncated (no END line)"
            )));
        }
        let contents = LAX.decode(body.as_bytes()).map_err(|e| {
            Error::Pem(format!(
                "the body of PEM block {label:?} is not base64: {e}"
            ))
        })?;
        blocks.push(Block {
            label: label.to_string(),
            contents: Zeroizing::new(contents),
        });
    }
    if blocks.is_empty() {
        return Err(Error::Pem("no PEM block found".into()));
    }
    Ok(blocks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tolerant_but_not_blind() {
        let ok = "junk\r\n-----BEGIN EC PARAMETERS-----\r\nBggqhkjOPQMBBw==\r\n-----END EC PARAMETERS-----\r\n-----BEGIN X-----\nProc-Type: 4,ENCRYPTED\n\nAAEC\nAw==\n-----END X-----\n";
        let blocks = parse(ok.as_bytes()).unwrap();
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[1].label, "X");
        assert_eq!(&*blocks[1].contents, &[0, 1, 2, 3]);
        // Non-zero trailing bits are accepted (the bytes are judged later).
        assert_eq!(
            &*parse(b"-----BEGIN X-----\nAAB=\n-----END X-----").unwrap()[0].contents,
            &[0, 0]
        );
        for bad in [
            "",
            "hello",
            "-----BEGIN X-----\nAAEC\n",
            "-----BEGIN X-----\nAAEC\n-----END Y-----",
            "-----BEGIN X-----\n@@@@\n-----END X-----",
        ] {
            assert_eq!(
                parse(bad.as_bytes()).unwrap_err().reason(),
                "bad-pem",
                "{bad:?}"
            );
        }
    }
}

//! Offline resolution of a buildspec's `env.parameter-store` and
//! `env.secrets-manager` entries, and masking of every resolved value in
//! everything kiln prints or writes.
//!
//! kiln never talks to AWS. Values come from [`Provider`]s, tried in order
//! by a [`Resolver`]:
//!
//! * [`FileProvider`]: a local YAML file (format below), which must be
//!   owner-only (`chmod 600`);
//! * [`EnvProvider`]: `KILN_PARAM_*` / `KILN_SECRET_*` variables of kiln's
//!   own environment (naming rules in [`env`](mod@env)).
//!
//! A real AWS-backed provider can later implement the same trait.
//!
//! ```
//! use kiln_secrets::{EnvProvider, FileProvider, Masker, Resolver};
//!
//! let file = FileProvider::parse("secrets.yml", r#"
//! parameters:
//!   /CodeBuild/dockerLoginPassword: "d0cker-pa55"
//! secrets:
//!   prod/db: { username: admin, password: "s3cr3t-pw" }
//! "#).unwrap();
//! let env = EnvProvider::from_vars([("KILN_SECRET_PROD_API", "api-token-123")]);
//! let resolver = Resolver::new(vec![Box::new(file), Box::new(env)]);
//! let vars = resolver.resolve(
//!     &[("DOCKER_PW".into(), "/CodeBuild/dockerLoginPassword".into())],
//!     &[("DB_PW".into(), "prod/db:password".into()), ("API".into(), "prod/api".into())],
//! ).unwrap();
//! assert_eq!(vars[1].value, "s3cr3t-pw");
//!
//! let masker = Masker::from_resolved(&vars).unwrap();
//! assert_eq!(masker.mask_str("login with s3cr3t-pw"), "login with ***");
//! ```
//!
//! # References
//!
//! `parameter-store` maps a variable to a parameter name, used verbatim.
//! `secrets-manager` maps a variable to
//! `secret-id[:json-key[:version-stage[:version-id]]]`, parsed by
//! [`SecretRef::parse`]; the secret-id may be a full ARN, whose own colons
//! are handled (see [`refs`]). A json-key selects one key of a JSON-object
//! secret: a string value is used as-is, numbers, booleans, arrays and
//! objects as their compact JSON text; a missing key or `null` is an error.
//!
//! # The secrets file
//!
//! ```yaml
//! # ~/.config/kiln/secrets.yml  (chmod 600)
//! parameters:                        # Parameter Store: name -> value
//!   /CodeBuild/dockerLoginPassword: "hunter2-but-longer"
//!   /app/port: 5432                  # numbers/booleans are taken as text
//! secrets:                           # Secrets Manager: name (or ARN) -> secret
//!   prod/api-token: "plain secret string"
//!   prod/db:                         # a mapping is stored as its JSON text,
//!     username: admin                # so `prod/db:password` works
//!     password: "s3cr3t"
//!   prod/legacy: '{"password": "also fine as a JSON string"}'
//!   prod/rotating:                   # a mapping whose ONLY key is `versions`
//!     versions:                      # lists versions by staging label or id
//!       AWSCURRENT: "new-value"      # used when no stage/id is requested
//!       AWSPREVIOUS: "old-value"     # `prod/rotating::AWSPREVIOUS`
//!       a1b2c3d4-5678-90ab-cdef-EXAMPLE11111: "by-id"  # `prod/rotating:::a1b2…`
//! ```
//!
//! * Only the top-level keys `parameters` and `secrets` are allowed, both
//!   optional; an empty file is an empty store. Duplicate names are errors.
//!   Any other top-level key refuses the whole file (nothing in it is used,
//!   so a build never runs with half of it) with
//!   [`ProviderError::UnknownKey`] at the key's `path:line:column` and a
//!   suggestion: the buildspec's `secrets-manager` and `parameter-store`
//!   (however written: `secrets_manager`, `SecretsManager`) are `secrets`
//!   and `parameters` here, a buildspec-style `env:` wrapper is pointed
//!   out, a close spelling (`secret`, `paramters`) gets "did you mean" as in
//!   `kiln validate`, and anything else lists the two keys.
//! * A secret that is not a `versions` mapping has only an `AWSCURRENT`
//!   version. To store a JSON object whose only key is `versions`, write it
//!   as a JSON string.
//! * A secret referenced by ARN is looked up by the ARN, then by the name in
//!   the ARN, then by that name without Secrets Manager's `-XXXXXX` suffix
//!   ([`secret_id_candidates`]).
//! * The file is refused unless it is a regular file with no group/other
//!   permission bits (`mode & 0o077 == 0`), like ssh's rule for private
//!   keys. YAML syntax errors and unknown top-level keys report
//!   `path:line:column`; other errors name the path and the key
//!   (`secrets."prod/db".versions`). No error message contains a value.
//! * Aliases (`*name`) may expand the file to 16 times its size (at least
//!   16 MiB, at most 128 MiB), the bound buildspecs get: a larger expansion
//!   is refused at `path:line:column` of the alias that crosses it, before
//!   anything is expanded (`kiln-yaml`).
//!
//! # Masking
//!
//! A [`Masker`] replaces with `***` every occurrence of each secret value and
//! of these derived forms (each only if at least the minimum length; the
//! list is [`encodings::variants`]):
//!
//! * the value itself, the value with surrounding whitespace trimmed, and
//!   for a multi-line value each trimmed line and the CRLF form (terminals
//!   turn `\n` into `\r\n`);
//! * for values (or trimmed values) of at least [`CASE_MIN_LEN`](encodings::CASE_MIN_LEN)
//!   (8) bytes, the all-lower-case and all-upper-case forms, by Unicode rules
//!   (Python's `str.upper()`, `ß` → `SS`) and ASCII-only (`tr a-z A-Z`,
//!   `${V^^}`); shorter ones re-cased are ordinary words too often;
//! * hex of the value's bytes, all lower case or all upper case (Python's
//!   `bytes.hex()`, `xxd -p`, `%02x` loops), also inside a longer hex string
//!   (every byte starts at an even hex offset);
//! * base64 of the value (and trimmed value): standard and URL-safe
//!   alphabets, padded and unpadded; and, for a value embedded anywhere in a
//!   longer base64 stream, the stable middle of its encoding at each of the
//!   3 byte offsets modulo 3 ([`mask::base64_middle`]);
//! * base32 (RFC 4648 alphabet, upper case), padded and unpadded, and the
//!   stable middle inside a longer base32 stream at each of the 5 byte offsets
//!   modulo 5 ([`mask::base32_middle`]);
//! * percent-encoding: RFC 3986 (all but `A-Za-z0-9-._~` escaped) and
//!   `encodeURIComponent` (also leaves `!*'()`), each with `%20` or `+` for
//!   spaces and with upper- or lower-case hex digits;
//! * the JSON string-escaped form as `serde_json` writes it, with `/` as
//!   `\/`, and with non-ASCII characters as `\uXXXX`.
//!
//! **Not covered** (such output passes unmasked; a build that wants to leak a
//! value it can read can always find a form the masker does not know, so
//! masking protects against accidents, not against a hostile build):
//! mixed-case or separated hex (`hexdump -C`, `xxd` without `-p`, `\x41`
//! escapes, `0x`-prefixed bytes); the encodings of the re-cased forms (hex or
//! base64 of the upper-cased value); an encoding broken by a line wrap
//! (`base64` wraps at 76 columns, `xxd -p` at 60: where the value's encoding
//! crosses a wrap, neither part matches); lower-case base32 and the base32hex
//! alphabet; base58, base85/ascii85, uuencode, quoted-printable;
//! XML/HTML entities, shell quoting (`printf %q`, `${V@Q}`) and other escape
//! syntaxes than JSON's and percent-encoding; UTF-16 or other charsets;
//! reversed, spaced-out, split or partial values (a substring of a value is
//! not masked); hashes, compression and encryption of the value. In a build's
//! output kiln masks complete lines in blocks: a multi-line value is masked
//! whole when its lines arrive in one read, otherwise through its lines, of
//! which one shorter than the minimum length is not masked.
//!
//! Matching uses one leftmost-longest Aho-Corasick automaton; overlapping or
//! chained matches of different secrets are merged into a single `***`, so no
//! part of an overlapping secret leaks.
//!
//! **Short values are not masked.** Values shorter than
//! [`DEFAULT_MIN_LEN`] (4 bytes; configurable with
//! [`MaskerBuilder::min_len`]) are skipped with a `tracing` warning naming the
//! variable, and listed by [`Masker::skipped`]. AWS CodeBuild masks
//! parameter-store and secrets-manager values wherever the exact string
//! appears in the log (even inside echoed commands) and documents no minimum
//! length, so a value such as `1` would turn every `1` in the log into `***`
//! and destroy it; kiln deliberately differs here. Empty values are ignored.
//!
//! [`StreamMasker`] masks a stream arriving in arbitrary chunks, holding
//! back at most [`Masker::max_pattern_len`]` - 1` bytes.
//!
//! Neither [`Masker`], [`StreamMasker`], [`Resolved`] nor any provider prints
//! secret values in its `Debug` output.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod encodings;
pub mod env;
pub mod file;
pub mod mask;
pub mod provider;
pub mod refs;
pub mod resolve;
pub mod stream;

pub use env::EnvProvider;
pub use file::FileProvider;
pub use mask::{DEFAULT_MIN_LEN, MASK, Masker, MaskerBuilder, MaskerError};
pub use provider::{Provider, ProviderError};
pub use refs::{AWSCURRENT, RefError, SecretRef, secret_id_candidates};
pub use resolve::{JsonKeyProblem, ResolveError, Resolved, Resolver, Source, extract_json_key};
pub use stream::StreamMasker;

//! Every case of `tests/corpus/provenance/CASES.tsv` (DSSE envelopes, in-toto statements and
//! SLSA provenance from slsa-github-generator, Cloud Build, npm, witness, in-toto, sigstore
//! clients) must come out as its `expected` column says, with the same failure reason.
//!
//! Key-signed envelopes verify with their keys; certificate-signed ones (Fulcio) with the
//! public-good trusted root of the corpus; unsigned statements and predicates "verify" when
//! their structure is valid.

mod common;

use common::{Case, FileKind, classify, public_good_root, run_all};
use kiln_attest::bundle::{self, Artifact, Bundle, VerifyOptions};
use kiln_attest::dsse::{self, Attestation, Envelope, VerifyOptions as DsseOptions};
use kiln_attest::intoto::Statement;
use kiln_attest::slsa::{self, Provenance};
use kiln_attest::trust::{certificate_identity, certificates_from_pem, verify_certificate};
use kiln_attest::{Error, PublicKey};
use serde_json::Value;

/// Inputs of a case, sorted by what they are.
#[derive(Default)]
struct Inputs {
    documents: Vec<Vec<u8>>,
    keys: Vec<PublicKey>,
    artifacts: Vec<Vec<u8>>,
    /// `sha256:<hex>` digests that must be subjects (Cloud Build `.digest` files).
    digests: Vec<String>,
}

fn inputs(case: &Case) -> Result<Inputs, Error> {
    let mut out = Inputs::default();
    for (i, path) in case.files.iter().enumerate() {
        let bytes = case.read(i);
        let name = path.to_string_lossy();
        if name.ends_with(".digest") {
            out.digests
                .push(String::from_utf8_lossy(&bytes).trim().to_string());
            continue;
        }
        // The first file is the document under test; later files are keys or artifacts (witness
        // binds an SBOM by digest).
        match classify(path, &bytes) {
            _ if i == 0 => out.documents.push(bytes),
            FileKind::PublicKey => out.keys.push(PublicKey::read(&bytes)?),
            _ => out.artifacts.push(bytes),
        }
    }
    Ok(out)
}

/// The keys of an in-toto layout (a DSSE envelope whose payload is `{"_type":"layout",...}`):
/// the layout template is unsigned, its `keys` hold the functionaries' PEM public keys.
fn layout_keys(env: &Envelope) -> Result<Vec<PublicKey>, Error> {
    let payload: Value =
        serde_json::from_slice(&env.payload_bytes()?).map_err(|e| Error::Json {
            what: "layout",
            detail: e.to_string(),
        })?;
    let mut keys = Vec::new();
    for key in payload["keys"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.values())
    {
        if let Some(pem) = key.pointer("/keyval/public").and_then(Value::as_str) {
            keys.push(PublicKey::from_pem(pem.as_bytes())?);
        }
    }
    Ok(keys)
}

/// Statement (and SLSA v1 predicate, when it claims to be one) must be well-formed, and bind
/// the given artifacts and digests.
fn check_statement(st: &Statement, inputs: &Inputs) -> Result<String, Error> {
    for artifact in &inputs.artifacts {
        st.subject_for(artifact)?;
    }
    for digest in &inputs.digests {
        let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
        st.subject_by_sha256(hex)
            .ok_or_else(|| Error::DigestMismatch(format!("{digest} is not a subject")))?;
    }
    if st.predicate_type == slsa::PREDICATE_TYPE {
        let p = Provenance::from_statement(st)?;
        return Ok(format!("SLSA v1 by {}", p.run_details.builder.id));
    }
    Ok(format!("{} statement", st.predicate_type))
}

/// One DSSE envelope: signed by one of the keys (Cloud Build's regional keys sign the bare
/// payload: allowed here, and only here), or by the Fulcio certificate it carries.
fn check_envelope(
    env: &Envelope,
    inputs: &Inputs,
    extra_keys: &[PublicKey],
) -> Result<String, Error> {
    let keys: Vec<&PublicKey> = inputs.keys.iter().chain(extra_keys).collect();
    let verified = if let Some(cert) = env.signatures.iter().find_map(|s| s.cert.as_deref()) {
        let certs = certificates_from_pem(cert.as_bytes())?;
        let at = certificate_identity(&certs[0])?.not_before;
        let (_, key) = verify_certificate(&certs[0], &certs[1..], &public_good_root(), at)?;
        dsse::verify(env, &[&key])?
    } else {
        let legacy = DsseOptions {
            legacy_payload_signatures: true,
        };
        dsse::verify_with(env, &keys, legacy)?
    };
    match verified.statement() {
        Ok(st) => check_statement(&st, inputs),
        Err(_) if verified.payload_type != kiln_attest::intoto::PAYLOAD_TYPE => {
            Ok(verified.payload_type)
        }
        Err(e) => Err(e),
    }
}

fn check_bundle(b: &Bundle, inputs: &Inputs) -> Result<String, Error> {
    let root = public_good_root();
    let key = inputs.keys.first();
    let options = VerifyOptions {
        key,
        trusted_root: Some(&root),
        require_tlog: false,
    };
    let artifact = inputs
        .artifacts
        .first()
        .map_or(Artifact::None, |a| Artifact::Bytes(a));
    let v = bundle::verify(b, artifact, &options)?;
    match &v.statement {
        Some(st) => check_statement(st, inputs),
        None => Ok(format!("{:?}", v.signer)),
    }
}

/// A key pair: the private key loads, signs, and matches the public key given with it.
fn key_case(case: &Case) -> Result<String, Error> {
    let pair = kiln_attest::KeyPair::read(&case.read(0), case.password().as_ref())?;
    for i in 1..case.files.len() {
        pair.check_public_key(&PublicKey::read(&case.read(i))?)?;
    }
    let env = dsse::sign("application/octet-stream", b"kiln", &pair)?;
    dsse::verify(&env, &[pair.public_key()])?;
    Ok(format!("{:?}", pair.algorithm()))
}

fn run(case: &Case) -> Result<String, Error> {
    if case.kind == "key" {
        return key_case(case);
    }
    let inputs = inputs(case)?;
    let doc = &inputs.documents[0];
    let text = std::str::from_utf8(doc).map_err(|e| Error::Json {
        what: "document",
        detail: e.to_string(),
    })?;
    // A document that is not even JSON (Tekton's Go template) fails here.
    let first_line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    let value: Value = serde_json::from_str(text)
        .or_else(|_| serde_json::from_str(first_line))
        .map_err(|e| Error::Json {
            what: "document",
            detail: e.to_string(),
        })?;

    // The in-toto demo: keys come from the layout (first file), the link is the second file.
    if value.pointer("/payloadType").is_some()
        && case.files.len() > 1
        && case.files[1].to_string_lossy().ends_with(".link")
    {
        let layout = Envelope::from_json(doc)?;
        let link = Envelope::from_json(&case.read(1))?;
        let keys = layout_keys(&layout)?;
        let refs: Vec<&PublicKey> = keys.iter().collect();
        let v = dsse::verify(&link, &refs)?;
        return Ok(format!("link signed by {}", v.key.key_id()));
    }
    // Cloud Build occurrences: every provenance envelope must verify.
    if let Some(list) = value
        .pointer("/provenance_summary/provenance")
        .and_then(Value::as_array)
    {
        let mut out = Vec::new();
        for item in list.iter().filter_map(|p| p.get("envelope")) {
            let env = Envelope::from_json(item.to_string().as_bytes())?;
            out.push(check_envelope(&env, &inputs, &[])?);
        }
        return Ok(out.join("; "));
    }
    // npm registry attestations: each is a bundle.
    if let Some(list) = value.get("attestations").and_then(Value::as_array) {
        let mut out = Vec::new();
        for a in list {
            let b = Bundle::from_json(a["bundle"].to_string().as_bytes())?;
            out.push(check_bundle(&b, &inputs)?);
        }
        return Ok(out.join("; "));
    }
    // `.intoto.jsonl`, `.build.slsa`, bare envelopes and bundles.
    if value.get("payloadType").is_some() || value.get("mediaType").is_some() {
        let mut out = Vec::new();
        for att in dsse::parse_jsonl(doc)? {
            out.push(match att {
                Attestation::Envelope(env) => check_envelope(&env, &inputs, &[])?,
                Attestation::Bundle(b) => check_bundle(&b, &inputs)?,
            });
        }
        return Ok(out.join("; "));
    }
    // Unsigned statements and bare predicates.
    if value.get("_type").is_some() || value.get("predicateType").is_some() {
        return check_statement(&Statement::from_json(doc)?, &inputs);
    }
    if value.get("buildDefinition").is_some() {
        let p = Provenance::from_value(value)?;
        return Ok(format!("SLSA v1 predicate by {}", p.run_details.builder.id));
    }
    Err(Error::Malformed {
        what: "corpus document",
        detail: "unrecognised".into(),
    })
}

#[test]
fn provenance_corpus_matches_cases_tsv() {
    run_all("provenance", run);
}

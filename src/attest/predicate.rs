//! Predicate types by cosign's short names, and predicates read from files.

use serde_json::Value;

/// The most bytes of a predicate file. An attestation is read back whole (bundles and
/// envelopes up to [`MAX_ATTESTATION_BYTES`]), and base64 makes the predicate a third larger.
pub const MAX_PREDICATE_BYTES: u64 = 16 << 20;
/// The most bytes read for one attestation bundle or envelope.
pub const MAX_ATTESTATION_BYTES: u64 = 32 << 20;

/// cosign's predicate for `--type custom`.
pub const CUSTOM: &str = "https://cosign.sigstore.dev/attestation/v1";

/// cosign's `--type` short names and the predicate types they stand for.
pub const SHORT_NAMES: [(&str, &str); 11] = [
    ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
    ("spdx", "https://spdx.dev/Document"),
    ("spdxjson", "https://spdx.dev/Document"),
    ("cyclonedx", "https://cyclonedx.org/bom"),
    ("link", "https://in-toto.io/Link/v1"),
    ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
    ("openvex", "https://openvex.dev/ns"),
    ("custom", CUSTOM),
    ("scan", crate::scan::SCAN_PREDICATE_TYPE),
];

#[derive(Debug, thiserror::Error)]
pub enum PredicateError {
    #[error(
        "{0:?} is neither a predicate type URI nor one of the names slsaprovenance, slsaprovenance02, slsaprovenance1, spdx, spdxjson, cyclonedx, link, vuln, openvex, custom, scan"
    )]
    UnknownType(String),
    #[error("the predicate is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: u64, limit: u64 },
    #[error("the predicate is not a JSON object: {0}")]
    NotAnObject(String),
    #[error("a custom predicate is the file's text, and this file is not UTF-8")]
    NotText,
    #[error("{0}")]
    NotProvenance(String),
    #[error(
        "https://sigstore.dev/cosign/sign/v1 is cosign's signature type, not an attestation type: use sign and verify"
    )]
    SignatureType,
}

/// The predicate type a `--type` value names: a short name, or any absolute URI. cosign's
/// signature type is refused: a signature made as an attestation would verify as a signature.
pub fn resolve_type(name: &str) -> Result<String, PredicateError> {
    if name == crate::signature::SIGN_PREDICATE_TYPE {
        return Err(PredicateError::SignatureType);
    }
    if let Some((_, uri)) = SHORT_NAMES.iter().find(|(short, _)| *short == name) {
        return Ok((*uri).to_string());
    }
    let is_uri = name.split_once(':').is_some_and(|(scheme, rest)| {
        !scheme.is_empty()
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
            && !rest.is_empty()
    }) && !name.chars().any(|c| c.is_whitespace() || c.is_control());
    if is_uri {
        Ok(name.to_string())
    } else {
        Err(PredicateError::UnknownType(name.to_string()))
    }
}

/// The predicate of `predicate_type` from a file's bytes: for cosign's custom type, the text
/// wrapped as cosign wraps it; for any other, the file as a JSON object, read strictly.
pub fn from_file(
    predicate_type: &str,
    bytes: &[u8],
    timestamp: &str,
) -> Result<Value, PredicateError> {
    if bytes.len() as u64 > MAX_PREDICATE_BYTES {
        return Err(PredicateError::TooLarge {
            size: bytes.len() as u64,
            limit: MAX_PREDICATE_BYTES,
        });
    }
    if predicate_type == CUSTOM {
        let text = std::str::from_utf8(bytes).map_err(|_| PredicateError::NotText)?;
        return Ok(serde_json::json!({ "Data": text, "Timestamp": timestamp }));
    }
    let value: Value = crate::json::from_slice_strict(bytes)
        .map_err(|e| PredicateError::NotAnObject(e.to_string()))?;
    if !value.is_object() {
        return Err(PredicateError::NotAnObject(format!(
            "it is {}",
            match value {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }
        )));
    }
    // Provenance is held to its schema before it is signed.
    if super::slsa::is_provenance(predicate_type) {
        super::slsa::parse(predicate_type, &value).map_err(PredicateError::NotProvenance)?;
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_short_names_and_uris() {
        assert_eq!(
            resolve_type("slsaprovenance1").unwrap(),
            "https://slsa.dev/provenance/v1"
        );
        assert_eq!(resolve_type("custom").unwrap(), CUSTOM);
        assert_eq!(
            resolve_type("https://example.com/scan/v1").unwrap(),
            "https://example.com/scan/v1"
        );
        assert_eq!(resolve_type("urn:example:x").unwrap(), "urn:example:x");
        for bad in [
            "sbom",
            "",
            "no scheme",
            ":x",
            "https:",
            "a b:c",
            "https://sigstore.dev/cosign/sign/v1",
        ] {
            assert!(resolve_type(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn predicates_are_json_objects_or_custom_text() {
        let t = "2026-01-01T00:00:00Z";
        assert_eq!(
            from_file("https://x/y", br#"{"a":1}"#, t).unwrap(),
            serde_json::json!({"a": 1})
        );
        for bad in [
            &b"[1]"[..],
            b"\"s\"",
            b"1",
            b"null",
            b"{",
            b"{\"a\":1,\"a\":2}",
        ] {
            assert!(matches!(
                from_file("https://x/y", bad, t),
                Err(PredicateError::NotAnObject(_))
            ));
        }
        assert_eq!(
            from_file(CUSTOM, b"hello", t).unwrap(),
            serde_json::json!({"Data": "hello", "Timestamp": t})
        );
        assert!(matches!(
            from_file(CUSTOM, b"\xff", t),
            Err(PredicateError::NotText)
        ));
    }
}

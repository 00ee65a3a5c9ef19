//! cosign's simple-signing payload: the exact bytes Go's encoding/json writes for
//! `{critical: {identity, image, type}, optional}`, and a strict reading of them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::oci::Digest;

pub const MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
pub const SIGNATURE_TYPE: &str = "cosign container image signature";

// Field order is Go's struct order, which is the JSON order cosign signs. Unknown fields are
// refused: a field this reader would skip could be one another reader acts on.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    pub critical: Critical,
    /// `null` without annotations, as Go writes a nil map.
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Critical {
    pub identity: Identity,
    pub image: Image,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identity {
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

/// The payload bytes cosign would sign for `digest` in `repository`, with `annotations`.
pub fn payload(
    repository: &str,
    digest: &Digest,
    annotations: &BTreeMap<String, String>,
) -> Result<Vec<u8>, serde_json::Error> {
    let optional = (!annotations.is_empty()).then(|| {
        annotations
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect()
    });
    let payload = Payload {
        critical: Critical {
            identity: Identity {
                docker_reference: repository.into(),
            },
            image: Image {
                docker_manifest_digest: digest.to_string(),
            },
            kind: SIGNATURE_TYPE.into(),
        },
        optional,
    };
    let json = serde_json::to_string(&payload)?;
    Ok(go_html_escape(&json).into_bytes())
}

/// Go's encoding/json escapes `<`, `>`, `&`, U+2028 and U+2029 inside strings. These characters
/// only ever appear inside strings in JSON text, so escaping them everywhere is exact.
fn go_html_escape(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            other => out.push(other),
        }
    }
    out
}

/// Reads a payload strictly (valid UTF-8, no repeated keys) and checks that it signs `digest`
/// as an image signature with every `wanted` annotation.
pub fn check(
    bytes: &[u8],
    digest: &Digest,
    wanted: &BTreeMap<String, String>,
) -> Result<(), String> {
    let payload: Payload = crate::json::from_slice_strict(bytes)
        .map_err(|e| format!("the simple-signing payload is not valid: {e}"))?;
    if payload.critical.kind != SIGNATURE_TYPE {
        return Err(format!(
            "the payload's type is {:?}, not {SIGNATURE_TYPE:?}",
            payload.critical.kind
        ));
    }
    let signed = &payload.critical.image.docker_manifest_digest;
    if signed != &digest.to_string() {
        return Err(format!("it signs {signed}, not {digest}"));
    }
    for (key, value) in wanted {
        let have = payload
            .optional
            .as_ref()
            .and_then(|o| o.get(key))
            .and_then(serde_json::Value::as_str);
        if have != Some(value.as_str()) {
            return Err(format!(
                "annotation {key}={value} is not in the signed payload"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:a4206eca1414c8a3e96751e9e3af9ff3508905442266943fe35ef4ab90c21991";

    /// The 249 bytes cosign signs (reference: cosign-formats.md section 1).
    #[test]
    fn payload_is_byte_identical_to_cosigns() {
        let digest: Digest = DIGEST.parse().unwrap();
        let bytes = payload(
            "registry.example.com/models/llama",
            &digest,
            &BTreeMap::new(),
        )
        .unwrap();
        let expected = r#"{"critical":{"identity":{"docker-reference":"registry.example.com/models/llama"},"image":{"docker-manifest-digest":"sha256:a4206eca1414c8a3e96751e9e3af9ff3508905442266943fe35ef4ab90c21991"},"type":"cosign container image signature"},"optional":null}"#;
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
        assert_eq!(bytes.len(), 249);
        assert_eq!(
            Digest::sha256_of(&bytes).to_string(),
            "sha256:45c2c12697f67d9fefbdced9d25502801cf4127155690e2ad1e4434a4219b7d8"
        );
        let annotations = BTreeMap::from([
            ("team".to_string(), "ml".to_string()),
            ("stage".to_string(), "prod".to_string()),
        ]);
        let with = payload("registry.example.com/models/llama", &digest, &annotations).unwrap();
        assert!(
            String::from_utf8(with)
                .unwrap()
                .ends_with(r#""optional":{"stage":"prod","team":"ml"}}"#)
        );
        let html = BTreeMap::from([("note".to_string(), "<a&b>".to_string())]);
        let escaped = String::from_utf8(payload("r", &digest, &html).unwrap()).unwrap();
        assert!(
            escaped.contains(r#""note":"\u003ca\u0026b\u003e""#),
            "{escaped}"
        );
    }

    #[test]
    fn check_binds_digest_type_and_annotations() {
        let digest: Digest = DIGEST.parse().unwrap();
        let annotations = BTreeMap::from([("team".to_string(), "ml".to_string())]);
        let bytes = payload("r", &digest, &annotations).unwrap();
        check(&bytes, &digest, &annotations).unwrap();
        check(&bytes, &digest, &BTreeMap::new()).unwrap();
        let other = Digest::sha256_of(b"other");
        assert!(
            check(&bytes, &other, &BTreeMap::new())
                .unwrap_err()
                .contains("it signs")
        );
        let missing = BTreeMap::from([("team".to_string(), "web".to_string())]);
        assert!(check(&bytes, &digest, &missing).is_err());
        let text = String::from_utf8(bytes).unwrap();
        let twice = text.replacen(
            r#""image":{"#,
            &format!(r#""image":{{"docker-manifest-digest":"{other}","#),
            1,
        );
        assert!(
            check(twice.as_bytes(), &digest, &BTreeMap::new())
                .unwrap_err()
                .contains("duplicate key")
        );
        let attestation = text.replace(SIGNATURE_TYPE, "something else");
        assert!(check(attestation.as_bytes(), &digest, &BTreeMap::new()).is_err());
        assert!(check(b"\xff\xfe", &digest, &BTreeMap::new()).is_err());
    }
}

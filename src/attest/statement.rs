//! In-toto Statement v1 (and v0.1 on read), with the subject annotations cosign uses for `-a`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::oci::{Algorithm, Digest};

pub const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
pub const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";
/// The DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";

// Unknown fields are refused, here and in subjects: a field this reader would skip could be one
// another reader acts on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub kind: String,
    pub subject: Vec<Subject>,
    pub predicate_type: String,
    #[serde(default)]
    pub predicate: serde_json::Value,
}

/// A subject (in-toto ResourceDescriptor): what the statement is about.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Subject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub digest: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, serde_json::Value>>,
    // The other ResourceDescriptor fields, kept as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_location: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<serde_json::Value>,
}

impl Statement {
    /// A v1 statement about one OCI digest.
    pub fn about(
        digest: &Digest,
        predicate_type: &str,
        predicate: serde_json::Value,
        annotations: &BTreeMap<String, String>,
    ) -> Statement {
        let annotations = annotations
            .iter()
            .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
            .collect();
        Statement {
            kind: STATEMENT_V1.into(),
            subject: vec![Subject {
                name: None,
                digest: BTreeMap::from([(
                    digest.algorithm().name().to_string(),
                    digest.hex().to_string(),
                )]),
                annotations: Some(annotations),
                uri: None,
                content: None,
                download_location: None,
                media_type: None,
            }],
            predicate_type: predicate_type.into(),
            predicate,
        }
    }

    /// A v1 statement about one OCI digest, the subject named (cosign names it by its
    /// repository), carrying `predicate`.
    pub fn named(
        digest: &Digest,
        name: &str,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Statement {
        let mut statement = Statement::about(digest, predicate_type, predicate, &BTreeMap::new());
        for subject in &mut statement.subject {
            subject.name = Some(name.to_string());
            subject.annotations = None;
        }
        statement
    }

    /// Whether the statement type is one modelseal reads.
    pub fn is_known_kind(&self) -> bool {
        self.kind == STATEMENT_V1 || self.kind == STATEMENT_V01
    }

    /// The subject that names `digest`, if any.
    pub fn subject_for(&self, digest: &Digest) -> Option<&Subject> {
        self.subject.iter().find(|s| s.names(digest))
    }

    /// The digests the statement's subjects name, for messages.
    pub fn subject_digests(&self) -> Vec<String> {
        self.subject
            .iter()
            .flat_map(|s| s.digest.iter().map(|(alg, hex)| format!("{alg}:{hex}")))
            .collect()
    }
}

impl Subject {
    /// Whether this subject's digest of `digest`'s algorithm is `digest` (lowercase hex; a
    /// subject may list several algorithms).
    pub fn names(&self, digest: &Digest) -> bool {
        let algorithm = match digest.algorithm() {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        };
        self.digest.get(algorithm).map(String::as_str) == Some(digest.hex())
    }

    /// Whether every wanted annotation is present with that string value.
    pub fn has_annotations(&self, wanted: &BTreeMap<String, String>) -> bool {
        wanted.iter().all(|(k, v)| {
            self.annotations
                .as_ref()
                .and_then(|a| a.get(k))
                .and_then(serde_json::Value::as_str)
                == Some(v.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_about_a_digest_has_cosigns_shape() {
        let digest = Digest::sha256_of(b"manifest");
        let annotations = BTreeMap::from([("team".to_string(), "ml".to_string())]);
        let s = Statement::about(
            &digest,
            "https://sigstore.dev/cosign/sign/v1",
            serde_json::json!({}),
            &annotations,
        );
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"_type":"https://in-toto.io/Statement/v1","subject":[{{"digest":{{"sha256":"{}"}},"annotations":{{"team":"ml"}}}}],"predicateType":"https://sigstore.dev/cosign/sign/v1","predicate":{{}}}}"#,
                digest.hex()
            )
        );
        let subject = s.subject_for(&digest).unwrap();
        assert!(subject.has_annotations(&annotations));
        assert!(!subject.has_annotations(&BTreeMap::from([("team".into(), "web".into())])));
        assert!(s.subject_for(&Digest::sha256_of(b"other")).is_none());
    }
}

//! The ModelPack config blob (`application/vnd.cncf.model.config.v1+json`), typed after the
//! specification's JSON schema: unknown fields are rejected at every level, as the schema's
//! `additionalProperties: false` demands.

use serde::{Deserialize, Serialize};

use crate::oci::Digest;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    pub descriptor: ModelDescriptor,
    pub config: ModelProperties,
    pub modelfs: ModelFs,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authors: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vendor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "docURL", default, skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
    #[serde(rename = "sourceURL", default, skip_serializing_if = "Option::is_none")]
    pub source_url: Option<String>,
    #[serde(
        rename = "datasetsURL",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub datasets_url: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub licenses: Option<Vec<String>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param_size: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<Capabilities>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Capabilities {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_types: Option<Vec<Modality>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_types: Option<Vec<Modality>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knowledge_cutoff: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasoning: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_usage: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Modality {
    Text,
    Image,
    Audio,
    Video,
    Embedding,
    Other,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ModelFs {
    #[serde(rename = "type")]
    pub kind: String,
    pub diff_ids: Vec<Digest>,
}

pub const MODELFS_TYPE_LAYERS: &str = "layers";

/// The precisions the specification documents (`config.precision`, comma-separated if mixed).
pub const PRECISIONS: &[&str] = &[
    "float32",
    "float64",
    "float16",
    "bfloat16",
    "float8_e4m3",
    "float8_e5m2",
    "complex32",
    "complex64",
    "complex128",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "bool",
];

impl ModelConfig {
    /// Checks what the schema checks beyond types: formats, patterns, lengths and enums.
    pub fn check(&self) -> Result<(), String> {
        let d = &self.descriptor;
        if d.name.as_deref() == Some("") {
            return Err("descriptor.name must not be empty".into());
        }
        if let Some(t) = &d.created_at {
            check_date_time("descriptor.createdAt", t)?;
        }
        if let Some(c) = &self.config.capabilities {
            if let Some(t) = &c.knowledge_cutoff {
                check_date_time("config.capabilities.knowledgeCutoff", t)?;
            }
            for language in c.languages.iter().flatten() {
                let two_letters =
                    language.len() == 2 && language.bytes().all(|b| b.is_ascii_lowercase());
                if !two_letters {
                    return Err(format!(
                        "config.capabilities.languages: {language:?} is not an ISO 639-1 code"
                    ));
                }
            }
        }
        if self.modelfs.kind != MODELFS_TYPE_LAYERS {
            return Err(format!(
                "modelfs.type is {:?}; the specification allows only \"layers\"",
                self.modelfs.kind
            ));
        }
        if self.modelfs.diff_ids.is_empty() {
            return Err("modelfs.diffIds is empty; a ModelPack has at least one layer".into());
        }
        Ok(())
    }
}

fn check_date_time(field: &str, value: &str) -> Result<(), String> {
    let bad = |why: &str| format!("{field}: {value:?} is not an RFC 3339 date-time ({why})");
    if !is_rfc3339_shape(value) {
        return Err(bad(
            "expected YYYY-MM-DDTHH:MM:SS[.fraction] and Z or ±HH:MM",
        ));
    }
    // The shape is strict; the values (month 13, February 30, hour 25) are checked here.
    value
        .parse::<jiff::Timestamp>()
        .map(|_| ())
        .map_err(|e| bad(&e.to_string()))
}

/// RFC 3339 section 5.6 `date-time`, exactly: jiff alone would also accept forms RFC 3339
/// does not (an hour-only offset, a bracketed time zone).
fn is_rfc3339_shape(value: &str) -> bool {
    let Some((date_time, rest)) = value.as_bytes().split_at_checked(19) else {
        return false;
    };
    let shape_ok =
        date_time
            .iter()
            .zip(b"dddd-dd-ddTdd:dd:dd")
            .all(|(c, expected)| match expected {
                b'd' => c.is_ascii_digit(),
                b'T' => matches!(c, b'T' | b't'),
                other => c == other,
            });
    if !shape_ok {
        return false;
    }
    let offset = match rest.strip_prefix(b".") {
        Some(after_dot) => {
            let fraction = after_dot.iter().take_while(|c| c.is_ascii_digit()).count();
            if fraction == 0 {
                return false;
            }
            after_dot.get(fraction..).unwrap_or_default()
        }
        None => rest,
    };
    match offset {
        b"Z" | b"z" => true,
        [sign, h1, h2, b':', m1, m2] => {
            matches!(sign, b'+' | b'-') && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// Checks a parameter size as the specification documents it: a count with at most one
/// decimal, then a scale letter (`7B`, `6.7b`, `100M`).
pub fn check_param_size(value: &str) -> Result<(), String> {
    let bad = || {
        format!(
            "parameter size {value:?} must be a count with at most one decimal and a scale from K, M, B, T, Q, as in 7B or 6.7B"
        )
    };
    let (count, scale) = value
        .split_at_checked(value.len().saturating_sub(1))
        .ok_or_else(bad)?;
    if !matches!(
        scale.to_ascii_uppercase().as_str(),
        "K" | "M" | "B" | "T" | "Q"
    ) {
        return Err(bad());
    }
    let (whole, fraction) = match count.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (count, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || fraction.is_some_and(|f| f.len() != 1 || !digits(f)) {
        return Err(bad());
    }
    Ok(())
}

/// Checks a precision against the documented list (comma-separated when mixed).
pub fn check_precision(value: &str) -> Result<(), String> {
    for part in value.split(',') {
        if !PRECISIONS.contains(&part.trim()) {
            return Err(format!(
                "precision {part:?} is not one the specification lists ({})",
                PRECISIONS.join(", ")
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"descriptor":{"name":"tiny","createdAt":"2026-03-01T12:00:00Z"},"config":{"format":"safetensors","capabilities":{"languages":["en"]}},"modelfs":{"type":"layers","diffIds":["sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"]}}"#;

    #[test]
    fn parses_and_checks_a_config() {
        let c: ModelConfig = serde_json::from_str(CONFIG).unwrap();
        c.check().unwrap();
        assert_eq!(serde_json::to_string(&c).unwrap().len(), CONFIG.len());
    }

    #[test]
    fn rejects_what_the_schema_rejects() {
        let unknown = CONFIG.replace(r#""format""#, r#""formats""#);
        assert!(serde_json::from_str::<ModelConfig>(&unknown).is_err());
        let snake = CONFIG.replace("diffIds", "diff_ids");
        assert!(serde_json::from_str::<ModelConfig>(&snake).is_err());
        let bad_modality = CONFIG.replace(r#""languages":["en"]"#, r#""inputTypes":["smell"]"#);
        assert!(serde_json::from_str::<ModelConfig>(&bad_modality).is_err());
        for (from, to) in [
            (r#""en""#, r#""eng""#),
            ("2026-03-01T12:00:00Z", "yesterday"),
            (r#""type":"layers""#, r#""type":"tar""#),
            (r#""name":"tiny""#, r#""name":"""#),
        ] {
            let c: ModelConfig = serde_json::from_str(&CONFIG.replace(from, to)).unwrap();
            assert!(c.check().is_err(), "{to}");
        }
        let empty = CONFIG.replace(
            r#""sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a""#,
            "",
        );
        let c: ModelConfig = serde_json::from_str(&empty).unwrap();
        assert!(c.check().is_err());
    }

    #[test]
    fn date_times_are_strict_rfc_3339() {
        for ok in [
            "2026-03-01T12:00:00Z",
            "2026-03-01t12:00:00z",
            "2026-03-01T12:00:00.123456789+02:00",
            "2026-03-01T12:00:00-04:30",
        ] {
            check_date_time("t", ok).unwrap();
        }
        for bad in [
            "2026-03-01T12:00:00",
            "2026-03-01T12:00:00-04",
            "2026-03-01T12:00:00Z[Europe/Paris]",
            "2026-03-01 12:00:00Z",
            "2026-13-01T12:00:00Z",
            "2026-02-30T12:00:00Z",
            "2026-03-01T12:00:00.Z",
            "+2026-03-01T12:00:00Z",
            "2026-03-01",
        ] {
            assert!(check_date_time("t", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn param_size_and_precision() {
        for ok in ["7B", "6.7b", "100m", "1T", "3q", "12K"] {
            check_param_size(ok).unwrap();
        }
        for bad in ["", "B", "7", "6.75B", "7X", ".5B", "7.B", "-1B", "1,5B"] {
            assert!(check_param_size(bad).is_err(), "{bad}");
        }
        check_precision("bfloat16").unwrap();
        check_precision("float16,int8").unwrap();
        assert!(check_precision("fp16").is_err());
    }
}

//! SLSA provenance predicates, v1 and v0.2, as typed documents: what modelseal writes and what
//! it checks a verified provenance attestation to be. Unknown fields are allowed, as the SLSA
//! specification asks of consumers; the required ones must be there and well formed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
pub const PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";

/// SLSA provenance v1.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceV1 {
    pub build_definition: BuildDefinition,
    pub run_details: RunDetails,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildDefinition {
    pub build_type: String,
    pub external_parameters: serde_json::Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub internal_parameters: Option<Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolved_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    pub builder: Builder,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<BuildMetadata>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub byproducts: Vec<ResourceDescriptor>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Builder {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub builder_dependencies: Vec<ResourceDescriptor>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BuildMetadata {
    // cosign and some generators spell it invocationID.
    #[serde(
        default,
        alias = "invocationID",
        skip_serializing_if = "Option::is_none"
    )]
    pub invocation_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_on: Option<String>,
}

/// An in-toto ResourceDescriptor.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceDescriptor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

/// SLSA provenance v0.2.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceV02 {
    pub builder: BuilderV02,
    pub build_type: String,
    #[serde(default)]
    pub invocation: Option<InvocationV02>,
    #[serde(default)]
    pub build_config: Option<Value>,
    #[serde(default)]
    pub metadata: Option<MetadataV02>,
    #[serde(default)]
    pub materials: Vec<MaterialV02>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BuilderV02 {
    pub id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationV02 {
    #[serde(default)]
    pub config_source: Option<ConfigSourceV02>,
    #[serde(default)]
    pub parameters: Option<Value>,
    #[serde(default)]
    pub environment: Option<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSourceV02 {
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub digest: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub entry_point: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetadataV02 {
    #[serde(default)]
    pub build_invocation_id: Option<String>,
    #[serde(default)]
    pub build_started_on: Option<String>,
    #[serde(default)]
    pub build_finished_on: Option<String>,
    #[serde(default)]
    pub completeness: Option<Value>,
    #[serde(default)]
    pub reproducible: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MaterialV02 {
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub digest: Option<BTreeMap<String, String>>,
}

/// A provenance predicate of either version.
#[derive(Clone, Debug, PartialEq)]
pub enum Provenance {
    V1(Box<ProvenanceV1>),
    V02(Box<ProvenanceV02>),
}

impl Provenance {
    pub fn builder_id(&self) -> &str {
        match self {
            Provenance::V1(p) => &p.run_details.builder.id,
            Provenance::V02(p) => &p.builder.id,
        }
    }

    pub fn build_type(&self) -> &str {
        match self {
            Provenance::V1(p) => &p.build_definition.build_type,
            Provenance::V02(p) => &p.build_type,
        }
    }
}

/// Whether `predicate_type` is a SLSA provenance type modelseal reads.
pub fn is_provenance(predicate_type: &str) -> bool {
    predicate_type == PROVENANCE_V1 || predicate_type == PROVENANCE_V02
}

/// Reads and checks a provenance predicate of `predicate_type`.
pub fn parse(predicate_type: &str, predicate: &Value) -> Result<Provenance, String> {
    let provenance = match predicate_type {
        PROVENANCE_V1 => Provenance::V1(Box::new(
            serde_json::from_value(predicate.clone())
                .map_err(|e| format!("it is not SLSA provenance v1: {e}"))?,
        )),
        PROVENANCE_V02 => Provenance::V02(Box::new(
            serde_json::from_value(predicate.clone())
                .map_err(|e| format!("it is not SLSA provenance v0.2: {e}"))?,
        )),
        other => return Err(format!("{other} is not a SLSA provenance type")),
    };
    check(&provenance)?;
    Ok(provenance)
}

fn check(provenance: &Provenance) -> Result<(), String> {
    if provenance.builder_id().is_empty() {
        return Err("the provenance names no builder".into());
    }
    if provenance.build_type().is_empty() {
        return Err("the provenance has no buildType".into());
    }
    let times: Vec<&Option<String>> = match provenance {
        Provenance::V1(p) => p
            .run_details
            .metadata
            .iter()
            .flat_map(|m| [&m.started_on, &m.finished_on])
            .collect(),
        Provenance::V02(p) => p
            .metadata
            .iter()
            .flat_map(|m| [&m.build_started_on, &m.build_finished_on])
            .collect(),
    };
    for time in times.into_iter().flatten() {
        time.parse::<jiff::Timestamp>()
            .map_err(|e| format!("the provenance time {time:?} is not RFC 3339: {e}"))?;
    }
    // The inputs must say what they were; byproducts are informational (Google Cloud Build
    // writes an empty one).
    if let Provenance::V1(p) = provenance {
        for descriptor in &p.build_definition.resolved_dependencies {
            if descriptor.uri.is_none()
                && descriptor.digest.is_none()
                && descriptor.content.is_none()
            {
                return Err("a resource descriptor has none of uri, digest and content".into());
            }
        }
    }
    Ok(())
}

//! Reading a ModelPack and validating it before any of its metadata is trusted.

use std::collections::BTreeSet;

use serde::Deserialize;

use super::config::ModelConfig;
use super::mediatype::{
    ARTIFACT_TYPE_CNAI, ARTIFACT_TYPE_CNCF, ARTIFACT_TYPE_KITOPS, CONFIG_CNAI, CONFIG_CNCF,
    CONFIG_KITOPS, Family, LayerType,
};
use crate::oci::{
    Descriptor, Digest, ImageManifest, MEDIA_TYPE_IMAGE_MANIFEST, Store, StoreError, fetch_blob,
    is_index_media_type, limits,
};

/// The most layers a ModelPack may have.
pub const MAX_LAYERS: usize = 10_000;
/// The longest file path a layer may declare.
pub const MAX_FILEPATH_BYTES: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum ModelPackError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{digest} is not a ModelPack: {reason}")]
    NotAModelPack { digest: Digest, reason: String },
    #[error("invalid ModelPack {digest}: {reason}")]
    Invalid { digest: Digest, reason: String },
}

impl ModelPackError {
    /// Whether the artifact itself failed a check (as opposed to the store failing).
    pub fn is_rejection(&self) -> bool {
        match self {
            ModelPackError::Store(e) => e.is_integrity_failure(),
            _ => true,
        }
    }
}

/// A layer's `file.metadata+json` annotation. Unknown fields are ignored; missing ones are zero.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, serde::Serialize)]
#[serde(default)]
pub struct FileMetadata {
    pub name: String,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: i64,
    pub mtime: Option<String>,
    pub typeflag: u8,
}

/// A validated layer.
#[derive(Clone, Debug)]
pub struct Layer {
    pub descriptor: Descriptor,
    pub layer_type: LayerType,
    pub filepath: Option<String>,
    pub metadata: Option<FileMetadata>,
    /// The packager marked the media type as guessed.
    pub untested: bool,
}

/// A ModelPack that passed validation, with the exact bytes it was read from.
#[derive(Clone, Debug)]
pub struct ModelPack {
    pub family: Family,
    pub descriptor: Descriptor,
    pub manifest_bytes: Vec<u8>,
    pub manifest: ImageManifest,
    pub config_bytes: Vec<u8>,
    pub config: serde_json::Value,
    pub layers: Vec<Layer>,
}

impl ModelPack {
    /// The sum of the layer sizes, saturating.
    pub fn total_layer_size(&self) -> u64 {
        self.layers
            .iter()
            .fold(0u64, |sum, l| sum.saturating_add(l.descriptor.size))
    }
}

/// Fetches the manifest and config a descriptor names and validates them.
pub fn read(store: &dyn Store, descriptor: &Descriptor) -> Result<ModelPack, ModelPackError> {
    if is_index_media_type(&descriptor.media_type) {
        return Err(ModelPackError::NotAModelPack {
            digest: descriptor.digest.clone(),
            reason: "it is an index of manifests; name one of them by digest".into(),
        });
    }
    let manifest_bytes = store.fetch_manifest(descriptor)?;
    from_bytes(descriptor, manifest_bytes, |config| {
        Ok(fetch_blob(store, config, limits::MAX_CONFIG_BYTES)?)
    })
}

/// Validates a manifest read as `descriptor` (its bytes checked against it by the caller),
/// with its config from `fetch_config`.
pub fn from_bytes(
    descriptor: &Descriptor,
    manifest_bytes: Vec<u8>,
    fetch_config: impl FnOnce(&Descriptor) -> Result<Vec<u8>, ModelPackError>,
) -> Result<ModelPack, ModelPackError> {
    let digest = descriptor.digest.clone();
    let invalid = |reason: String| ModelPackError::Invalid {
        digest: digest.clone(),
        reason,
    };
    let manifest: ImageManifest = serde_json::from_slice(&manifest_bytes).map_err(|e| {
        invalid(format!(
            "the manifest is not a valid OCI image manifest: {e}"
        ))
    })?;
    let family = detect_family(&manifest).map_err(|reason| ModelPackError::NotAModelPack {
        digest: digest.clone(),
        reason,
    })?;
    check_manifest_shape(&manifest, family).map_err(invalid)?;
    let config_bytes = fetch_config(&manifest.config)?;
    let (config, diff_ids) = parse_config(family, &config_bytes).map_err(invalid)?;
    let layers = check_layers(&manifest, family, diff_ids.as_deref()).map_err(invalid)?;
    Ok(ModelPack {
        family,
        descriptor: descriptor.clone(),
        manifest_bytes,
        manifest,
        config_bytes,
        config,
        layers,
    })
}

fn detect_family(manifest: &ImageManifest) -> Result<Family, String> {
    let artifact_type = manifest.artifact_type.as_deref();
    let config_type = manifest.config.media_type.as_str();
    let family = match (artifact_type, config_type) {
        (Some(ARTIFACT_TYPE_CNCF), _) | (None, CONFIG_CNCF) => Family::Cncf,
        (Some(ARTIFACT_TYPE_CNAI), _) | (None, CONFIG_CNAI) => Family::CnaiLegacy,
        (Some(ARTIFACT_TYPE_KITOPS), _) | (None, CONFIG_KITOPS) => Family::KitOps,
        _ => {
            return Err(format!(
                "artifactType {} and config media type {config_type:?} belong to no ModelPack family",
                artifact_type.map_or("(none)".to_string(), |a| format!("{a:?}"))
            ));
        }
    };
    let expected_config = match family {
        Family::Cncf => CONFIG_CNCF,
        Family::CnaiLegacy => CONFIG_CNAI,
        Family::KitOps => CONFIG_KITOPS,
    };
    if config_type != expected_config {
        return Err(format!(
            "a {} must have config media type {expected_config}, not {config_type:?}",
            family.describe()
        ));
    }
    Ok(family)
}

fn check_manifest_shape(manifest: &ImageManifest, family: Family) -> Result<(), String> {
    if manifest.schema_version != 2 {
        return Err(format!(
            "schemaVersion is {}, expected 2",
            manifest.schema_version
        ));
    }
    match manifest.media_type.as_deref() {
        Some(MEDIA_TYPE_IMAGE_MANIFEST) => {}
        // Older ModelKits omit the field.
        None if family == Family::KitOps => {}
        other => {
            return Err(format!(
                "mediaType is {other:?}, expected {MEDIA_TYPE_IMAGE_MANIFEST}"
            ));
        }
    }
    if manifest.layers.is_empty() {
        return Err("it has no layers".into());
    }
    if manifest.layers.len() > MAX_LAYERS {
        return Err(format!(
            "it has {} layers, over the limit of {MAX_LAYERS}",
            manifest.layers.len()
        ));
    }
    Ok(())
}

/// Parses the config of the family; returns it as JSON and its diffIds where the family has them.
fn parse_config(
    family: Family,
    bytes: &[u8],
) -> Result<(serde_json::Value, Option<Vec<Digest>>), String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("the config is not valid JSON: {e}"))?;
    if !value.is_object() {
        return Err("the config is not a JSON object".into());
    }
    let diff_ids = match family {
        Family::Cncf => {
            let config: ModelConfig = serde_json::from_value(value.clone())
                .map_err(|e| format!("the config does not follow the ModelPack schema: {e}"))?;
            config
                .check()
                .map_err(|e| format!("the config does not follow the ModelPack schema: {e}"))?;
            Some(config.modelfs.diff_ids)
        }
        Family::CnaiLegacy => Some(legacy_diff_ids(&value)?),
        Family::KitOps => {
            check_kitfile_paths(&value)?;
            None
        }
    };
    Ok((value, diff_ids))
}

/// Legacy configs spelled the field `diff_ids`; the rename to `diffIds` came with v0.0.7.
fn legacy_diff_ids(config: &serde_json::Value) -> Result<Vec<Digest>, String> {
    let modelfs = config
        .get("modelfs")
        .ok_or("the config has no modelfs section")?;
    let ids = modelfs
        .get("diff_ids")
        .or_else(|| modelfs.get("diffIds"))
        .and_then(serde_json::Value::as_array)
        .ok_or("the config's modelfs has no diff_ids list")?;
    ids.iter()
        .map(|id| {
            id.as_str()
                .ok_or_else(|| "a diff_id is not a string".to_string())?
                .parse::<Digest>()
                .map_err(|e| format!("modelfs.diff_ids: {e}"))
        })
        .collect()
}

/// A Kitfile's paths become extraction paths: they must stay inside the model directory.
fn check_kitfile_paths(kitfile: &serde_json::Value) -> Result<(), String> {
    let mut paths = Vec::new();
    if let Some(model) = kitfile.get("model") {
        paths.extend(model.get("path"));
        if let Some(parts) = model.get("parts").and_then(|p| p.as_array()) {
            paths.extend(parts.iter().filter_map(|p| p.get("path")));
        }
    }
    for section in ["code", "datasets", "docs", "prompts", "mcpServers"] {
        if let Some(entries) = kitfile.get(section).and_then(|s| s.as_array()) {
            paths.extend(entries.iter().filter_map(|e| e.get("path")));
        }
    }
    for path in paths {
        let path = path.as_str().ok_or("a Kitfile path is not a string")?;
        // `.` names the whole model directory.
        if path == "." {
            continue;
        }
        check_relative_path(path).map_err(|e| format!("Kitfile path {path:?}: {e}"))?;
    }
    Ok(())
}

fn check_layers(
    manifest: &ImageManifest,
    family: Family,
    diff_ids: Option<&[Digest]>,
) -> Result<Vec<Layer>, String> {
    if let Some(ids) = diff_ids
        && ids.len() != manifest.layers.len()
    {
        return Err(format!(
            "the config lists {} diffIds for {} layers",
            ids.len(),
            manifest.layers.len()
        ));
    }
    let mut layers = Vec::with_capacity(manifest.layers.len());
    for (i, descriptor) in manifest.layers.iter().enumerate() {
        let diff_id = diff_ids.and_then(|ids| ids.get(i));
        let layer = check_layer(descriptor, family, diff_id)
            .map_err(|e| format!("layer {i} ({}): {e}", descriptor.digest))?;
        layers.push(layer);
    }
    check_unique_paths(&layers)?;
    Ok(layers)
}

fn check_layer(
    descriptor: &Descriptor,
    family: Family,
    diff_id: Option<&Digest>,
) -> Result<Layer, String> {
    let layer_type = LayerType::parse(family, &descriptor.media_type).ok_or_else(|| {
        format!(
            "media type {:?} is not a {} layer type",
            descriptor.media_type,
            family.describe()
        )
    })?;
    if let Some(diff_id) = diff_id
        && layer_type.packing.is_uncompressed()
        && diff_id != &descriptor.digest
    {
        return Err(format!(
            "its diffId {diff_id} differs from the digest of the uncompressed layer"
        ));
    }
    let filepath = match family.filepath_annotation() {
        Some(key) => descriptor.annotation(key).map(str::to_string),
        None => None,
    };
    if let Some(path) = &filepath {
        check_relative_path(path).map_err(|e| format!("file path {path:?}: {e}"))?;
    } else if family != Family::KitOps && layer_type.packing == super::mediatype::Packing::Raw {
        return Err("a raw layer needs a file path annotation to say which file it is".into());
    }
    let metadata = family
        .metadata_annotations()
        .iter()
        .find_map(|key| descriptor.annotation(key))
        .map(|json| check_file_metadata(json, descriptor, layer_type))
        .transpose()?;
    let untested = family
        .untested_annotation()
        .and_then(|key| descriptor.annotation(key))
        == Some("true");
    Ok(Layer {
        descriptor: descriptor.clone(),
        layer_type,
        filepath,
        metadata,
        untested,
    })
}

/// Regular-file type flags: 0 (as the specification's example writes it) and '0' (as Go's
/// archive/tar does). Everything else (links, devices, directories, FIFOs) is refused.
const REGULAR_FILE_TYPEFLAGS: [u8; 2] = [0, b'0'];
/// Mode bits that make a file special, in both encodings seen in the wild: POSIX `st_mode`
/// (setuid, setgid, sticky, file-type bits) and Go's `os.FileMode` (type and special bits).
const POSIX_SPECIAL_BITS: u32 = 0o7000 | 0o170000;
const POSIX_REGULAR_FILE: u32 = 0o100000;
const GO_SPECIAL_BITS: u32 = 0xFFF8_0000;

fn check_file_metadata(
    json: &str,
    descriptor: &Descriptor,
    layer_type: LayerType,
) -> Result<FileMetadata, String> {
    let metadata: FileMetadata =
        serde_json::from_str(json).map_err(|e| format!("file metadata is not valid: {e}"))?;
    if !REGULAR_FILE_TYPEFLAGS.contains(&metadata.typeflag) {
        return Err(format!(
            "file metadata declares type flag {} (a link, device, directory or FIFO); only regular files are allowed",
            metadata.typeflag
        ));
    }
    let mode = metadata.mode;
    let file_type = mode & 0o170000;
    if mode & GO_SPECIAL_BITS != 0
        || (file_type != 0 && file_type != POSIX_REGULAR_FILE)
        || mode & (POSIX_SPECIAL_BITS & !0o170000) != 0
    {
        return Err(format!(
            "file metadata declares mode {mode:#o}, with setuid, setgid, sticky or special-file bits"
        ));
    }
    if layer_type.packing == super::mediatype::Packing::Raw
        && u64::try_from(metadata.size).ok() != Some(descriptor.size)
    {
        return Err(format!(
            "file metadata declares {} bytes but the layer has {}",
            metadata.size, descriptor.size
        ));
    }
    Ok(metadata)
}

/// A path that is safe to create under a directory: relative, `/`-separated, with no empty,
/// `.` or `..` parts, no backslash and no NUL.
pub fn check_relative_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Err("empty path".into());
    }
    if path.len() > MAX_FILEPATH_BYTES {
        return Err(format!("longer than {MAX_FILEPATH_BYTES} bytes"));
    }
    if path.chars().any(char::is_control) {
        return Err("contains a control character (NUL, newline, escape...)".into());
    }
    if path.contains('\\') {
        return Err("contains a backslash; paths use `/`".into());
    }
    if path.starts_with('/') {
        return Err("is absolute".into());
    }
    if path.split('/').any(|part| part == "..") {
        return Err("contains `..`".into());
    }
    if path.split('/').any(|part| part.is_empty() || part == ".") {
        return Err("contains an empty or `.` part".into());
    }
    Ok(())
}

/// No two layers may claim one path, and no file may sit where another needs a directory.
fn check_unique_paths(layers: &[Layer]) -> Result<(), String> {
    let mut files = BTreeSet::new();
    let mut dirs = BTreeSet::new();
    for path in layers.iter().filter_map(|l| l.filepath.as_deref()) {
        if !files.insert(path) {
            return Err(format!("two layers claim the file path {path:?}"));
        }
        dirs.extend(
            path.match_indices('/')
                .filter_map(|(slash, _)| path.get(..slash)),
        );
    }
    if let Some(clash) = files.intersection(&dirs).next() {
        return Err(format!(
            "{clash:?} is both a file and the directory of another file"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        for ok in ["model.safetensors", "a/b/c.json", "..a", "a..b/c"] {
            check_relative_path(ok).unwrap();
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a/..",
            "a//b",
            "./a",
            "a/./b",
            "a/",
            "a\\b",
            "a\0b",
            "a\nb",
            "\u{1b}[31mred",
        ] {
            assert!(check_relative_path(bad).is_err(), "{bad:?}");
        }
        assert!(check_relative_path(&"a".repeat(MAX_FILEPATH_BYTES + 1)).is_err());
    }
}

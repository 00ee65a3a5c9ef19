//! cosign v2's tag-based signatures: one manifest per signed digest at tag
//! `sha256-<hex>.sig`, one simple-signing layer per signature, with the signature in the
//! `dev.cosignproject.cosign/signature` annotation and go-containerregistry's image config.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::simple_signing;
use crate::oci::{Annotations, Descriptor, Digest, ImageManifest, MEDIA_TYPE_IMAGE_MANIFEST};

pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// cosign refuses `.sig` manifests with more layers than this; so does modelseal.
pub const MAX_LAYERS: usize = 1000;
/// What go-containerregistry writes for an image without a creation time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The tag cosign keeps the signatures of `digest` under.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}-{}.sig", digest.algorithm().name(), digest.hex())
}

/// The tag cosign keeps the attestations of `digest` under.
pub fn attestation_tag(digest: &Digest) -> String {
    format!("{}-{}.att", digest.algorithm().name(), digest.hex())
}

/// The tag cosign kept SBOM attachments of `digest` under.
pub fn sbom_tag(digest: &Digest) -> String {
    format!("{}-{}.sbom", digest.algorithm().name(), digest.hex())
}

/// A signature layer: the payload blob's descriptor with the signature annotation.
pub fn signature_layer(payload: &[u8], signature: &[u8]) -> Descriptor {
    let mut layer = Descriptor::new(
        simple_signing::MEDIA_TYPE,
        Digest::sha256_of(payload),
        payload.len() as u64,
    );
    layer.annotations = Some(Annotations::from([(
        SIGNATURE_ANNOTATION.to_string(),
        STANDARD.encode(signature),
    )]));
    layer
}

/// The image config go-containerregistry derives for these layers: cosign writes it as the
/// `.sig` manifest's config (233 bytes for one layer).
pub fn config_blob(layers: &[Descriptor]) -> Vec<u8> {
    let history = vec![format!(r#"{{"created":"{ZERO_TIME}"}}"#); layers.len()].join(",");
    let diff_ids = layers
        .iter()
        .map(|l| format!(r#""{}""#, l.digest))
        .collect::<Vec<_>>()
        .join(",");
    format!(
        r#"{{"architecture":"","created":"{ZERO_TIME}","history":[{history}],"os":"","rootfs":{{"type":"layers","diff_ids":[{diff_ids}]}},"config":{{}}}}"#
    )
    .into_bytes()
}

/// The `.sig` manifest for these layers and config.
pub fn manifest(layers: Vec<Descriptor>, config: Descriptor) -> ImageManifest {
    ImageManifest {
        schema_version: 2,
        media_type: Some(MEDIA_TYPE_IMAGE_MANIFEST.into()),
        artifact_type: None,
        config,
        layers,
        subject: None,
        annotations: None,
    }
}

/// The base64 signature of a layer.
pub fn layer_signature(layer: &Descriptor) -> Result<Vec<u8>, String> {
    let encoded = layer
        .annotation(SIGNATURE_ANNOTATION)
        .ok_or_else(|| format!("the layer has no {SIGNATURE_ANNOTATION} annotation"))?;
    STANDARD
        .decode(encoded)
        .map_err(|e| format!("the signature annotation is not base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_matches_go_containerregistry_byte_for_byte() {
        let payload = br#"{"critical":{"identity":{"docker-reference":"registry.example.com/models/llama"},"image":{"docker-manifest-digest":"sha256:a4206eca1414c8a3e96751e9e3af9ff3508905442266943fe35ef4ab90c21991"},"type":"cosign container image signature"},"optional":null}"#;
        let layer = signature_layer(payload, b"sig");
        let config = config_blob(std::slice::from_ref(&layer));
        assert_eq!(config.len(), 233);
        assert_eq!(
            String::from_utf8(config).unwrap(),
            r#"{"architecture":"","created":"0001-01-01T00:00:00Z","history":[{"created":"0001-01-01T00:00:00Z"}],"os":"","rootfs":{"type":"layers","diff_ids":["sha256:45c2c12697f67d9fefbdced9d25502801cf4127155690e2ad1e4434a4219b7d8"]},"config":{}}"#
        );
        let two = config_blob(&[layer.clone(), layer]);
        assert!(String::from_utf8(two).unwrap().contains(
            r#""history":[{"created":"0001-01-01T00:00:00Z"},{"created":"0001-01-01T00:00:00Z"}]"#
        ));
    }

    #[test]
    fn tags_follow_cosigns_scheme() {
        let d = Digest::sha256_of(b"x");
        assert_eq!(signature_tag(&d), format!("sha256-{}.sig", d.hex()));
        assert_eq!(attestation_tag(&d), format!("sha256-{}.att", d.hex()));
        crate::reference::check_tag(&signature_tag(&d)).unwrap();
    }
}

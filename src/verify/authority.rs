//! Whom a signature must come from: the holder of a key (and how the transparency log entries
//! its signatures carry are checked), or a keyless identity under a trusted root.

use std::sync::Arc;

use sigstore_types::Bundle;

use crate::keys::PublicKey;
use crate::oci::{Descriptor, Digest};
use crate::signature::bundle;
use crate::signature::sigstore_annotations::{self, Content};
use crate::sigstore::{KeyLogVerifier, KeylessVerifier, TrustRoot};

/// Whom a signature must come from: the holder of a key, or a keyless identity.
#[derive(Clone, Debug)]
pub enum Authority {
    Key(Box<KeyAuthority>),
    Keyless(Arc<KeylessVerifier>),
}

/// A key, and how the transparency log entries its signatures may carry are checked.
#[derive(Clone, Debug)]
pub struct KeyAuthority {
    pub key: PublicKey,
    /// `None` ignores log entries (`--insecure-ignore-tlog`): the key's signature alone counts.
    log: Option<Arc<KeyLogVerifier>>,
    /// Whether a signature without a log entry is rejected (else it is the key's alone).
    require_log: bool,
}

impl KeyAuthority {
    /// A key whose signatures' log entries, where they carry one, must verify against `root`.
    /// A signature without an entry is the key's signature alone, as written offline.
    pub fn new(key: PublicKey, root: &TrustRoot) -> Result<KeyAuthority, String> {
        Ok(KeyAuthority {
            key,
            log: Some(Arc::new(KeyLogVerifier::new(root)?)),
            require_log: false,
        })
    }

    /// A key whose signatures must carry a log entry that verifies against `root`, so that
    /// stripping the entry does not leave the key's signature alone to count.
    pub fn requiring_log(key: PublicKey, root: &TrustRoot) -> Result<KeyAuthority, String> {
        Ok(KeyAuthority {
            require_log: true,
            ..KeyAuthority::new(key, root)?
        })
    }

    /// A key whose signatures' log entries are not looked at.
    pub fn ignoring_log(key: PublicKey) -> KeyAuthority {
        KeyAuthority {
            key,
            log: None,
            require_log: false,
        }
    }

    /// The bundle's log entries, if it carries any, verified with the statement naming
    /// `subject`; when the log recorded it.
    pub(crate) fn check_envelope_log(
        &self,
        bundle: &Bundle,
        subject: &Digest,
    ) -> Result<Option<String>, String> {
        let Some(log) = &self.log else {
            return Ok(None);
        };
        if bundle.verification_material.tlog_entries.is_empty() {
            return self.unlogged();
        }
        log.verify_envelope(bundle, subject, &self.key)
    }

    /// A signature without a log entry: the key's alone, unless an entry is required.
    fn unlogged(&self) -> Result<Option<String>, String> {
        if self.require_log {
            return Err("it carries no transparency log entry, and one is required".into());
        }
        Ok(None)
    }

    /// The log entry a legacy layer's annotations carry, if any, verified over what the
    /// layer signs (an envelope's statement naming `subject`); when the log recorded it.
    pub(crate) fn check_layer_log(
        &self,
        layer: &Descriptor,
        content: Content<'_>,
        subject: &Digest,
    ) -> Result<Option<String>, String> {
        let Some(log) = &self.log else {
            return Ok(None);
        };
        if layer
            .annotation(sigstore_annotations::REKOR_BUNDLE)
            .is_none()
        {
            return self.unlogged();
        }
        let hint = bundle::key_hint(&self.key).map_err(|e| e.to_string())?;
        let payload = match content {
            Content::Message { payload, .. } => Some(payload),
            Content::Envelope(_) => None,
        };
        let bundle = sigstore_annotations::to_key_bundle(layer, content, &hint)?;
        match payload {
            Some(payload) => log.verify_message(&bundle, payload, &self.key),
            None => log.verify_envelope(&bundle, subject, &self.key),
        }
    }
}

//! Whom a signature must come from: the holder of a key (and how the transparency log entries
//! its signatures carry are checked), or a keyless identity under a trusted root.

use std::sync::Arc;

use sigstore_types::Bundle;

use crate::attest::dsse;
use crate::attest::statement::Statement;
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

impl Authority {
    /// A bundle's DSSE envelope verified by this authority, with the statement naming
    /// `subject`: the statement, and when a transparency log recorded it, if it did.
    pub(crate) fn open_bundle(
        &self,
        parsed: &Bundle,
        subject: &Digest,
    ) -> Result<(Statement, Option<String>), String> {
        match self {
            Authority::Key(authority) => {
                let statement = bundle::open(parsed, &authority.key)?;
                Ok((statement, authority.check_envelope_log(parsed, subject)?))
            }
            Authority::Keyless(verifier) => {
                // Certificate, log entry, identity, envelope signature and the statement naming
                // `subject`, all checked before the statement is read.
                let signed = verifier.verify_envelope(parsed, subject)?;
                Ok((bundle::statement(parsed)?, signed.integrated_time))
            }
        }
    }

    /// What a legacy layer signs, verified by this authority over the exact bytes read,
    /// together with the Sigstore material its annotations carry (an envelope's statement
    /// naming `subject`): when a transparency log recorded it, if it did.
    pub(crate) fn verify_layer(
        &self,
        layer: &Descriptor,
        content: Content<'_>,
        subject: &Digest,
    ) -> Result<Option<String>, String> {
        match self {
            Authority::Key(authority) => {
                match content {
                    Content::Message { payload, signature } => {
                        authority.key.verify(payload, signature)
                    }
                    Content::Envelope(envelope) => dsse::verify(&authority.key, envelope),
                }
                .map_err(|e| e.to_string())?;
                authority.check_layer_log(layer, content, subject)
            }
            Authority::Keyless(verifier) => {
                let parsed = sigstore_annotations::to_bundle(layer, content)?;
                let signed = match content {
                    Content::Message { payload, .. } => {
                        verifier.verify_message(&parsed, payload)?
                    }
                    Content::Envelope(_) => verifier.verify_envelope(&parsed, subject)?,
                };
                Ok(signed.integrated_time)
            }
        }
    }
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

    /// With `required`, a signature must carry a log entry, so that stripping the entry does
    /// not leave the key's signature alone to count.
    pub fn require_log(self, required: bool) -> KeyAuthority {
        KeyAuthority {
            require_log: required,
            ..self
        }
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
    fn check_envelope_log(
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
    fn check_layer_log(
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

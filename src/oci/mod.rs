//! The OCI data model and the [`Store`] trait that every place artifacts live implements.

mod digest;
pub mod layout;
mod manifest;
pub mod registry;
mod store;
mod verified;

pub use digest::{Algorithm, Digest, DigestError, Hasher};
pub use layout::LayoutStore;
pub use manifest::*;
pub use registry::{RegistryOptions, RegistryStore};
pub use store::{BlobSource, ManifestPush, Store, StoreError, TagCondition, fetch_blob};
pub use verified::VerifiedReader;

use crate::reference::{Location, Reference};

/// How a command means to use the store a reference names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only read: the store must exist.
    Read,
    /// Write: a missing local layout is created.
    Write,
}

/// Opens the store a reference points at; `options` say how to reach a registry.
pub fn open_store(
    reference: &Reference,
    access: Access,
    options: &RegistryOptions,
) -> Result<Box<dyn Store>, StoreError> {
    match &reference.location {
        Location::Layout(path) => Ok(Box::new(match access {
            Access::Read => LayoutStore::open(path)?,
            Access::Write => LayoutStore::open_or_create(path)?,
        })),
        Location::Registry { host, repository } => {
            Ok(Box::new(RegistryStore::open(host, repository, options)?))
        }
    }
}

/// Size limits on everything read from a store. A store never reads more than these.
pub mod limits {
    /// The largest manifest or index accepted, the distribution spec's suggested limit.
    pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
    /// The largest config blob accepted.
    pub const MAX_CONFIG_BYTES: u64 = 4 << 20;
    /// The largest `index.json` of an image layout accepted (about 100 000 entries).
    pub const MAX_LAYOUT_INDEX_BYTES: u64 = 32 << 20;
    /// The largest `oci-layout` marker file accepted.
    pub const MAX_LAYOUT_MARKER_BYTES: u64 = 4 << 10;
    /// The most referrers one subject may have; each costs a manifest read. More is an error.
    pub const MAX_REFERRERS: usize = 1000;
}

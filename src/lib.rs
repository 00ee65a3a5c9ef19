#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic,
        clippy::arithmetic_side_effects
    )
)]
//! modelseal: sign, attest and admit AI model artifacts (CNCF ModelPacks) as OCI artifacts.
//!
//! The library follows one line: a [`reference::Reference`] is resolved in a [`oci::Store`] to
//! a manifest digest; a [`modelpack`] is read and validated before any of its metadata is
//! trusted; [`keys`] sign and verify. The command-line program is a thin layer over it.

pub mod attest;
pub mod clock;
pub mod copy;
pub mod files;
pub mod json;
pub mod keys;
pub mod modelpack;
pub mod oci;
pub mod policy;
pub mod reference;
pub mod scan;
pub mod sign;
pub mod signature;
pub mod sigstore;
pub mod verify;

//! In-toto statements and the DSSE envelopes that sign them.

pub mod attach;
pub mod dsse;
pub mod predicate;
pub mod provenance;
pub mod slsa;
pub mod statement;
pub mod verify;

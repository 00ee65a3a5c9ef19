//! In-toto statements and the DSSE envelopes that sign them.

pub mod dsse;
pub mod statement;

//! ModelPacks: media types, the config, validation of what is read, and packing a directory.

pub mod classify;
pub mod config;
pub mod mediatype;
pub mod pack;
mod validate;

pub use mediatype::{Family, LayerType, Packing, Role};
pub use validate::{
    FileMetadata, Layer, MAX_FILEPATH_BYTES, MAX_LAYERS, ModelPack, ModelPackError,
    check_relative_path, from_bytes, read,
};

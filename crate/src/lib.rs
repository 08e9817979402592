//! autolabel: automatic labelling of driving camera data.
//!
//! The pipeline runs as plain functions over plain data (see `ARCHITECTURE.md`):
//! clip → detect → segment → propagate → evaluate → analyse → export.
//! This crate is the core: it has no browser API, and touches the filesystem only
//! behind the `native` feature.

pub mod data;
pub mod eval;
pub mod export;
pub mod geometry;
#[cfg(target_os = "linux")]
pub mod huge_pages;
pub mod labels;
pub mod limits;
pub mod models;
pub mod pipeline;
pub mod text;

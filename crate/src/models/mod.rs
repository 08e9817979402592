//! Model ports, by hand, to Burn: one folder per network, one file per
//! sub-network, module and field names mirroring the official Hugging Face
//! checkpoints so their `model.safetensors` loads as published.

pub mod checkpoint;
mod cpu_gemm;
pub mod device;
pub mod grounding_dino;
#[cfg(feature = "native")]
pub mod hub;
pub mod kernels;
pub(crate) mod layers;
pub mod owlv2;
pub mod resample;
pub mod sam2;

pub use device::BackendKind;

/// The Burn version the ports are built on, so callers build tensors and
/// devices with the very same crate.
pub use burn;

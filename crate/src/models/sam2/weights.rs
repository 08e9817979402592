//! The checkpoint keys of the SAM 2 image model that a published file holds
//! but the model does not read.
//!
//! Paper: Ravi et al., "SAM 2", 2024. Reference: the key names of transformers'
//! `models/sam2/modeling_sam2.py` (`Sam2Model.state_dict()`), which are the names
//! of the official `facebook/sam2.1-hiera-*` files; the modules read them through
//! [`crate::models::checkpoint::Loader`].

/// Keys of the video model (`Sam2VideoModel`) that the image model does not
/// use; the official checkpoints hold both. Mirrors
/// `Sam2PreTrainedModel._keys_to_ignore_on_load_unexpected`.
const VIDEO_ONLY_PREFIXES: &[&str] = &[
    "memory_",
    "mask_downsample",
    "object_pointer_proj",
    "temporal_positional_encoding_projection_layer",
    "no_memory_positional_encoding",
    "no_object_pointer",
    "occlusion_spatial_embedding_parameter",
];

/// Whether the image model may leave `key` unread: a video-model key.
pub(crate) fn ignorable(key: &str) -> bool {
    VIDEO_ONLY_PREFIXES.iter().any(|p| key.starts_with(p))
}

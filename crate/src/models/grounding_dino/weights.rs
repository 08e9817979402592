//! The on-disk key names of the Grounding DINO checkpoints, and the keys a
//! published file holds that the model does not read.
//!
//! Paper: Liu et al., "Grounding DINO", 2023. Reference: the on-disk key names
//! of transformers' `GroundingDinoForObjectDetection.save_pretrained`
//! (`models/grounding_dino/modeling_grounding_dino.py`), which are the names of
//! the official `IDEA-Research/grounding-dino-*` files. They differ from the
//! in-memory names: the Swin backbone is written with its old names
//! (`attention.self.query`, `attention.output.dense`, `intermediate.dense`,
//! `output.dense`), and the tied box heads (`bbox_embed.1…`,
//! `model.decoder.bbox_embed.*`) are dropped, so every decoder layer's box
//! head is rebuilt from `bbox_embed.0`. The modules read them through
//! [`crate::models::checkpoint::Loader`].

/// Keys a checkpoint may hold that the model does not need: the tied box-head
/// copies older files still carry, Swin's final `layernorm` (unused by the
/// backbone) and the relative-position index buffers, which are rebuilt from
/// the window size. Mirrors the reference's `_keys_to_ignore_on_load_*` and
/// `_tied_weights_keys`.
pub(crate) fn ignorable(key: &str) -> bool {
    let tied_copy = key
        .strip_prefix("bbox_embed.")
        .and_then(|rest| rest.split('.').next())
        .is_some_and(|layer| layer != "0");
    tied_copy
        || key.starts_with("model.decoder.bbox_embed.")
        || key.contains("swin.layernorm.")
        || key.ends_with("relative_position_index")
}

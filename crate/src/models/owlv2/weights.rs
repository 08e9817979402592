//! The keys a published OWLv2 checkpoint holds that the detector does not
//! read.
//!
//! Paper: Minderer et al., "Scaling Open-Vocabulary Object Detection", 2023.
//! Reference: transformers v5.23.0 `models/owlv2/modeling_owlv2.py`: the
//! `google/owlv2-*` files are `Owlv2ForObjectDetection.save_pretrained`
//! output, whose module names the ports mirror; the modules read them
//! through [`crate::models::checkpoint::Loader`].

/// CLIP's image-level projection and temperature (`owlv2.visual_projection`,
/// `owlv2.logit_scale`: image–text matching, not detection) and the
/// `position_ids` buffers older files carry.
pub(crate) fn ignorable(key: &str) -> bool {
    key.starts_with("owlv2.visual_projection.")
        || key == "owlv2.logit_scale"
        || key.ends_with("position_ids")
}

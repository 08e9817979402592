//! Integration tests: the nuScenes projection against the real devkit, the
//! BERT tokenizer against transformers, bad input, the demo scene's
//! render/ground-truth agreement and memory use.
//! One test binary on purpose: every binary links the whole stack.

mod alloc;
mod bad_input;
mod coco_oracle;
mod datasets;
mod demo_scene;
mod devkit;
mod eval_demo;
mod eval_fixtures;
mod fuzz;
mod grounding_dino;
mod hardening;
mod owlv2;
mod review;
mod run;
mod sam2;
mod sam2_video;
mod support;
mod tokenizer;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

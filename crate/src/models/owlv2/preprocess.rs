//! Image pre-processing as transformers' `Owlv2ImageProcessor` does it, in
//! its order: rescale to `[0, 1]`, pad to a square at the bottom and right
//! with 0 (black, after the rescale), gaussian anti-aliasing when
//! downscaling and a bilinear resize to `size` (skimage's
//! `resize(anti_aliasing=True)` as the original OWL-ViT code runs it), then
//! normalise with the CLIP mean and standard deviation.
//!
//! Paper: Minderer et al., "Scaling Open-Vocabulary Object Detection", 2023.
//! Reference: transformers v5.23.0
//! `models/owlv2/image_processing_owlv2.py` (`Owlv2ImageProcessor._preprocess`,
//! `_pad_images`, `resize`) and torchvision's `gaussian_blur`.

use serde::Deserialize;

use crate::models::resample::{antialias_sigma, gaussian_bilinear_taps, resample_planes};

/// `OPENAI_CLIP_MEAN`.
pub const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
/// `OPENAI_CLIP_STD`.
pub const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

/// The processor's settings: a `preprocessor_config.json`'s fields, the
/// reference's defaults where it names none.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct ProcessorConfig {
    /// Pad to a square before resizing (the wrong variant without it
    /// stretches the image).
    pub do_pad: bool,
    /// Resize to `size`.
    pub do_resize: bool,
    /// The output size.
    pub size: Size,
    /// Multiply by `rescale_factor`.
    pub do_rescale: bool,
    /// 1/255.
    pub rescale_factor: f64,
    /// Normalise with `image_mean` and `image_std`.
    pub do_normalize: bool,
    pub image_mean: [f32; 3],
    pub image_std: [f32; 3],
}

/// `{"height": 960, "width": 960}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct Size {
    pub height: usize,
    pub width: usize,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        ProcessorConfig {
            do_pad: true,
            do_resize: true,
            size: Size {
                height: 960,
                width: 960,
            },
            do_rescale: true,
            rescale_factor: 1.0 / 255.0,
            do_normalize: true,
            image_mean: CLIP_MEAN,
            image_std: CLIP_STD,
        }
    }
}

impl ProcessorConfig {
    /// The processor of a model whose input is `side × side` pixels.
    pub fn square(side: usize) -> Self {
        ProcessorConfig {
            size: Size {
                height: side,
                width: side,
            },
            ..ProcessorConfig::default()
        }
    }

    /// Parses a `preprocessor_config.json`.
    pub fn from_json(json: &str) -> Result<Self, String> {
        let config: ProcessorConfig =
            serde_json::from_str(json).map_err(|e| format!("not a valid processor config: {e}"))?;
        let max = crate::limits::MAX_IMAGE_SIDE as usize;
        let Size { height, width } = config.size;
        if !(1..=max).contains(&height) || !(1..=max).contains(&width) {
            return Err(format!(
                "size {height}×{width}: each side must be in 1..={max}"
            ));
        }
        if config.image_std.iter().any(|&s| s == 0.0 || !s.is_finite()) {
            return Err(format!(
                "image_std {:?} must be finite and non-zero",
                config.image_std
            ));
        }
        Ok(config)
    }

    /// The `[height, width]` of the processed image.
    pub fn output_size(&self, [height, width]: [usize; 2]) -> [usize; 2] {
        match (self.do_resize, self.do_pad) {
            (true, _) => [self.size.height, self.size.width],
            (false, true) => [height.max(width); 2],
            (false, false) => [height, width],
        }
    }

    /// An interleaved RGB image (`width × height`, row-major) → channel-major
    /// `[3, H, W]` values, `[H, W]` from [`ProcessorConfig::output_size`].
    pub fn preprocess_rgb(&self, rgb: &[u8], width: usize, height: usize) -> Vec<f32> {
        let scale = if self.do_rescale {
            self.rescale_factor as f32
        } else {
            1.0
        };
        let [h, w] = if self.do_pad {
            [height.max(width); 2]
        } else {
            [height, width]
        };
        // [3, h, w], rescaled, zero (black) past the image at the bottom/right.
        let mut planes = vec![0.0f32; 3 * h * w];
        for (i, px) in rgb.chunks_exact(3).enumerate() {
            let (y, x) = (i / width, i % width);
            for (c, &v) in px.iter().enumerate() {
                planes[(c * h + y) * w + x] = f32::from(v) * scale;
            }
        }
        if self.do_resize {
            planes = self.resize(&planes, [h, w]);
        }
        if self.do_normalize {
            let [oh, ow] = self.output_size([height, width]);
            for (c, plane) in planes.chunks_exact_mut(oh * ow).enumerate() {
                let (mean, std) = (self.image_mean[c], self.image_std[c]);
                plane.iter_mut().for_each(|v| *v = (*v - mean) / std);
            }
        }
        planes
    }

    /// `Owlv2ImageProcessor.resize` of `[3, h, w]` planes to `size`.
    fn resize(&self, planes: &[f32], [h, w]: [usize; 2]) -> Vec<f32> {
        let Size { height, width } = self.size;
        let blur = antialias_sigma(h, height) > 0.0 && antialias_sigma(w, width) > 0.0;
        let rows = gaussian_bilinear_taps(h, height, blur);
        let cols = gaussian_bilinear_taps(w, width, blur);
        resample_planes(planes, [3, h, w], &rows, &cols)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_processor_config() {
        let json = r#"{"do_normalize": true, "do_pad": true, "do_rescale": true, "do_resize": true,
            "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_processor_type": "Owlv2ImageProcessor",
            "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 2,
            "rescale_factor": 0.00392156862745098, "size": {"height": 960, "width": 960}}"#;
        assert_eq!(
            ProcessorConfig::from_json(json).unwrap(),
            ProcessorConfig::square(960)
        );
        let err = ProcessorConfig::from_json(r#"{"size": {"height": 0, "width": 4}}"#).unwrap_err();
        assert!(err.contains("size 0×4"), "{err}");
    }

    #[test]
    fn padding_is_black_at_the_bottom_right() {
        let config = ProcessorConfig {
            do_resize: false,
            do_normalize: false,
            ..ProcessorConfig::square(4)
        };
        let rgb = [255u8; 2 * 3 * 3]; // 2 wide, 3 high, white
        let planes = config.preprocess_rgb(&rgb, 2, 3);
        assert_eq!(planes.len(), 3 * 9);
        assert_eq!(&planes[..9], &[1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0]);
    }
}

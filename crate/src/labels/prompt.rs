//! A segmentation prompt as data: a box and/or labelled points in image
//! pixels. The CLI's `segment` output, the page's prompts and the pipeline's
//! record of what SAM 2 was asked all use this one shape
//! (`{"box": [x0, y0, x1, y1] | null, "points": [[x, y, label], …]}`).

use serde::{Deserialize, Serialize};

use super::Box2;

/// Label of an object point.
pub const OBJECT: f64 = 1.0;
/// Label of a background point.
pub const BACKGROUND: f64 = 0.0;

/// Boxes and points for one object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    /// `[x0, y0, x1, y1]`.
    #[serde(default, rename = "box")]
    pub bbox: Option<Box2>,
    /// `[x, y, label]`, label [`OBJECT`] (1) or [`BACKGROUND`] (0).
    #[serde(default)]
    pub points: Vec<[f64; 3]>,
}

/// A prompt a segmenter cannot take.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromptError {
    #[error("point label {0} is not 1 (object) or 0 (background)")]
    Label(f64),
    #[error("a coordinate is not a finite number")]
    NotFinite,
}

impl Prompt {
    /// Refuses labels other than 0 and 1 and non-finite coordinates.
    pub fn check(&self) -> Result<(), PromptError> {
        let coordinates = self
            .points
            .iter()
            .flat_map(|p| &p[..2])
            .chain(self.bbox.iter().flatten());
        if coordinates.into_iter().any(|v| !v.is_finite()) {
            return Err(PromptError::NotFinite);
        }
        match self
            .points
            .iter()
            .find(|p| p[2] != OBJECT && p[2] != BACKGROUND)
        {
            Some(p) => Err(PromptError::Label(p[2])),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_zero_or_one_and_coordinates_finite() {
        let ok = Prompt {
            bbox: Some([0.0, 0.0, 5.0, 5.0]),
            points: vec![[1.0, 2.0, OBJECT], [3.0, 4.0, BACKGROUND]],
        };
        assert_eq!(ok.check(), Ok(()));
        let label = Prompt {
            points: vec![[1.0, 2.0, 7.0]],
            ..Prompt::default()
        };
        assert_eq!(label.check(), Err(PromptError::Label(7.0)));
        let nan = Prompt {
            bbox: Some([0.0, f64::NAN, 1.0, 1.0]),
            ..Prompt::default()
        };
        assert_eq!(nan.check(), Err(PromptError::NotFinite));
    }

    #[test]
    fn json_shape() {
        let p: Prompt = serde_json::from_str(r#"{"points": [[1, 2, 1]]}"#).unwrap();
        assert_eq!(p.bbox, None);
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"box":null,"points":[[1.0,2.0,1.0]]}"#
        );
    }
}

//! Recall broken down by what makes objects hard: distance from the camera,
//! projected size and (nuScenes) visibility — per bin, overall and per
//! class, from the greedy matching (`metrics::GreedyResult`).
//!
//! Bins are half-open: distance `[0, 20)`, `[20, 40)`, `[40, ∞)` m; size by the
//! object's COCO `area` (mask pixels, or box area without a mask) `< 32²`,
//! `[32², 96²)`, `≥ 96²` px² (COCO's small/medium/large limits; COCOeval itself
//! counts an area of exactly 32² or 96² in both neighbouring ranges); visibility
//! by nuScenes level. Objects without a distance or visibility (COCO ground
//! truth) fall in `unknown`. Every bin is listed, empty ones with `gt: 0` and
//! `recall: null`. Crowd regions are not objects to find and are left out.

use serde::{Deserialize, Serialize};

use super::data::{GroundTruth, GtObject};
use super::metrics::{GreedyResult, ratio};

/// Recall of one bin (of one class, or of all classes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinCount {
    pub gt: usize,
    pub matched: usize,
    pub recall: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassBin {
    pub class: String,
    #[serde(flatten)]
    pub count: BinCount,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Bin {
    /// e.g. `0-20 m`, `small (<32²)`, `v0-40`.
    pub bin: String,
    #[serde(flatten)]
    pub all: BinCount,
    pub per_class: Vec<ClassBin>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinAxis {
    /// `distance`, `size` or `visibility`.
    pub axis: String,
    pub bins: Vec<Bin>,
}

/// Limits of the bins, named so they can be changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BinLimits {
    /// Distance bin edges, metres: `[0, a)`, `[a, b)`, … `[last, ∞)`.
    pub distance_m: Vec<f64>,
    /// Area edges, px²: small below the first, large from the last.
    pub area_px2: [f64; 2],
    /// Visibility levels in order.
    pub visibility: Vec<String>,
}

impl Default for BinLimits {
    fn default() -> Self {
        BinLimits {
            distance_m: vec![20.0, 40.0],
            area_px2: [32.0 * 32.0, 96.0 * 96.0],
            visibility: ["v0-40", "v40-60", "v60-80", "v80-100"]
                .map(String::from)
                .to_vec(),
        }
    }
}

const UNKNOWN: &str = "unknown";

impl BinLimits {
    fn distance_labels(&self) -> Vec<String> {
        let mut edges = vec![0.0];
        edges.extend(&self.distance_m);
        let mut labels: Vec<String> = edges
            .windows(2)
            .map(|w| format!("{}-{} m", w[0], w[1]))
            .collect();
        labels.push(format!("{}+ m", edges[edges.len() - 1]));
        labels.push(UNKNOWN.into());
        labels
    }

    fn distance_bin(&self, d: Option<f64>) -> usize {
        match d {
            Some(d) if d.is_finite() => self.distance_m.iter().filter(|&&e| d >= e).count(),
            _ => self.distance_m.len() + 1,
        }
    }

    fn size_labels(&self) -> Vec<String> {
        let [a, b] = self.area_px2;
        vec![
            format!("small (<{a})"),
            format!("medium ({a}-{b})"),
            format!("large (>={b})"),
        ]
    }

    fn size_bin(&self, area: f64) -> usize {
        self.area_px2.iter().filter(|&&e| area >= e).count()
    }

    fn visibility_labels(&self) -> Vec<String> {
        let mut labels = self.visibility.clone();
        labels.push(UNKNOWN.into());
        labels
    }

    fn visibility_bin(&self, v: Option<&str>) -> usize {
        v.and_then(|v| self.visibility.iter().position(|l| l == v))
            .unwrap_or(self.visibility.len())
    }
}

/// Which bin of an axis an object falls in.
type BinOf<'a> = Box<dyn Fn(&GtObject) -> usize + 'a>;

/// Recall per distance, size and visibility bin.
pub fn recall_bins(gt: &GroundTruth, greedy: &GreedyResult, limits: &BinLimits) -> Vec<BinAxis> {
    let axes: [(&str, Vec<String>, BinOf); 3] = [
        (
            "distance",
            limits.distance_labels(),
            Box::new(|o: &GtObject| limits.distance_bin(o.distance_m)),
        ),
        (
            "size",
            limits.size_labels(),
            Box::new(|o: &GtObject| limits.size_bin(o.area)),
        ),
        (
            "visibility",
            limits.visibility_labels(),
            Box::new(|o: &GtObject| limits.visibility_bin(o.visibility.as_deref())),
        ),
    ];
    axes.into_iter()
        .map(|(axis, labels, bin_of)| BinAxis {
            axis: axis.into(),
            bins: axis_bins(gt, greedy, &labels, &*bin_of),
        })
        .collect()
}

fn axis_bins(
    gt: &GroundTruth,
    greedy: &GreedyResult,
    labels: &[String],
    bin_of: &dyn Fn(&GtObject) -> usize,
) -> Vec<Bin> {
    let n_class = gt.categories.len();
    // [bin][class] (gt, matched); the last class slot is "all".
    let mut counts = vec![vec![(0usize, 0usize); n_class + 1]; labels.len()];
    for (o, m) in gt.objects.iter().zip(&greedy.gt_match) {
        if o.iscrowd {
            continue;
        }
        let b = bin_of(o).min(labels.len() - 1);
        let hit = usize::from(m.is_some());
        if let Some(k) = gt.categories.iter().position(|c| c.id == o.category_id) {
            counts[b][k].0 += 1;
            counts[b][k].1 += hit;
        }
        counts[b][n_class].0 += 1;
        counts[b][n_class].1 += hit;
    }
    let count = |(g, m): (usize, usize)| BinCount {
        gt: g,
        matched: m,
        recall: ratio(m, g),
    };
    labels
        .iter()
        .zip(counts)
        .map(|(label, row)| Bin {
            bin: label.clone(),
            all: count(row[n_class]),
            per_class: gt
                .categories
                .iter()
                .zip(&row)
                .map(|(c, &cnt)| ClassBin {
                    class: c.name.clone(),
                    count: count(cnt),
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::data::{Category, Detection, Image};
    use crate::eval::metrics::{IouKind, ScoreGate, evaluate_greedy};

    #[test]
    fn objects_fall_in_half_open_bins() {
        let limits = BinLimits::default();
        assert_eq!(limits.distance_bin(Some(0.0)), 0);
        assert_eq!(limits.distance_bin(Some(20.0)), 1);
        assert_eq!(limits.distance_bin(Some(39.9)), 1);
        assert_eq!(limits.distance_bin(Some(40.0)), 2);
        assert_eq!(limits.distance_bin(None), 3);
        assert_eq!(limits.size_bin(1023.0), 0);
        assert_eq!(limits.size_bin(1024.0), 1);
        assert_eq!(limits.size_bin(9216.0), 2);
        assert_eq!(limits.visibility_bin(Some("v40-60")), 1);
        assert_eq!(limits.visibility_bin(Some("v999")), 4);
        assert_eq!(limits.distance_labels()[2], "40+ m");
    }

    #[test]
    fn recall_per_bin_and_class() {
        let mk = |id: i64, d: f64, w: f64| GtObject {
            id,
            image_id: 1,
            category_id: 1,
            bbox: [id as f64 * 200.0, 0.0, w, w],
            area: w * w,
            iscrowd: false,
            mask: None,
            distance_m: Some(d),
            visibility: Some("v80-100".into()),
            source: None,
        };
        let gt = GroundTruth {
            images: vec![Image {
                id: 1,
                file_name: "a".into(),
                width: 1600,
                height: 900,
            }],
            categories: vec![
                Category {
                    id: 1,
                    name: "car".into(),
                },
                Category {
                    id: 2,
                    name: "bus".into(),
                },
            ],
            objects: vec![mk(0, 10.0, 100.0), mk(1, 50.0, 10.0), mk(2, 55.0, 12.0)],
        };
        let dets = vec![Detection::from_box(1, 1, gt.objects[0].bbox, 0.9)];
        let greedy = evaluate_greedy(&gt, &dets, IouKind::Bbox, 0.5, &ScoreGate::all(0.0));
        let axes = recall_bins(&gt, &greedy, &BinLimits::default());
        let distance = &axes[0];
        assert_eq!(distance.bins.len(), 4);
        assert_eq!(distance.bins[0].all.recall, Some(1.0));
        assert_eq!(distance.bins[1].all.gt, 0);
        assert_eq!(distance.bins[1].all.recall, None);
        assert_eq!(
            (distance.bins[2].all.gt, distance.bins[2].all.matched),
            (2, 0)
        );
        assert_eq!(distance.bins[2].per_class[1].count.gt, 0, "bus row kept");
        let size = &axes[1];
        assert_eq!(size.bins[0].all.gt, 2);
        assert_eq!(size.bins[2].all.recall, Some(1.0));
        assert_eq!(axes[2].bins[3].all.gt, 3);
    }
}

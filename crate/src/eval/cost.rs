//! Cost per label, automatic versus manual, and what a fleet's driving costs
//! to label. Every assumption is a named field of `CostModel` (plain JSON, so
//! it is edited without recompiling); the defaults and their sources are in
//! `docs/cost-model.md`.
//!
//! Per frame of `n` true objects (`labels_per_frame`), with the evaluated
//! recall `r` and precision `p` of a class:
//!
//! ```text
//! manual $/label = manual price of the label kind × labelers per item
//! auto   $/frame = GPU $/h ÷ 3600 ÷ frames/s                   (inference)
//!                + qa_fraction × predictions × QA $/label      (review; predictions = n·r/p)
//!                + n·(1 − r) × manual $/label                  (misses drawn by hand)
//! auto   $/label = auto $/frame ÷ n
//! ratio          = manual $/label ÷ auto $/label
//! fleet frames   = hours × 3600 × labelled frames/s × cameras; labels = frames × n
//! ```
//!
//! Deleting a false positive is part of reviewing it (the QA price). Misses are
//! assumed found and drawn in review; with `qa_fraction` < 1 that is optimistic.

use serde::{Deserialize, Serialize};

use super::metrics::ClassCounts;

/// What is labelled: the manual price differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabelKind {
    Box2d,
    Polygon,
    Cuboid,
}

/// The assumptions of the cost table. Prices in US dollars.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CostModel {
    /// Manual price of one 2D box.
    pub manual_box_usd: f64,
    /// Manual price of one polygon (instance outline).
    pub manual_polygon_usd: f64,
    /// Manual price of one 3D cuboid.
    pub manual_cuboid_usd: f64,
    /// Human labelers per item (list prices are per labeler).
    pub labelers_per_item: f64,
    /// Which label the comparison is for.
    pub label_kind: LabelKind,
    /// Fraction of automatic labels a human reviews (0–1).
    pub qa_fraction: f64,
    /// Price of reviewing (accepting, fixing or deleting) one automatic label.
    pub qa_usd_per_label: f64,
    /// GPU rental, per hour.
    pub gpu_usd_per_hour: f64,
    /// Pipeline throughput on that GPU, frames per second (replace with a
    /// measured run).
    pub throughput_frames_per_s: f64,
    /// True objects per frame; `None`: taken from the evaluated ground truth.
    pub labels_per_frame: Option<f64>,
    /// Hours of driving to label.
    pub fleet_hours: f64,
    /// Frames labelled per second of driving, per camera.
    pub labelled_frames_per_s: f64,
    /// Cameras labelled per vehicle.
    pub cameras: f64,
}

impl Default for CostModel {
    /// The defaults of `docs/cost-model.md`.
    fn default() -> Self {
        CostModel {
            manual_box_usd: 0.063,
            manual_polygon_usd: 0.257,
            manual_cuboid_usd: 0.252,
            labelers_per_item: 1.0,
            label_kind: LabelKind::Box2d,
            qa_fraction: 1.0,
            qa_usd_per_label: 0.015,
            gpu_usd_per_hour: 1.006,
            throughput_frames_per_s: 1.0,
            labels_per_frame: None,
            fleet_hours: 1000.0,
            labelled_frames_per_s: 2.0,
            cameras: 6.0,
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostRow {
    pub class: String,
    pub recall: Option<f64>,
    pub precision: Option<f64>,
    pub manual_usd_per_label: f64,
    /// `None` when the class cannot be costed (no ground truth, nothing found).
    pub auto_usd_per_label: Option<f64>,
    /// Split of `auto_usd_per_label`: inference, review, misses drawn by hand.
    pub auto_gpu_usd_per_label: Option<f64>,
    pub auto_qa_usd_per_label: Option<f64>,
    pub auto_redraw_usd_per_label: Option<f64>,
    /// Manual ÷ automatic: how many times cheaper the automatic route is.
    pub ratio: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FleetTotals {
    pub hours: f64,
    pub frames: f64,
    pub labels: f64,
    pub manual_usd: f64,
    pub auto_usd: Option<f64>,
    pub saving_usd: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostTable {
    /// The model the table was computed with.
    pub model: CostModel,
    /// The labels per frame used (the model's, or measured).
    pub labels_per_frame: f64,
    /// All classes together first, then per class.
    pub rows: Vec<CostRow>,
    /// Fleet totals at the all-classes rates.
    pub fleet: FleetTotals,
}

impl CostModel {
    /// Manual price of one label of the chosen kind.
    pub fn manual_usd_per_label(&self) -> f64 {
        let price = match self.label_kind {
            LabelKind::Box2d => self.manual_box_usd,
            LabelKind::Polygon => self.manual_polygon_usd,
            LabelKind::Cuboid => self.manual_cuboid_usd,
        };
        price * self.labelers_per_item
    }

    /// One row from recall and precision at `n` objects per frame.
    fn row(&self, class: &str, recall: Option<f64>, precision: Option<f64>, n: f64) -> CostRow {
        let manual = self.manual_usd_per_label();
        let split = match (recall, precision) {
            (Some(r), Some(p)) if n > 0.0 && p > 0.0 && self.throughput_frames_per_s > 0.0 => {
                let gpu = self.gpu_usd_per_hour / 3600.0 / self.throughput_frames_per_s / n;
                let qa = self.qa_fraction * (r / p) * self.qa_usd_per_label;
                let redraw = (1.0 - r) * manual;
                Some((gpu, qa, redraw))
            }
            // Nothing found at all: every label drawn by hand.
            (Some(r), None) if r == 0.0 && n > 0.0 => Some((0.0, 0.0, manual)),
            _ => None,
        };
        let auto = split.map(|(g, q, r)| g + q + r);
        CostRow {
            class: class.to_string(),
            recall,
            precision,
            manual_usd_per_label: manual,
            auto_usd_per_label: auto,
            auto_gpu_usd_per_label: split.map(|s| s.0),
            auto_qa_usd_per_label: split.map(|s| s.1),
            auto_redraw_usd_per_label: split.map(|s| s.2),
            ratio: auto.filter(|&a| a > 0.0).map(|a| manual / a),
        }
    }

    /// The table for the evaluated classes; `frames` and `overall.gt` give the
    /// measured labels per frame when the model has none.
    pub fn table(
        &self,
        per_class: &[ClassCounts],
        overall: &ClassCounts,
        frames: usize,
    ) -> CostTable {
        let n = self
            .labels_per_frame
            .unwrap_or_else(|| overall.gt as f64 / frames.max(1) as f64);
        let mut rows = vec![self.row("all", overall.recall, overall.precision, n)];
        rows.extend(per_class.iter().map(|c| {
            // A class's own objects per frame, for its share of the GPU cost.
            let share = if overall.gt > 0 {
                n * c.gt as f64 / overall.gt as f64
            } else {
                0.0
            };
            self.row(&c.class, c.recall, c.precision, share)
        }));
        let frames = self.fleet_hours * 3600.0 * self.labelled_frames_per_s * self.cameras;
        let labels = frames * n;
        let manual_usd = labels * self.manual_usd_per_label();
        let auto_usd = rows[0].auto_usd_per_label.map(|a| a * labels);
        CostTable {
            model: self.clone(),
            labels_per_frame: n,
            fleet: FleetTotals {
                hours: self.fleet_hours,
                frames,
                labels,
                manual_usd,
                auto_usd,
                saving_usd: auto_usd.map(|a| manual_usd - a),
            },
            rows,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(class: &str, gt: usize, tp: usize, fp: usize) -> ClassCounts {
        ClassCounts {
            class: class.into(),
            category_id: None,
            gt,
            predictions: tp + fp,
            tp,
            fp,
            fn_: gt - tp,
            precision: (tp + fp > 0).then(|| tp as f64 / (tp + fp) as f64),
            recall: (gt > 0).then(|| tp as f64 / gt as f64),
        }
    }

    #[test]
    fn the_formula_by_hand() {
        let model = CostModel {
            gpu_usd_per_hour: 3.6,
            throughput_frames_per_s: 1.0,
            qa_usd_per_label: 0.01,
            manual_box_usd: 0.1,
            ..CostModel::default()
        };
        // 10 objects per frame, recall 0.8, precision 0.8 → 10 predictions.
        let all = counts("all", 100, 80, 20);
        let t = model.table(std::slice::from_ref(&all), &all, 10);
        assert_eq!(t.labels_per_frame, 10.0);
        let r = &t.rows[0];
        let gpu = 3.6 / 3600.0 / 10.0;
        let qa = 1.0 * 0.01;
        let redraw = 0.2 * 0.1;
        assert!((r.auto_usd_per_label.unwrap() - (gpu + qa + redraw)).abs() < 1e-12);
        assert!((r.ratio.unwrap() - 0.1 / (gpu + qa + redraw)).abs() < 1e-9);
        assert_eq!(t.fleet.frames, 1000.0 * 3600.0 * 2.0 * 6.0);
        assert!((t.fleet.manual_usd - t.fleet.labels * 0.1).abs() < 1e-6);
    }

    #[test]
    fn classes_without_ground_truth_are_not_costed() {
        let light = counts("traffic light", 0, 0, 3);
        let all = counts("all", 10, 8, 3);
        let t = CostModel::default().table(&[light], &all, 5);
        assert_eq!(t.rows[1].auto_usd_per_label, None);
        assert_eq!(t.rows[1].ratio, None);
        let missed_all = counts("bus", 4, 0, 0);
        let t = CostModel::default().table(&[missed_all], &all, 5);
        assert_eq!(t.rows[1].auto_usd_per_label, Some(0.063));
        assert_eq!(t.rows[1].ratio, Some(1.0));
    }

    #[test]
    fn the_model_is_editable_json() {
        let json = serde_json::to_string(&CostModel::default()).unwrap();
        assert!(json.contains("\"manual_box_usd\":0.063"));
        let edited = json.replace("\"cameras\":6.0", "\"cameras\":1.0");
        let m: CostModel = serde_json::from_str(&edited).unwrap();
        assert_eq!(m.cameras, 1.0);
    }
}

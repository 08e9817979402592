//! The verdict: one generated sentence from the per-class precision and
//! recall, "reliable for X (P ≥ …, R ≥ …); usable with QA for Y (P ≥ …,
//! R ≥ …); keep humans on Z", with the thresholds as named parameters. A class
//! with too little ground truth to judge is said so, never counted as good.

use serde::{Deserialize, Serialize};

use super::metrics::ClassCounts;

/// The thresholds of the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VerdictThresholds {
    /// Reliable: precision and recall at least these.
    pub reliable_precision: f64,
    pub reliable_recall: f64,
    /// Usable with human QA: at least these.
    pub usable_precision: f64,
    pub usable_recall: f64,
    /// Fewer ground truth objects than this: not judged.
    pub min_gt: usize,
}

impl Default for VerdictThresholds {
    fn default() -> Self {
        VerdictThresholds {
            reliable_precision: 0.9,
            reliable_recall: 0.8,
            usable_precision: 0.6,
            usable_recall: 0.5,
            min_gt: 10,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Reliable,
    UsableWithQa,
    KeepHumans,
    NotEnoughGroundTruth,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassGrade {
    pub class: String,
    pub grade: Grade,
    pub gt: usize,
    pub precision: Option<f64>,
    pub recall: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub thresholds: VerdictThresholds,
    pub classes: Vec<ClassGrade>,
    /// The generated statement.
    pub statement: String,
}

fn grade(c: &ClassCounts, t: &VerdictThresholds) -> Grade {
    if c.gt < t.min_gt {
        return Grade::NotEnoughGroundTruth;
    }
    let p = c.precision.unwrap_or(0.0);
    let r = c.recall.unwrap_or(0.0);
    if p >= t.reliable_precision && r >= t.reliable_recall {
        Grade::Reliable
    } else if p >= t.usable_precision && r >= t.usable_recall {
        Grade::UsableWithQa
    } else {
        Grade::KeepHumans
    }
}

/// Grades every class and writes the statement.
pub fn verdict(per_class: &[ClassCounts], thresholds: &VerdictThresholds) -> Verdict {
    let classes: Vec<ClassGrade> = per_class
        .iter()
        .map(|c| ClassGrade {
            class: c.class.clone(),
            grade: grade(c, thresholds),
            gt: c.gt,
            precision: c.precision,
            recall: c.recall,
        })
        .collect();
    let names = |g: Grade| -> Vec<&str> {
        classes
            .iter()
            .filter(|c| c.grade == g)
            .map(|c| c.class.as_str())
            .collect()
    };
    let t = thresholds;
    let mut parts = Vec::new();
    let reliable = names(Grade::Reliable);
    if !reliable.is_empty() {
        parts.push(format!(
            "reliable for {} (P ≥ {}, R ≥ {})",
            list(&reliable),
            t.reliable_precision,
            t.reliable_recall
        ));
    }
    let usable = names(Grade::UsableWithQa);
    if !usable.is_empty() {
        parts.push(format!(
            "usable with QA for {} (P ≥ {}, R ≥ {})",
            list(&usable),
            t.usable_precision,
            t.usable_recall
        ));
    }
    let humans = names(Grade::KeepHumans);
    if !humans.is_empty() {
        parts.push(format!("keep humans on {}", list(&humans)));
    }
    let unjudged = names(Grade::NotEnoughGroundTruth);
    if !unjudged.is_empty() {
        parts.push(format!(
            "not judged, fewer than {} ground-truth objects: {}",
            t.min_gt,
            list(&unjudged)
        ));
    }
    let mut statement = parts.join("; ");
    if let Some(first) = statement.get(..1) {
        statement = first.to_uppercase() + &statement[1..];
    }
    statement.push('.');
    Verdict {
        thresholds: thresholds.clone(),
        classes,
        statement,
    }
}

/// `a`, `a and b`, `a, b and c`.
fn list(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(class: &str, gt: usize, p: f64, r: f64) -> ClassCounts {
        ClassCounts {
            class: class.into(),
            category_id: None,
            gt,
            predictions: 0,
            tp: 0,
            fp: 0,
            fn_: 0,
            precision: Some(p),
            recall: Some(r),
        }
    }

    #[test]
    fn the_statement_is_generated_from_the_thresholds() {
        let v = verdict(
            &[
                c("car", 100, 0.95, 0.9),
                c("bus", 20, 0.92, 0.85),
                c("truck", 30, 0.7, 0.6),
                c("pedestrian", 40, 0.5, 0.3),
                c("traffic light", 0, 0.0, 0.0),
            ],
            &VerdictThresholds::default(),
        );
        assert_eq!(
            v.statement,
            "Reliable for car and bus (P ≥ 0.9, R ≥ 0.8); usable with QA for truck (P ≥ 0.6, R ≥ 0.5); \
             keep humans on pedestrian; not judged, fewer than 10 ground-truth objects: traffic light."
        );
        let strict = VerdictThresholds {
            reliable_precision: 0.99,
            ..VerdictThresholds::default()
        };
        let v = verdict(&[c("car", 100, 0.95, 0.9)], &strict);
        assert_eq!(v.statement, "Usable with QA for car (P ≥ 0.6, R ≥ 0.5).");
    }
}

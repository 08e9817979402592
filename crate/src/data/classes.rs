//! The mapping from the 23 nuScenes categories to the prompt classes the
//! detector is asked for.
//!
//! The default table (`ClassMap::nuscenes_default`) maps onto the seven default
//! prompt classes `car, truck, bus, pedestrian, cyclist, traffic light, traffic sign`.
//! nuScenes annotates no traffic lights or signs, so those classes have no ground
//! truth: reports show them as 0 GT, never hide them. Every category is listed,
//! mapped or explicitly ignored (`class: null`); a category missing from the table
//! is an error, so a new taxonomy cannot be silently dropped. The table is plain
//! JSON (`ClassMap` serialises), so users edit it without recompiling.

use serde::{Deserialize, Serialize};

/// The 23 categories of the nuScenes detection taxonomy (v1.0).
pub const NUSCENES_CATEGORIES: [&str; 23] = [
    "animal",
    "human.pedestrian.adult",
    "human.pedestrian.child",
    "human.pedestrian.construction_worker",
    "human.pedestrian.personal_mobility",
    "human.pedestrian.police_officer",
    "human.pedestrian.stroller",
    "human.pedestrian.wheelchair",
    "movable_object.barrier",
    "movable_object.debris",
    "movable_object.pushable_pullable",
    "movable_object.trafficcone",
    "static_object.bicycle_rack",
    "vehicle.bicycle",
    "vehicle.bus.bendy",
    "vehicle.bus.rigid",
    "vehicle.car",
    "vehicle.construction",
    "vehicle.emergency.ambulance",
    "vehicle.emergency.police",
    "vehicle.motorcycle",
    "vehicle.trailer",
    "vehicle.truck",
];

/// One line of the table: annotations of `category` count as `class`
/// (`None`: ignored), optionally only when they carry `requires_attribute`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CategoryRule {
    pub category: String,
    pub class: Option<String>,
    /// An attribute name (e.g. `cycle.with_rider`) the annotation must have for
    /// this rule to apply. Rules of a category are tried in order; when none
    /// applies the annotation is ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requires_attribute: Option<String>,
    /// Why the category maps the way it does.
    #[serde(default)]
    pub note: String,
}

/// Prompt classes and the category rules that feed them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMap {
    /// The prompt classes, in prompt order.
    pub classes: Vec<String>,
    pub rules: Vec<CategoryRule>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClassMapError {
    #[error(
        "category '{0}' is not in the class table: add a rule for it (map it to a class or to null)"
    )]
    UnknownCategory(String),
    #[error(
        "class table: rule for '{category}' maps to '{class}', which is not one of the prompt classes {classes:?}"
    )]
    UnknownClass {
        category: String,
        class: String,
        classes: Vec<String>,
    },
}

/// What the table says about one annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapped<'a> {
    Class(&'a str),
    Ignored,
}

fn rule(category: &str, class: Option<&str>, requires: Option<&str>, note: &str) -> CategoryRule {
    CategoryRule {
        category: category.to_string(),
        class: class.map(str::to_string),
        requires_attribute: requires.map(str::to_string),
        note: note.to_string(),
    }
}

impl ClassMap {
    /// The seven default prompt classes and a rule for each of the 23 categories.
    pub fn nuscenes_default() -> Self {
        let classes = [
            "car",
            "truck",
            "bus",
            "pedestrian",
            "cyclist",
            "traffic light",
            "traffic sign",
        ];
        let ped = "a person on foot";
        let rules = vec![
            rule("animal", None, None, "not a prompt class"),
            rule("human.pedestrian.adult", Some("pedestrian"), None, ped),
            rule("human.pedestrian.child", Some("pedestrian"), None, ped),
            rule(
                "human.pedestrian.construction_worker",
                Some("pedestrian"),
                None,
                ped,
            ),
            rule(
                "human.pedestrian.personal_mobility",
                None,
                None,
                "scooters, skateboards: neither pedestrian nor cyclist",
            ),
            rule(
                "human.pedestrian.police_officer",
                Some("pedestrian"),
                None,
                ped,
            ),
            rule(
                "human.pedestrian.stroller",
                None,
                None,
                "the stroller, not the person pushing it",
            ),
            rule(
                "human.pedestrian.wheelchair",
                None,
                None,
                "the wheelchair, not a walking person",
            ),
            rule("movable_object.barrier", None, None, "not a prompt class"),
            rule("movable_object.debris", None, None, "not a prompt class"),
            rule(
                "movable_object.pushable_pullable",
                None,
                None,
                "not a prompt class",
            ),
            rule(
                "movable_object.trafficcone",
                None,
                None,
                "not a prompt class",
            ),
            rule(
                "static_object.bicycle_rack",
                None,
                None,
                "not a prompt class",
            ),
            rule(
                "vehicle.bicycle",
                Some("cyclist"),
                Some("cycle.with_rider"),
                "nuScenes boxes a ridden bicycle with its rider",
            ),
            rule(
                "vehicle.bicycle",
                None,
                None,
                "a parked bicycle is not a cyclist",
            ),
            rule("vehicle.bus.bendy", Some("bus"), None, "articulated bus"),
            rule("vehicle.bus.rigid", Some("bus"), None, "bus"),
            rule(
                "vehicle.car",
                Some("car"),
                None,
                "cars, vans, SUVs, pick-ups",
            ),
            rule(
                "vehicle.construction",
                Some("truck"),
                None,
                "heavy construction machines look like trucks to a detector",
            ),
            rule(
                "vehicle.emergency.ambulance",
                Some("truck"),
                None,
                "box-bodied ambulances",
            ),
            rule("vehicle.emergency.police", Some("car"), None, "police cars"),
            rule(
                "vehicle.motorcycle",
                Some("cyclist"),
                Some("cycle.with_rider"),
                "a ridden motorcycle with its rider",
            ),
            rule(
                "vehicle.motorcycle",
                None,
                None,
                "a parked motorcycle is not a cyclist",
            ),
            rule(
                "vehicle.trailer",
                Some("truck"),
                None,
                "trailers are towed by trucks",
            ),
            rule("vehicle.truck", Some("truck"), None, "trucks"),
        ];
        ClassMap {
            classes: classes.iter().map(|c| c.to_string()).collect(),
            rules,
        }
    }

    /// Checks that every rule targets a prompt class.
    pub fn validate(&self) -> Result<(), ClassMapError> {
        for r in &self.rules {
            if let Some(class) = &r.class
                && !self.classes.contains(class)
            {
                return Err(ClassMapError::UnknownClass {
                    category: r.category.clone(),
                    class: class.clone(),
                    classes: self.classes.clone(),
                });
            }
        }
        Ok(())
    }

    /// The class of an annotation of `category` carrying the named `attributes`.
    pub fn map<'a>(
        &'a self,
        category: &str,
        attributes: &[&str],
    ) -> Result<Mapped<'a>, ClassMapError> {
        let mut rules = self
            .rules
            .iter()
            .filter(|r| r.category == category)
            .peekable();
        if rules.peek().is_none() {
            return Err(ClassMapError::UnknownCategory(category.to_string()));
        }
        let applies = |r: &&CategoryRule| {
            r.requires_attribute
                .as_deref()
                .is_none_or(|a| attributes.contains(&a))
        };
        Ok(match rules.find(applies).and_then(|r| r.class.as_deref()) {
            Some(class) => Mapped::Class(class),
            None => Mapped::Ignored,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_category_has_a_rule_and_every_rule_a_class() {
        let map = ClassMap::nuscenes_default();
        map.validate().unwrap();
        for cat in NUSCENES_CATEGORIES {
            assert!(map.map(cat, &[]).is_ok(), "{cat}");
        }
        assert_eq!(map.classes.len(), 7);
    }

    #[test]
    fn cycles_need_a_rider() {
        let map = ClassMap::nuscenes_default();
        assert_eq!(
            map.map("vehicle.bicycle", &["cycle.with_rider"]),
            Ok(Mapped::Class("cyclist"))
        );
        assert_eq!(
            map.map("vehicle.bicycle", &["cycle.without_rider"]),
            Ok(Mapped::Ignored)
        );
        assert_eq!(map.map("vehicle.car", &[]), Ok(Mapped::Class("car")));
        assert_eq!(map.map("animal", &[]), Ok(Mapped::Ignored));
    }

    #[test]
    fn unknown_categories_and_classes_are_errors() {
        let mut map = ClassMap::nuscenes_default();
        assert_eq!(
            map.map("vehicle.hovercraft", &[]),
            Err(ClassMapError::UnknownCategory("vehicle.hovercraft".into()))
        );
        map.rules
            .push(rule("vehicle.hovercraft", Some("boat"), None, ""));
        assert!(matches!(
            map.validate(),
            Err(ClassMapError::UnknownClass { .. })
        ));
    }

    #[test]
    fn the_table_round_trips_through_json() {
        let map = ClassMap::nuscenes_default();
        let json = serde_json::to_string(&map).unwrap();
        assert_eq!(serde_json::from_str::<ClassMap>(&json).unwrap(), map);
    }
}

//! The annotations of one slide with their classes, and every edit as an undoable step. Each edit
//! also yields the [`Change`]s the store must persist, so what is on screen and what is on disk
//! move together. Pure.

use serde::{Deserialize, Serialize};

use super::shape::Shape;

/// An annotation class (QuPath's "classification"): a name and a colour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Class {
    pub name: String,
    pub color: [u8; 3],
}

/// The classes a new user starts with (colours as QuPath's defaults where it has the class).
pub fn default_classes() -> Vec<Class> {
    [
        ("Tumor", [200, 0, 0]),
        ("Stroma", [150, 200, 150]),
        ("Necrosis", [50, 50, 50]),
        ("Lymphocytes", [160, 90, 160]),
        ("Other", [255, 200, 0]),
    ]
    .into_iter()
    .map(|(name, color)| Class {
        name: name.into(),
        color,
    })
    .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// A UUID, as QuPath gives its objects.
    pub id: String,
    /// Checked on the way in: the store and review bundles hold no shape the app could not make.
    #[serde(deserialize_with = "Shape::deserialize_checked")]
    pub shape: Shape,
    /// Class name; `None` is unclassified.
    pub class: Option<String>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub comment: String,
}

impl Annotation {
    pub fn new(shape: Shape, class: Option<String>) -> Self {
        Self {
            id: new_id(),
            shape,
            class,
            name: String::new(),
            comment: String::new(),
        }
    }
}

/// A random (version 4) UUID.
pub fn new_id() -> String {
    let mut b: [u8; 16] = fastrand::u128(..).to_le_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex =
        |r: std::ops::Range<usize>| -> String { b[r].iter().map(|x| format!("{x:02x}")).collect() };
    format!(
        "{}-{}-{}-{}-{}",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    )
}

/// One undoable edit.
#[derive(Debug, Clone, PartialEq)]
pub enum Edit {
    /// Annotations added (drawn, duplicated, imported).
    Add(Vec<Annotation>),
    /// Annotations deleted (kept whole so undo restores them).
    Remove(Vec<Annotation>),
    /// One annotation changed (moved, reshaped, reclassified, renamed).
    Change {
        before: Box<Annotation>,
        after: Box<Annotation>,
    },
    /// The class list changed.
    Classes {
        before: Vec<Class>,
        after: Vec<Class>,
    },
}

impl Edit {
    fn inverse(&self) -> Edit {
        match self {
            Edit::Add(a) => Edit::Remove(a.clone()),
            Edit::Remove(a) => Edit::Add(a.clone()),
            Edit::Change { before, after } => Edit::Change {
                before: after.clone(),
                after: before.clone(),
            },
            Edit::Classes { before, after } => Edit::Classes {
                before: after.clone(),
                after: before.clone(),
            },
        }
    }
}

/// What the store must write after an edit.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Upsert(Annotation),
    Delete(String),
    Classes(Vec<Class>),
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum EditError {
    #[error("no annotation with id {0}")]
    Missing(String),
    #[error("an annotation with id {0} already exists")]
    Duplicate(String),
}

/// The annotations of one slide, in drawing order, with undo and redo.
#[derive(Debug, Clone, Default)]
pub struct Document {
    items: Vec<Annotation>,
    classes: Vec<Class>,
    undo: Vec<Edit>,
    redo: Vec<Edit>,
}

impl Document {
    pub fn new(items: Vec<Annotation>, classes: Vec<Class>) -> Self {
        Self {
            items,
            classes,
            undo: Vec::new(),
            redo: Vec::new(),
        }
    }

    pub fn items(&self) -> &[Annotation] {
        &self.items
    }

    pub fn classes(&self) -> &[Class] {
        &self.classes
    }

    pub fn get(&self, id: &str) -> Option<&Annotation> {
        self.items.iter().find(|a| a.id == id)
    }

    pub fn class(&self, name: &str) -> Option<&Class> {
        self.classes.iter().find(|c| c.name == name)
    }

    pub fn can_undo(&self) -> bool {
        !self.undo.is_empty()
    }

    pub fn can_redo(&self) -> bool {
        !self.redo.is_empty()
    }

    /// Applies `edit`, records it for undo (clearing redo) and returns what to persist.
    pub fn apply(&mut self, edit: Edit) -> Result<Vec<Change>, EditError> {
        let changes = self.perform(&edit)?;
        self.undo.push(edit);
        self.redo.clear();
        Ok(changes)
    }

    /// Undoes the last edit; `None` when there is nothing to undo.
    pub fn undo(&mut self) -> Option<Vec<Change>> {
        let edit = self.undo.pop()?;
        let changes = self.perform(&edit.inverse()).ok()?;
        self.redo.push(edit);
        Some(changes)
    }

    pub fn redo(&mut self) -> Option<Vec<Change>> {
        let edit = self.redo.pop()?;
        let changes = self.perform(&edit).ok()?;
        self.undo.push(edit);
        Some(changes)
    }

    fn perform(&mut self, edit: &Edit) -> Result<Vec<Change>, EditError> {
        match edit {
            Edit::Add(list) => {
                for a in list {
                    if self.get(&a.id).is_some() {
                        return Err(EditError::Duplicate(a.id.clone()));
                    }
                }
                self.items.extend(list.iter().cloned());
                Ok(list.iter().cloned().map(Change::Upsert).collect())
            }
            Edit::Remove(list) => {
                for a in list {
                    if self.get(&a.id).is_none() {
                        return Err(EditError::Missing(a.id.clone()));
                    }
                }
                self.items.retain(|x| !list.iter().any(|a| a.id == x.id));
                Ok(list.iter().map(|a| Change::Delete(a.id.clone())).collect())
            }
            Edit::Change { before, after } => {
                let slot = self
                    .items
                    .iter_mut()
                    .find(|x| x.id == before.id)
                    .ok_or_else(|| EditError::Missing(before.id.clone()))?;
                *slot = (**after).clone();
                Ok(vec![Change::Upsert((**after).clone())])
            }
            Edit::Classes { after, .. } => {
                self.classes = after.clone();
                Ok(vec![Change::Classes(after.clone())])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rect(x: f64) -> Annotation {
        Annotation::new(
            Shape::rectangle([x, 0.0], [x + 10.0, 10.0]),
            Some("Tumor".into()),
        )
    }

    #[test]
    fn ids_are_distinct_v4_uuids() {
        let (a, b) = (new_id(), new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 36);
        assert_eq!(a.chars().nth(14), Some('4'));
        assert!(matches!(a.chars().nth(19), Some('8' | '9' | 'a' | 'b')));
        assert_eq!(
            a.char_indices()
                .filter(|(_, c)| *c == '-')
                .map(|(i, _)| i)
                .collect::<Vec<_>>(),
            [8, 13, 18, 23]
        );
    }

    #[test]
    fn undo_and_redo_walk_a_sequence_of_edits() {
        let mut d = Document::new(Vec::new(), default_classes());
        let (a, b) = (rect(0.0), rect(100.0));
        d.apply(Edit::Add(vec![a.clone()])).expect("valid");
        d.apply(Edit::Add(vec![b.clone()])).expect("valid");
        let mut moved = b.clone();
        moved.shape.translate([5.0, 5.0]);
        let changes = d
            .apply(Edit::Change {
                before: Box::new(b.clone()),
                after: Box::new(moved.clone()),
            })
            .expect("valid");
        assert_eq!(changes, vec![Change::Upsert(moved.clone())]);
        d.apply(Edit::Remove(vec![a.clone()])).expect("valid");
        assert_eq!(d.items(), [moved.clone()]);

        assert_eq!(d.undo(), Some(vec![Change::Upsert(a.clone())]));
        assert_eq!(d.items(), [moved.clone(), a.clone()]);
        assert_eq!(d.undo(), Some(vec![Change::Upsert(b.clone())]));
        assert_eq!(d.get(&b.id), Some(&b));
        d.undo();
        d.undo();
        assert!(d.items().is_empty());
        assert_eq!(d.undo(), None);
        assert!(d.can_redo());
        d.redo();
        d.redo();
        d.redo();
        assert_eq!(d.get(&b.id), Some(&moved));
        // A new edit drops the redo history.
        d.apply(Edit::Add(vec![rect(200.0)])).expect("valid");
        assert!(!d.can_redo());
        assert_eq!(d.redo(), None);
    }

    #[test]
    fn bad_edits_are_refused_and_change_nothing() {
        let mut d = Document::new(Vec::new(), default_classes());
        let a = rect(0.0);
        d.apply(Edit::Add(vec![a.clone()])).expect("valid");
        assert_eq!(
            d.apply(Edit::Add(vec![a.clone()])),
            Err(EditError::Duplicate(a.id.clone()))
        );
        let ghost = rect(5.0);
        assert_eq!(
            d.apply(Edit::Remove(vec![ghost.clone()])),
            Err(EditError::Missing(ghost.id.clone()))
        );
        assert_eq!(d.items().len(), 1);
        assert_eq!(d.undo(), Some(vec![Change::Delete(a.id.clone())]));
    }
}

//! The annotations of one slide with their classes, and every edit as an undoable step. Each edit
//! also yields the [`Change`]s the store must persist, so what is on screen and what is on disk
//! move together. Pure.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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
///
/// Lookups by id go through an index so documents of detections (100,000 cell outlines) edit in
/// time proportional to the edit, not to the document.
#[derive(Debug, Clone, Default)]
pub struct Document {
    /// Shared with background readers (the dense layer's builder) until the next edit.
    items: Arc<Vec<Annotation>>,
    /// Position of each id in `items`.
    index: HashMap<String, usize>,
    classes: Vec<Class>,
    undo: Vec<Edit>,
    redo: Vec<Edit>,
    revision: u64,
}

/// Revisions are unique across documents, so a cache keyed by one never mistakes a reloaded
/// document for the one it drew.
fn next_revision() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl Document {
    pub fn new(items: Vec<Annotation>, classes: Vec<Class>) -> Self {
        let mut d = Self {
            items: Arc::new(items),
            index: HashMap::new(),
            classes,
            undo: Vec::new(),
            redo: Vec::new(),
            revision: next_revision(),
        };
        d.reindex();
        d
    }

    fn reindex(&mut self) {
        self.index = self
            .items
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.clone(), i))
            .collect();
    }

    pub fn items(&self) -> &[Annotation] {
        &self.items
    }

    /// The annotations as they are now, for a reader on another thread; the next edit copies
    /// them only if this is still held.
    pub fn snapshot(&self) -> Arc<Vec<Annotation>> {
        Arc::clone(&self.items)
    }

    pub fn classes(&self) -> &[Class] {
        &self.classes
    }

    pub fn get(&self, id: &str) -> Option<&Annotation> {
        self.index.get(id).and_then(|&i| self.items.get(i))
    }

    /// Changes whenever the annotations or classes change (and differs between documents).
    pub fn revision(&self) -> u64 {
        self.revision
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
        let changes = match edit {
            Edit::Add(list) => {
                let mut seen = std::collections::HashSet::new();
                for a in list {
                    if self.index.contains_key(&a.id) || !seen.insert(a.id.as_str()) {
                        return Err(EditError::Duplicate(a.id.clone()));
                    }
                }
                let items = Arc::make_mut(&mut self.items);
                for a in list {
                    self.index.insert(a.id.clone(), items.len());
                    items.push(a.clone());
                }
                list.iter().cloned().map(Change::Upsert).collect()
            }
            Edit::Remove(list) => {
                for a in list {
                    if !self.index.contains_key(&a.id) {
                        return Err(EditError::Missing(a.id.clone()));
                    }
                }
                let gone: std::collections::HashSet<&str> =
                    list.iter().map(|a| a.id.as_str()).collect();
                Arc::make_mut(&mut self.items).retain(|x| !gone.contains(x.id.as_str()));
                self.reindex();
                list.iter().map(|a| Change::Delete(a.id.clone())).collect()
            }
            Edit::Change { before, after } => {
                let i = *self
                    .index
                    .get(&before.id)
                    .ok_or_else(|| EditError::Missing(before.id.clone()))?;
                Arc::make_mut(&mut self.items)[i] = (**after).clone();
                if after.id != before.id {
                    self.index.remove(&before.id);
                    self.index.insert(after.id.clone(), i);
                }
                vec![Change::Upsert((**after).clone())]
            }
            Edit::Classes { after, .. } => {
                self.classes = after.clone();
                vec![Change::Classes(after.clone())]
            }
        };
        self.revision = next_revision();
        Ok(changes)
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

    #[test]
    fn ids_are_indexed_through_every_edit_and_each_edit_bumps_the_revision() {
        let mut d = Document::new(vec![rect(0.0), rect(10.0)], default_classes());
        let r0 = d.revision();
        assert_ne!(r0, Document::new(Vec::new(), Vec::new()).revision());
        let many: Vec<Annotation> = (0..2000).map(|i| rect(f64::from(i) * 20.0)).collect();
        d.apply(Edit::Add(many.clone())).expect("valid");
        assert!(d.revision() > r0);
        assert_eq!(d.get(&many[1234].id), Some(&many[1234]));
        // A list holding one id twice is refused whole.
        let twice = rect(5.0);
        assert_eq!(
            d.apply(Edit::Add(vec![twice.clone(), twice.clone()])),
            Err(EditError::Duplicate(twice.id.clone()))
        );
        assert!(d.get(&twice.id).is_none());
        let r1 = d.revision();
        d.apply(Edit::Remove(many[..1000].to_vec())).expect("valid");
        assert_ne!(d.revision(), r1);
        assert!(d.get(&many[999].id).is_none());
        // Positions moved down after the removal: the index follows.
        assert_eq!(d.get(&many[1500].id), Some(&many[1500]));
        let mut moved = many[1999].clone();
        moved.shape.translate([1.0, 1.0]);
        d.apply(Edit::Change {
            before: Box::new(many[1999].clone()),
            after: Box::new(moved.clone()),
        })
        .expect("valid");
        assert_eq!(d.get(&moved.id), Some(&moved));
        d.undo();
        assert_eq!(d.get(&moved.id), Some(&many[1999]));
        d.undo();
        assert_eq!(d.get(&many[0].id), Some(&many[0]));
        assert_eq!(d.items().len(), 2002);
    }
}

//! Hand-over between workstations: a session (or one reader's reads) as one JSON file with a
//! SHA-256 over its content. Import checks the format, the checksum and every attachment's name
//! before anything is written: a truncated, edited or corrupted bundle is refused with the reason,
//! and an attachment can only ever land inside the session's folder in the data directory.
//!
//! The checksum detects damage and casual edits, not a forger who recomputes it: bundles travel
//! between colleagues' workstations, not across a trust boundary.
//!
//! It covers bytes, never structs: version 2 embeds the payload as raw JSON and hashes exactly
//! those bytes, checked before the payload is parsed; version 1 hashed the compact serialisation
//! of its payload, which is the payload text as written minus insignificant whitespace. So a
//! bundle stays valid whatever fields a later Sentinel adds to its structs, and unknown fields
//! (from a newer Sentinel) are ignored, never a reason to refuse.

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::session::{Read, Session};

pub const FORMAT: &str = "sentinel-review-bundle";
/// The version written; 1 is still read.
pub const VERSION: u32 = 2;

/// A file carried with the bundle (e.g. a case thumbnail), stored under the session's folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Relative path with `/` separators.
    pub name: String,
    /// Hex bytes.
    pub hex: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payload {
    pub session: Session,
    pub reads: Vec<Read>,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
}

/// The envelope as read: the payload kept as the exact text of the file.
#[derive(Deserialize)]
struct RawEnvelope<'a> {
    version: u32,
    sha256: String,
    #[serde(borrow)]
    payload: &'a serde_json::value::RawValue,
}

/// The envelope as written.
#[derive(Serialize)]
struct OutEnvelope<'a> {
    format: &'a str,
    version: u32,
    sha256: String,
    payload: &'a serde_json::value::RawValue,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BundleError {
    #[error(
        "not a readable bundle (truncated or not JSON) at line {line}, column {column}: {message}"
    )]
    Unreadable {
        line: usize,
        column: usize,
        message: String,
    },
    #[error("not a Sentinel review bundle (format \"{0}\")")]
    Format(String),
    #[error("bundle version {0} is newer than this Sentinel reads ({VERSION})")]
    Newer(u32),
    #[error("the bundle was altered or damaged: its checksum does not match its content")]
    Checksum,
    #[error("attachment \"{0}\" would be written outside the session's folder")]
    PathEscape(String),
    #[error("attachment \"{0}\" is not valid hex")]
    Attachment(String),
    #[error("read of case {case} refers to no case of the session")]
    UnknownCase { case: String },
    /// A record the app's own forms would not accept: the bundle is refused whole.
    #[error("{place}: {message}")]
    Invalid { place: String, message: String },
}

/// The checks the app's forms apply, over everything a bundle carries (one bad record refuses the
/// bundle): the question set, unique case and reader ids, names without control characters, and
/// reads by readers of the session, of version 1 or more, answering categories of its question set
/// with a confidence of 0-5 and finite sizes and times.
fn validate(p: &Payload) -> Result<(), BundleError> {
    let invalid = |place: String, message: String| BundleError::Invalid { place, message };
    let s = &p.session;
    s.questions
        .validate()
        .map_err(|m| invalid("the session's question set".into(), m))?;
    let plain = |place: String, text: &str| {
        if text.chars().any(char::is_control) {
            Err(invalid(place, format!("{text:?} holds control characters")))
        } else {
            Ok(())
        }
    };
    plain("the session's name".into(), &s.name)?;
    let mut seen = std::collections::HashSet::new();
    for c in &s.cases {
        plain(format!("case {:?}", c.id), &c.id)?;
        if !seen.insert(c.id.as_str()) {
            return Err(invalid(format!("case {}", c.id), "listed twice".into()));
        }
    }
    let mut readers = std::collections::HashSet::new();
    for r in &s.readers {
        plain(
            format!("reader {:?}", r.id),
            &format!("{}{}{}", r.id, r.name, r.initials),
        )?;
        if !readers.insert(r.id.as_str()) {
            return Err(invalid(format!("reader {}", r.id), "listed twice".into()));
        }
    }
    let categories = s.questions.categories.len();
    for r in &p.reads {
        let place = || {
            format!(
                "read of case {} by {} (version {})",
                r.case_id, r.reader_id, r.version
            )
        };
        if r.reader_id != super::session::CONSENSUS && !readers.contains(r.reader_id.as_str()) {
            return Err(invalid(place(), "the reader is not in the session".into()));
        }
        if r.version == 0 {
            return Err(invalid(place(), "versions start at 1".into()));
        }
        let max = crate::annotate::shape::MAX_COORDINATE;
        if let Some(v) = r.view_track.iter().find(|v| {
            !(v.rect.iter().all(|x| x.is_finite() && x.abs() <= max)
                && v.t.is_finite()
                && v.seconds.is_finite()
                && v.magnification.is_finite())
        }) {
            return Err(invalid(
                place(),
                format!("a view {:?} at {} s is not within any slide", v.rect, v.t),
            ));
        }
        if !(r.seconds_on_case.is_finite() && r.seconds_on_case >= 0.0) {
            return Err(invalid(
                place(),
                format!("{} seconds on the case", r.seconds_on_case),
            ));
        }
        match &r.assessment {
            None if r.submitted => {
                return Err(invalid(place(), "submitted without an answer".into()));
            }
            None => {}
            Some(a) => {
                if usize::from(a.category.0) >= categories {
                    return Err(invalid(
                        place(),
                        format!("category {} of a set of {categories}", a.category.0),
                    ));
                }
                if a.confidence > 5 {
                    return Err(invalid(
                        place(),
                        format!("confidence {} (0-5)", a.confidence),
                    ));
                }
                if a.largest_mm
                    .is_some_and(|mm| !(mm.is_finite() && mm >= 0.0))
                {
                    return Err(invalid(
                        place(),
                        format!("largest deposit {:?} mm", a.largest_mm),
                    ));
                }
            }
        }
    }
    Ok(())
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// JSON text without the whitespace outside strings: a pretty-printed value becomes the compact
/// form serde_json writes for the same value (same key order, numbers and escapes).
fn without_insignificant_whitespace(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    out
}

/// The bundle text of `session` with `reads` (all, or one reader's) and `attachments`. A blinded
/// session travels without slide file names or readers' names ([`Session::shareable`]).
pub fn write(session: &Session, reads: &[Read], attachments: Vec<Attachment>) -> String {
    let payload = Payload {
        session: session.shareable(),
        reads: reads.to_vec(),
        attachments,
    };
    let text = serde_json::to_string(&payload).unwrap_or_default();
    let Ok(raw) = serde_json::value::RawValue::from_string(text) else {
        return String::new();
    };
    let env = OutEnvelope {
        format: FORMAT,
        version: VERSION,
        sha256: sha256_hex(raw.get().as_bytes()),
        payload: &raw,
    };
    serde_json::to_string_pretty(&env).unwrap_or_default()
}

/// Checks an attachment name: relative, only plain components, no `..`, no backslashes.
pub fn safe_relative(name: &str) -> Result<PathBuf, BundleError> {
    let escape = || BundleError::PathEscape(name.to_owned());
    if name.is_empty() || name.contains('\\') || name.contains(':') || name.contains('\0') {
        return Err(escape());
    }
    let p = Path::new(name);
    if !p.components().all(|c| matches!(c, Component::Normal(_))) {
        return Err(escape());
    }
    Ok(p.to_path_buf())
}

/// Parses and checks a bundle; nothing is written.
pub fn read(text: &str) -> Result<Payload, BundleError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| BundleError::Unreadable {
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        })?;
    let format = value
        .get("format")
        .and_then(|f| f.as_str())
        .unwrap_or_default();
    if format != FORMAT {
        return Err(BundleError::Format(format.to_owned()));
    }
    let version = value.get("version").and_then(|v| v.as_u64()).unwrap_or(0);
    if version > u64::from(VERSION) {
        return Err(BundleError::Newer(
            u32::try_from(version).unwrap_or(u32::MAX),
        ));
    }
    let unreadable = |e: serde_json::Error| BundleError::Unreadable {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    };
    let env: RawEnvelope<'_> = serde_json::from_str(text).map_err(unreadable)?;
    let hashed = match env.version {
        1 => sha256_hex(without_insignificant_whitespace(env.payload.get()).as_bytes()),
        _ => sha256_hex(env.payload.get().as_bytes()),
    };
    if hashed != env.sha256 {
        return Err(BundleError::Checksum);
    }
    // Only now is the payload parsed (unknown fields are ignored).
    let payload: Payload = serde_json::from_str(env.payload.get()).map_err(unreadable)?;
    for a in &payload.attachments {
        safe_relative(&a.name)?;
        if a.hex.len() % 2 != 0 || !a.hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(BundleError::Attachment(a.name.clone()));
        }
    }
    for r in &payload.reads {
        if !payload.session.cases.iter().any(|c| c.id == r.case_id) {
            return Err(BundleError::UnknownCase {
                case: r.case_id.clone(),
            });
        }
    }
    validate(&payload)?;
    Ok(payload)
}

/// Writes the attachments under `dir` (the session's folder in the data directory), each
/// atomically; names were checked by [`read`] and are checked again here.
pub fn write_attachments(dir: &Path, attachments: &[Attachment]) -> std::io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for a in attachments {
        let rel = safe_relative(&a.name).map_err(std::io::Error::other)?;
        let bytes = decode_hex(&a.hex).ok_or_else(|| {
            std::io::Error::other(BundleError::Attachment(a.name.clone()).to_string())
        })?;
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        crate::fsutil::write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// The bytes of an even-length hex string; `None` for anything else (never a panic, whatever the
/// text holds).
fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let bytes = hex.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect()
}

/// An attachment of `bytes` under `name`.
pub fn attachment(name: &str, bytes: &[u8]) -> Attachment {
    Attachment {
        name: name.to_owned(),
        hex: bytes.iter().map(|b| format!("{b:02x}")).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::session::{Arm, Assessment, CaseRef, Category, Reader};

    fn sample() -> (Session, Vec<Read>) {
        let session = Session {
            id: "sess-1".into(),
            name: "SLN pilot".into(),
            cases: vec![CaseRef {
                id: "c0".into(),
                path: PathBuf::from("/slides/a.svs"),
                slide_key: "quickhash1:abc".into(),
                truth: Some(Category::MICRO),
            }],
            readers: vec![Reader {
                id: "r-a".into(),
                name: "A. Reader".into(),
                initials: "AR".into(),
                arms: vec![Arm::Unassisted],
            }],
            seed: 7,
            questions: Default::default(),
            washout_days: 0,
            counterbalance: false,
            blinded: false,
            owner: String::new(),
            unblinded_at: None,
        };
        let mut read = Read::new("c0", "r-a", Arm::Unassisted);
        read.answer(Assessment {
            category: Category::MICRO,
            largest_mm: Some(1.2),
            confidence: 4,
            notes: "deposit in the subcapsular sinus".into(),
            answers: Default::default(),
        })
        .expect("open");
        read.submit().expect("complete");
        (session, vec![read])
    }

    #[test]
    fn round_trip() {
        let (s, r) = sample();
        let text = write(&s, &r, vec![attachment("thumbs/c0.png", b"\x89PNG")]);
        let back = read(&text).expect("valid");
        assert_eq!(back.session, s);
        assert_eq!(back.reads, r);
        assert_eq!(back.attachments[0].hex, "89504e47");
    }

    #[test]
    fn tampered_and_truncated_bundles_are_refused_with_the_reason() {
        let (s, r) = sample();
        let text = write(&s, &r, Vec::new());
        assert!(
            text.contains("\"category\":2"),
            "the answer is in the bundle"
        );
        let edited = text.replace("\"category\":2", "\"category\":3");
        assert_ne!(edited, text);
        assert_eq!(read(&edited), Err(BundleError::Checksum));
        let cut = text.get(..text.len() * 2 / 3).expect("an ASCII bundle");
        assert!(
            matches!(read(cut), Err(BundleError::Unreadable { .. })),
            "{:?}",
            read(cut)
        );
        assert_eq!(
            read("{\"format\": \"something else\"}"),
            Err(BundleError::Format("something else".into()))
        );
    }

    /// A bundle written by the release before question sets existed: version 1, no `questions`
    /// field, its checksum over that version's compact payload. It was refused as "altered" once
    /// the struct gained the field (the checksum was recomputed from today's structs).
    #[test]
    fn a_bundle_from_before_a_field_was_added_still_reads() {
        let (s, r) = sample();
        let mut payload = serde_json::to_value(Payload {
            session: s.clone(),
            reads: r.clone(),
            attachments: Vec::new(),
        })
        .expect("value");
        payload["session"]
            .as_object_mut()
            .expect("object")
            .remove("questions");
        let compact = serde_json::to_vec(&payload).expect("json");
        let old = serde_json::to_string_pretty(&serde_json::json!({
            "format": FORMAT,
            "version": 1,
            "sha256": sha256_hex(&compact),
            "payload": payload,
        }))
        .expect("json");
        let back = read(&old).expect("an older bundle reads");
        assert_eq!(back.session, s, "the missing field takes its default");
        assert_eq!(back.reads, r);
        // Its checksum still guards it.
        let edited = old.replace("SLN pilot", "SLN pilo7");
        assert_eq!(read(&edited), Err(BundleError::Checksum));
    }

    /// A bundle from a newer Sentinel carries fields this one does not know: ignored, not refused.
    #[test]
    fn unknown_fields_are_ignored_not_a_reason_to_refuse() {
        let (s, r) = sample();
        let mut payload = serde_json::to_value(Payload {
            session: s.clone(),
            reads: r,
            attachments: Vec::new(),
        })
        .expect("value");
        payload["session"]["a_field_from_a_later_release"] = serde_json::json!(14);
        payload["future_section"] = serde_json::json!({"x": [1, 2]});
        let raw = serde_json::to_string(&payload).expect("json");
        let text = format!(
            r#"{{"format": "{FORMAT}", "version": 2, "sha256": "{}", "payload": {raw}}}"#,
            sha256_hex(raw.as_bytes())
        );
        assert_eq!(read(&text).expect("reads").session, s);
    }

    #[test]
    fn whitespace_outside_strings_only_is_removed() {
        assert_eq!(
            without_insignificant_whitespace("{\n  \"a b\": [1, 2],\n  \"c\": \"x \\\" y\"\n}"),
            r#"{"a b":[1,2],"c":"x \" y"}"#
        );
    }

    /// Records the app's forms refuse were once imported from bundles (and counted in kappa and
    /// AUC): each refuses the whole bundle, naming the record.
    #[test]
    fn records_the_app_would_refuse_refuse_the_bundle() {
        let (s, r) = sample();
        assert!(
            read(&write(&s, &r, Vec::new())).is_ok(),
            "the sample is valid"
        );
        let refused = |s: &Session, r: &[Read], what: &str| match read(&write(s, r, Vec::new())) {
            Err(BundleError::Invalid { place, message }) => {
                assert!(
                    format!("{place}: {message}").contains(what),
                    "{place}: {message} (expected {what:?})"
                );
            }
            other => panic!("{what}: {other:?}"),
        };
        let mut bad = r.clone();
        bad[0].assessment.as_mut().expect("answer").category = Category(200);
        refused(&s, &bad, "category 200 of a set of 4");
        let mut bad = r.clone();
        bad[0].assessment.as_mut().expect("answer").confidence = 200;
        refused(&s, &bad, "confidence 200");
        let mut bad = r.clone();
        bad[0].version = 0;
        refused(&s, &bad, "versions start at 1");
        let mut bad = r.clone();
        bad[0].reader_id = "intruder".into();
        refused(&s, &bad, "not in the session");
        let mut dup = s.clone();
        dup.cases.push(dup.cases[0].clone());
        refused(&dup, &r, "listed twice");
        let mut ansi = s.clone();
        ansi.readers[0].name = "A. Reader\u{1b}[31m".into();
        refused(&ansi, &r, "control characters");
        let mut q = s.clone();
        q.questions.positive_from = 255;
        refused(&q, &r, "question set");
        let mut q = s.clone();
        q.questions.categories.clear();
        refused(&q, &[], "question set");
    }

    /// A read holding a ruler to x = 1e18, an ellipse of radii 1e18 or an empty polygon once
    /// imported and then hung every report on the session: now the bundle is refused, naming the
    /// shape and where it is in the file.
    #[test]
    fn a_read_with_a_shape_no_tool_makes_refuses_the_bundle() {
        use crate::annotate::{Annotation, Shape};
        let (s, r) = sample();
        for shape in [
            Shape::Line {
                points: vec![[0.0, 0.0], [1e18, 0.0]],
            },
            Shape::Ellipse {
                centre: [0.0, 0.0],
                radii: [1e18, 1e18],
            },
            Shape::Area {
                polygons: vec![Vec::new()],
            },
        ] {
            let mut bad = r.clone();
            bad[0]
                .annotations
                .push(Annotation::new(shape.clone(), None));
            match read(&write(&s, &bad, Vec::new())) {
                Err(BundleError::Unreadable { message, .. }) => assert!(
                    message.contains("not within") || message.contains("no ring"),
                    "{shape:?}: {message}"
                ),
                other => panic!("{shape:?}: {other:?}"),
            }
        }
        let mut bad = r.clone();
        bad[0].view_track.push(crate::review::session::ViewSample {
            t: 0.0,
            seconds: 1.0,
            rect: [0.0, 0.0, 1e18, 1.0],
            magnification: 10.0,
        });
        assert!(
            matches!(
                read(&write(&s, &bad, Vec::new())),
                Err(BundleError::Invalid { .. })
            ),
            "a view beyond any slide refuses the bundle"
        );
    }

    /// Attachments written without going through `read` (which checks their hex) once sliced the
    /// text at byte offsets: a multi-byte character panicked. Now it is an error.
    #[test]
    fn unchecked_attachment_hex_is_an_error_not_a_panic() {
        assert_eq!(decode_hex("89504e47"), Some(vec![0x89, 0x50, 0x4e, 0x47]));
        assert_eq!(decode_hex("8"), None);
        assert_eq!(decode_hex("zz"), None);
        let dir = tempfile::tempdir().expect("dir");
        let bad = Attachment {
            name: "thumbs/a.png".into(),
            hex: "é0".into(),
        };
        let e = write_attachments(dir.path(), &[bad]).expect_err("refused");
        assert!(e.to_string().contains("thumbs/a.png"), "{e}");
    }

    #[test]
    fn attachment_names_cannot_escape() {
        for bad in [
            "../x",
            "a/../../x",
            "/etc/passwd",
            "C:\\\\x",
            "a\\\\..\\\\b",
            "",
            "./a/../..",
        ] {
            assert!(safe_relative(bad).is_err(), "{bad:?} accepted");
        }
        assert!(safe_relative("thumbs/c0.png").is_ok());
        // A well-formed bundle whose attachment escapes is refused as a whole.
        let (s, r) = sample();
        let text = write(&s, &r, vec![attachment("../../outside.txt", b"x")]);
        assert_eq!(
            read(&text),
            Err(BundleError::PathEscape("../../outside.txt".into()))
        );
    }
}

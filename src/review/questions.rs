//! Questions beyond the category: yes/no, a number in a range, single and multiple choice, free
//! text, and a region the reader draws (a polygon or points). Each is declared once per session,
//! answered per read, validated on submit, and written to the report and the reads CSV.
//!
//! The session form and `sentinel review new --question` declare them one per line:
//!
//! ```text
//! yes/no: Lymphovascular invasion?
//! number 0..100 %: Tumour cellularity
//! choice Low | Intermediate | High: Grade
//! multiple Capsular | Extranodal | Sinus: Involvement
//! text: Comments
//! region polygon: Outline the largest deposit
//! optional region point: Mark the most suspicious focus
//! ```

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::annotate::Shape;

/// Longest free-text answer kept (characters).
pub const MAX_TEXT: usize = 2000;

/// What a region answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegionKind {
    /// An area: polygon, freehand, brush, rectangle or ellipse.
    Polygon,
    /// One or more points.
    Point,
}

impl RegionKind {
    pub fn label(self) -> &'static str {
        match self {
            RegionKind::Polygon => "polygon",
            RegionKind::Point => "point",
        }
    }

    /// Whether `shape` is an answer of this kind.
    pub fn accepts(self, shape: &Shape) -> bool {
        match (self, shape) {
            (RegionKind::Polygon, Shape::Area { polygons }) => {
                !polygons.is_empty()
                    && polygons
                        .iter()
                        .all(|p| p.first().is_some_and(|r| r.len() >= 3))
            }
            (RegionKind::Polygon, Shape::Rectangle { .. } | Shape::Ellipse { .. }) => true,
            (RegionKind::Point, Shape::Points { points }) => !points.is_empty(),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum QuestionKind {
    YesNo,
    Number {
        min: f64,
        max: f64,
        #[serde(default)]
        unit: String,
    },
    SingleChoice {
        options: Vec<String>,
    },
    MultipleChoice {
        options: Vec<String>,
    },
    FreeText,
    Region {
        shape: RegionKind,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Question {
    /// Stable key of the answers (`q1`, `q2`, ... in declaration order).
    pub id: String,
    pub prompt: String,
    pub kind: QuestionKind,
    /// A read cannot be submitted without an answer to a required question.
    #[serde(default = "yes")]
    pub required: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum Answer {
    YesNo(bool),
    Number(f64),
    Choice(String),
    Choices(Vec<String>),
    Text(String),
    /// In level-0 pixels, like annotations.
    Region(Shape),
}

/// Answers by question id.
pub type Answers = BTreeMap<String, Answer>;

impl Question {
    /// Checks the declaration: a prompt, a real range, at least two distinct options.
    pub fn validate(&self) -> Result<(), String> {
        if self.prompt.trim().is_empty() {
            return Err(format!("question {}: the prompt is empty", self.id));
        }
        match &self.kind {
            QuestionKind::Number { min, max, .. }
                if !(min.is_finite() && max.is_finite() && min < max) =>
            {
                Err(format!(
                    "\"{}\": the range {min}..{max} is empty",
                    self.prompt
                ))
            }
            QuestionKind::SingleChoice { options } | QuestionKind::MultipleChoice { options } => {
                if options.len() < 2 {
                    return Err(format!(
                        "\"{}\": a choice needs at least two options",
                        self.prompt
                    ));
                }
                if options.iter().any(|o| o.trim().is_empty()) {
                    return Err(format!("\"{}\": an option is empty", self.prompt));
                }
                for (i, o) in options.iter().enumerate() {
                    if options[..i].contains(o) {
                        return Err(format!(
                            "\"{}\": option \"{o}\" is given twice",
                            self.prompt
                        ));
                    }
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Checks one answer against the declaration, saying what is wrong in the reader's terms.
    pub fn check(&self, answer: &Answer) -> Result<(), String> {
        let p = &self.prompt;
        match (&self.kind, answer) {
            (QuestionKind::YesNo, Answer::YesNo(_)) => Ok(()),
            (QuestionKind::Number { min, max, unit }, Answer::Number(v)) => {
                if v.is_finite() && (*min..=*max).contains(v) {
                    Ok(())
                } else {
                    Err(format!("\"{p}\": {v} is outside {min}..{max} {unit}")
                        .trim_end()
                        .to_owned())
                }
            }
            (QuestionKind::SingleChoice { options }, Answer::Choice(c)) => {
                if options.contains(c) {
                    Ok(())
                } else {
                    Err(format!("\"{p}\": \"{c}\" is not one of the options"))
                }
            }
            (QuestionKind::MultipleChoice { options }, Answer::Choices(cs)) => {
                for (i, c) in cs.iter().enumerate() {
                    if !options.contains(c) {
                        return Err(format!("\"{p}\": \"{c}\" is not one of the options"));
                    }
                    if cs[..i].contains(c) {
                        return Err(format!("\"{p}\": \"{c}\" is chosen twice"));
                    }
                }
                Ok(())
            }
            (QuestionKind::FreeText, Answer::Text(t)) => {
                let n = t.chars().count();
                if n > MAX_TEXT {
                    Err(format!("\"{p}\": {n} characters (at most {MAX_TEXT})"))
                } else {
                    Ok(())
                }
            }
            (QuestionKind::Region { shape }, Answer::Region(s)) => {
                let finite = s
                    .outline()
                    .iter()
                    .all(|q| q[0].is_finite() && q[1].is_finite());
                if shape.accepts(s) && finite {
                    Ok(())
                } else {
                    Err(format!("\"{p}\": draw a {} for this answer", shape.label()))
                }
            }
            _ => Err(format!("\"{p}\": the answer is of the wrong type")),
        }
    }

    /// Whether `answer` counts as answered: an empty text or a multiple choice with nothing
    /// ticked does not (a question set that means "none of these" offers it as an option).
    fn answered(answer: Option<&Answer>) -> bool {
        match answer {
            None => false,
            Some(Answer::Text(t)) => !t.trim().is_empty(),
            Some(Answer::Choices(c)) => !c.is_empty(),
            Some(_) => true,
        }
    }
}

/// Checks a read's answers: every required question answered, every answer valid, no answer to
/// a question the session does not ask.
pub fn check_all(questions: &[Question], answers: &Answers) -> Result<(), String> {
    for id in answers.keys() {
        if !questions.iter().any(|q| &q.id == id) {
            return Err(format!("an answer to an unknown question ({id})"));
        }
    }
    for q in questions {
        let a = answers.get(&q.id);
        if q.required && !Question::answered(a) {
            return Err(format!("\"{}\" needs an answer", q.prompt));
        }
        if let Some(a) = a {
            q.check(a)?;
        }
    }
    Ok(())
}

/// Checks a whole declaration: each question, and unique ids.
pub fn validate_all(questions: &[Question]) -> Result<(), String> {
    for (i, q) in questions.iter().enumerate() {
        q.validate()?;
        if questions[..i].iter().any(|o| o.id == q.id) {
            return Err(format!("question id {} is used twice", q.id));
        }
    }
    Ok(())
}

/// The answer as one line of text for the report and the CSV: a region as its GeoJSON geometry.
pub fn answer_text(question: &Question, answer: &Answer) -> String {
    match answer {
        Answer::YesNo(b) => if *b { "yes" } else { "no" }.into(),
        Answer::Number(v) => match &question.kind {
            QuestionKind::Number { unit, .. } if !unit.is_empty() => format!("{v} {unit}"),
            _ => v.to_string(),
        },
        Answer::Choice(c) => c.clone(),
        Answer::Choices(cs) => cs.join("; "),
        Answer::Text(t) => t.clone(),
        Answer::Region(s) => crate::annotate::geojson::geometry(s).to_string(),
    }
}

/// Parses the one-question-per-line form (see the module docs); errors name the line.
pub fn parse_lines(text: &str) -> Result<Vec<Question>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = |e: String| format!("question line {}: {e}", n + 1);
        let (spec, prompt) = line
            .split_once(':')
            .ok_or_else(|| at("write it as \"kind: prompt\", e.g. \"yes/no: Necrosis?\"".into()))?;
        let (required, spec) = match spec.trim().strip_prefix("optional") {
            Some(rest) => (false, rest.trim()),
            None => (true, spec.trim()),
        };
        let (word, rest) = spec.split_once(char::is_whitespace).unwrap_or((spec, ""));
        let rest = rest.trim();
        let options = || -> Vec<String> { rest.split('|').map(|o| o.trim().to_owned()).collect() };
        let kind = match word.to_ascii_lowercase().as_str() {
            "yes/no" | "yesno" => QuestionKind::YesNo,
            "number" => {
                let (range, unit) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
                let (lo, hi) = range
                    .split_once("..")
                    .ok_or_else(|| at(format!("\"{range}\": a range is written min..max")))?;
                let num = |s: &str| {
                    s.trim()
                        .parse::<f64>()
                        .map_err(|_| at(format!("\"{s}\" is not a number")))
                };
                QuestionKind::Number {
                    min: num(lo)?,
                    max: num(hi)?,
                    unit: unit.trim().to_owned(),
                }
            }
            "choice" => QuestionKind::SingleChoice { options: options() },
            "multiple" => QuestionKind::MultipleChoice { options: options() },
            "text" => QuestionKind::FreeText,
            "region" => QuestionKind::Region {
                shape: match rest {
                    "polygon" | "" => RegionKind::Polygon,
                    "point" | "points" => RegionKind::Point,
                    other => return Err(at(format!("region \"{other}\": polygon or point"))),
                },
            },
            other => {
                return Err(at(format!(
                    "\"{other}\" is not a question kind (yes/no, number, choice, multiple, text, region)"
                )));
            }
        };
        let q = Question {
            id: format!("q{}", out.len() + 1),
            prompt: prompt.trim().to_owned(),
            kind,
            required,
        };
        q.validate().map_err(at)?;
        out.push(q);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FORM: &str = "yes/no: Lymphovascular invasion?\n\
        number 0..100 %: Tumour cellularity\n\
        choice Low | Intermediate | High: Grade\n\
        multiple Capsular | Extranodal | Sinus: Involvement\n\
        optional text: Comments\n\
        region polygon: Outline the largest deposit\n\
        # a comment\n\
        region point: Mark the most suspicious focus\n";

    fn square() -> Shape {
        Shape::Area {
            polygons: vec![vec![vec![
                [0.0, 0.0],
                [10.0, 0.0],
                [10.0, 10.0],
                [0.0, 10.0],
            ]]],
        }
    }

    #[test]
    fn the_form_declares_every_kind() {
        let qs = parse_lines(FORM).expect("valid");
        assert_eq!(qs.len(), 7);
        assert_eq!(qs[0].kind, QuestionKind::YesNo);
        assert_eq!(
            qs[1].kind,
            QuestionKind::Number {
                min: 0.0,
                max: 100.0,
                unit: "%".into()
            }
        );
        assert_eq!(
            qs[2].kind,
            QuestionKind::SingleChoice {
                options: vec!["Low".into(), "Intermediate".into(), "High".into()]
            }
        );
        assert!(matches!(qs[3].kind, QuestionKind::MultipleChoice { .. }));
        assert!(!qs[4].required && qs[0].required);
        assert_eq!(
            qs[6].kind,
            QuestionKind::Region {
                shape: RegionKind::Point
            }
        );
        assert_eq!(qs[6].id, "q7");
        assert!(validate_all(&qs).is_ok());
    }

    #[test]
    fn bad_declarations_name_the_line() {
        for (text, needle) in [
            ("yes/no Necrosis", "line 1"),
            ("\nnumber 5..1: x", "line 2"),
            ("number a..b: x", "not a number"),
            ("choice Only: x", "two options"),
            ("choice A | A: x", "twice"),
            ("region circle: x", "polygon or point"),
            ("slider: x", "not a question kind"),
            ("text:   ", "prompt is empty"),
        ] {
            let e = parse_lines(text).expect_err(text);
            assert!(e.contains(needle), "{text}: {e}");
        }
    }

    #[test]
    fn answers_are_checked_against_their_question() {
        let qs = parse_lines(FORM).expect("valid");
        let mut a = Answers::new();
        a.insert("q1".into(), Answer::YesNo(true));
        a.insert("q2".into(), Answer::Number(55.0));
        a.insert("q3".into(), Answer::Choice("High".into()));
        a.insert(
            "q4".into(),
            Answer::Choices(vec!["Sinus".into(), "Capsular".into()]),
        );
        a.insert("q6".into(), Answer::Region(square()));
        a.insert(
            "q7".into(),
            Answer::Region(Shape::Points {
                points: vec![[5.0, 5.0]],
            }),
        );
        assert_eq!(
            check_all(&qs, &a),
            Ok(()),
            "the optional text may be left out"
        );
        let with = |id: &str, v: Answer| {
            let mut b = a.clone();
            b.insert(id.into(), v);
            check_all(&qs, &b)
        };
        assert!(
            with("q2", Answer::Number(101.0))
                .expect_err("range")
                .contains("outside 0..100 %")
        );
        assert!(with("q2", Answer::Number(f64::NAN)).is_err());
        assert!(with("q3", Answer::Choice("Huge".into())).is_err());
        assert!(with("q4", Answer::Choices(vec!["Sinus".into(), "Sinus".into()])).is_err());
        assert!(
            with("q1", Answer::Text("yes".into()))
                .expect_err("type")
                .contains("wrong type")
        );
        assert!(
            with(
                "q6",
                Answer::Region(Shape::Points {
                    points: vec![[1.0, 1.0]]
                })
            )
            .expect_err("kind")
            .contains("draw a polygon")
        );
        assert!(with("q7", Answer::Region(square())).is_err());
        assert!(with("q5", Answer::Text("x".repeat(MAX_TEXT + 1))).is_err());
        assert!(
            with("q9", Answer::YesNo(true))
                .expect_err("unknown")
                .contains("unknown question")
        );
        assert!(
            with("q4", Answer::Choices(Vec::new()))
                .expect_err("nothing ticked")
                .contains("Involvement")
        );
        let mut missing = a.clone();
        missing.remove("q6");
        assert!(
            check_all(&qs, &missing)
                .expect_err("required")
                .contains("Outline the largest deposit")
        );
        missing.insert("q6".into(), Answer::Region(square()));
        missing.insert("q1".into(), Answer::YesNo(false));
        assert_eq!(check_all(&qs, &missing), Ok(()));
    }

    #[test]
    fn answers_read_as_text_and_survive_json() {
        let qs = parse_lines(FORM).expect("valid");
        assert_eq!(answer_text(&qs[0], &Answer::YesNo(false)), "no");
        assert_eq!(answer_text(&qs[1], &Answer::Number(42.5)), "42.5 %");
        assert_eq!(
            answer_text(
                &qs[3],
                &Answer::Choices(vec!["Capsular".into(), "Sinus".into()])
            ),
            "Capsular; Sinus"
        );
        let region = answer_text(&qs[5], &Answer::Region(square()));
        let g: serde_json::Value = serde_json::from_str(&region).expect("GeoJSON");
        assert_eq!(g["type"], "Polygon");
        assert_eq!(
            g["coordinates"][0].as_array().map(Vec::len),
            Some(5),
            "closed ring"
        );
        let a = Answer::Choices(vec!["Sinus".into()]);
        let json = serde_json::to_string(&a).expect("serialise");
        assert_eq!(json, r#"{"type":"choices","value":["Sinus"]}"#);
        assert_eq!(serde_json::from_str::<Answer>(&json).expect("parse"), a);
        let q = serde_json::to_string(&qs[1]).expect("serialise");
        assert_eq!(serde_json::from_str::<Question>(&q).expect("parse"), qs[1]);
    }
}

//! The session's further questions in the reading form: a widget per kind, the typed text of
//! numbers and free text kept as typed until submit, and a region answer taken from what the
//! reader drew on the slide.

use std::collections::BTreeMap;

use egui::RichText;

use super::CaseContext;
use crate::review::questions::{Answer, Answers, Question, QuestionKind, RegionKind};

/// The answers being given to the open read's further questions.
#[derive(Default)]
pub(super) struct AnswerForm {
    /// Yes/no, choices and regions.
    pub picked: Answers,
    /// Numbers and free text as typed, by question id.
    pub typed: BTreeMap<String, String>,
}

impl AnswerForm {
    /// The form showing `answers` (a resumed or amended read).
    pub fn from_answers(answers: &Answers) -> Self {
        let mut form = Self::default();
        for (id, a) in answers {
            match a {
                Answer::Number(v) => {
                    form.typed.insert(id.clone(), v.to_string());
                }
                Answer::Text(t) => {
                    form.typed.insert(id.clone(), t.clone());
                }
                other => {
                    form.picked.insert(id.clone(), other.clone());
                }
            }
        }
        form
    }

    /// The answers as given; a number that does not parse is refused naming its question.
    /// Checking them against the questions is [`crate::review::questions::check_all`]'s job.
    pub fn answers(&self, questions: &[Question]) -> Result<Answers, String> {
        let mut out = self.picked.clone();
        for q in questions {
            let Some(text) = self.typed.get(&q.id).map(|t| t.trim()) else {
                continue;
            };
            match q.kind {
                QuestionKind::Number { .. } if !text.is_empty() => {
                    let v = text
                        .replace(',', ".")
                        .parse::<f64>()
                        .map_err(|_| format!("\"{}\": \"{text}\" is not a number", q.prompt))?;
                    out.insert(q.id.clone(), Answer::Number(v));
                }
                QuestionKind::FreeText if !text.is_empty() => {
                    out.insert(q.id.clone(), Answer::Text(text.to_owned()));
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// One widget per question.
    pub fn ui(&mut self, ui: &mut egui::Ui, ctx: &CaseContext<'_>, questions: &[Question]) {
        for q in questions {
            ui.add_space(4.0);
            let prompt = if q.required {
                q.prompt.clone()
            } else {
                format!("{} (optional)", q.prompt)
            };
            match &q.kind {
                QuestionKind::YesNo => {
                    ui.horizontal(|ui| {
                        ui.label(&prompt);
                        for (value, text) in [(true, "yes"), (false, "no")] {
                            let on = self.picked.get(&q.id) == Some(&Answer::YesNo(value));
                            if ui.radio(on, text).clicked() {
                                self.picked.insert(q.id.clone(), Answer::YesNo(value));
                            }
                        }
                    });
                }
                QuestionKind::Number { min, max, unit } => {
                    ui.horizontal(|ui| {
                        let label = ui.label(&prompt);
                        let text = self.typed.entry(q.id.clone()).or_default();
                        ui.add(
                            egui::TextEdit::singleline(text)
                                .hint_text(format!("{min}–{max}"))
                                .desired_width(60.0),
                        )
                        .labelled_by(label.id);
                        if !unit.is_empty() {
                            ui.label(unit);
                        }
                    });
                }
                QuestionKind::SingleChoice { options } => {
                    ui.label(&prompt);
                    ui.horizontal_wrapped(|ui| {
                        for o in options {
                            let on = self.picked.get(&q.id) == Some(&Answer::Choice(o.clone()));
                            if ui.radio(on, o).clicked() {
                                self.picked.insert(q.id.clone(), Answer::Choice(o.clone()));
                            }
                        }
                    });
                }
                QuestionKind::MultipleChoice { options } => {
                    ui.label(&prompt);
                    ui.horizontal_wrapped(|ui| {
                        let entry = self
                            .picked
                            .entry(q.id.clone())
                            .or_insert_with(|| Answer::Choices(Vec::new()));
                        if let Answer::Choices(chosen) = entry {
                            for o in options {
                                let mut on = chosen.contains(o);
                                if ui.checkbox(&mut on, o).changed() {
                                    // Kept in the order the options are declared.
                                    chosen.retain(|c| c != o);
                                    if on {
                                        chosen.push(o.clone());
                                        chosen.sort_by_key(|c| options.iter().position(|x| x == c));
                                    }
                                }
                            }
                        }
                    });
                }
                QuestionKind::FreeText => {
                    let label = ui.label(&prompt);
                    let text = self.typed.entry(q.id.clone()).or_default();
                    ui.add(egui::TextEdit::multiline(text).desired_rows(2))
                        .labelled_by(label.id);
                }
                QuestionKind::Region { shape } => {
                    ui.label(&prompt);
                    ui.horizontal(|ui| {
                        match self.picked.get(&q.id) {
                            Some(Answer::Region(s)) => {
                                ui.label(RichText::new(region_summary(s)).weak());
                                if ui.small_button("Clear").clicked() {
                                    self.picked.remove(&q.id);
                                }
                            }
                            _ => {
                                ui.label(RichText::new("not drawn yet").weak());
                            }
                        }
                        let last = last_drawn(ctx, *shape);
                        if ui
                            .add_enabled(
                                last.is_some(),
                                egui::Button::new(format!("Use the last drawn {}", shape.label())),
                            )
                            .on_disabled_hover_text(format!(
                                "draw a {} on the slide first",
                                shape.label()
                            ))
                            .clicked()
                            && let Some(s) = last
                        {
                            self.picked.insert(q.id.clone(), Answer::Region(s));
                        }
                    });
                }
            }
        }
    }
}

/// The latest annotation of the case that is an answer of `kind`.
fn last_drawn(ctx: &CaseContext<'_>, kind: RegionKind) -> Option<crate::annotate::Shape> {
    ctx.annotations
        .iter()
        .rev()
        .map(|a| &a.shape)
        .find(|s| kind.accepts(s))
        .cloned()
}

fn region_summary(s: &crate::annotate::Shape) -> String {
    use crate::annotate::Shape;
    match s {
        Shape::Points { points } => format!("{} point(s) set", points.len()),
        other => format!("area set ({} vertices)", other.outline().len()),
    }
}

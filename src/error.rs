//! Errors as one line for people: a message and its causes, each said once.
//!
//! Library errors are typed (`thiserror`) and keep their cause as `#[source]`, so callers can
//! inspect it; their messages also quote the cause, so `to_string()` alone reads fully in the GUI.
//! Where the whole chain is printed (the command line's `error:` line) a cause that the message
//! above already quotes is not repeated.

use std::error::Error;

/// `outer: cause: root`, skipping causes whose text the line already holds.
pub fn report_chain<'a>(chain: impl IntoIterator<Item = &'a (dyn Error + 'static)>) -> String {
    let mut line = String::new();
    for e in chain {
        let text = e.to_string();
        if line.is_empty() {
            line = text;
        } else if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
    }
    line
}

/// [`report_chain`] of `e` and its sources.
pub fn report(e: &(dyn Error + 'static)) -> String {
    let mut chain = vec![e];
    let mut next = e.source();
    while let Some(s) = next {
        chain.push(s);
        next = s.source();
    }
    report_chain(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("opening {what}")]
    struct Context {
        what: &'static str,
        #[source]
        source: crate::store::StoreError,
    }

    #[test]
    fn each_cause_is_said_once() {
        let db = rusqlite::Connection::open_in_memory().expect("db");
        let source = db.execute("NOT SQL", []).expect_err("syntax error");
        let store = crate::store::StoreError::Db {
            path: "/data/sentinel.db".into(),
            source,
        };
        let e = Context {
            what: "the store",
            source: store,
        };
        let line = report(&e);
        assert!(
            line.starts_with("opening the store: /data/sentinel.db: "),
            "{line}"
        );
        assert_eq!(line.matches("syntax error").count(), 1, "{line}");
        // The typed cause is still there for callers.
        let cause = e
            .source()
            .and_then(|s| s.source())
            .expect("rusqlite's error");
        assert!(cause.downcast_ref::<rusqlite::Error>().is_some());
    }
}

//! `postern bounce parse [FILE] [--json]`: what the bounce analysis of `postern-mime` finds in
//! one message (a delivery report, a failure notice, an ARF complaint or an automatic reply).
//! Reads FILE, or stdin without it; changes nothing and needs no database.
//!
//! Exit status: 0 when the message was parsed (a bounce or not), 65 (`EX_DATAERR`) when the
//! input is not a message, 66 (`EX_NOINPUT`) when FILE cannot be read.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use postern_mime::{Dsn, ParsedMessage, ReportKind};
use serde::Serialize;

use crate::exit;

/// The printed analysis (`--json`).
#[derive(Debug, Serialize)]
pub(crate) struct Analysis {
    /// A delivery failure or delay report (not a complaint, an automatic reply or mail).
    pub bounce: bool,
    /// `failure`, `delay`, `auto_reply`, `feedback`; `null` for ordinary mail.
    pub kind: Option<&'static str>,
    pub recipients: Vec<Recipient>,
    pub original_message_ids: Vec<String>,
    /// The ARF `Feedback-Type` of a complaint; left out otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feedback_type: Option<String>,
}

/// One recipient of the report.
#[derive(Debug, Serialize)]
pub(crate) struct Recipient {
    pub address: String,
    pub status: String,
    pub reply_code: String,
    pub reason: &'static str,
    pub hard: bool,
    pub diagnostic: String,
}

impl Analysis {
    pub(crate) fn of(msg: &ParsedMessage) -> Self {
        let Dsn {
            recipients,
            original_message_ids,
            kind,
            feedback_type,
            ..
        } = &msg.dsn;
        Analysis {
            bounce: matches!(kind, Some(ReportKind::Failure | ReportKind::Delay)),
            kind: kind.map(ReportKind::as_str),
            recipients: recipients
                .iter()
                .map(|r| Recipient {
                    address: r.address.clone(),
                    status: r.status.clone(),
                    reply_code: r.reply_code.clone(),
                    reason: r.category.as_str(),
                    hard: r.hard,
                    diagnostic: r.reason.clone(),
                })
                .collect(),
            original_message_ids: original_message_ids.clone(),
            feedback_type: feedback_type.clone(),
        }
    }

    /// The short form: one line for the message, one per recipient, one per original id.
    pub(crate) fn human(&self) -> String {
        let mut out = match self.kind {
            Some(kind) => format!("{kind}: {} recipient(s)\n", self.recipients.len()),
            None => "not a bounce\n".to_owned(),
        };
        for r in &self.recipients {
            let code = [r.status.as_str(), r.reply_code.as_str()]
                .iter()
                .filter(|c| !c.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ");
            let hardness = if r.hard { "hard" } else { "soft" };
            out.push_str(&format!("  {} {} {hardness}", r.address, r.reason));
            if !code.is_empty() {
                out.push_str(&format!(" ({code})"));
            }
            out.push('\n');
            if !r.diagnostic.is_empty() {
                out.push_str(&format!("    {}\n", r.diagnostic));
            }
        }
        for id in &self.original_message_ids {
            out.push_str(&format!("  original: {id}\n"));
        }
        out
    }
}

/// The command: reads, parses, prints; returns the exit status.
pub(crate) fn parse(file: Option<&Path>, json: bool) -> ExitCode {
    let raw = match read(file) {
        Ok(raw) => raw,
        Err(e) => {
            let name = file.map_or("stdin".into(), |f| f.display().to_string());
            eprintln!("postern: cannot read {name}: {e}");
            return ExitCode::from(exit::NOINPUT);
        }
    };
    let msg = match postern_mime::parse(&raw) {
        Ok(msg) => msg,
        Err(e) => {
            eprintln!("postern: {e}");
            return ExitCode::from(exit::DATAERR);
        }
    };
    let analysis = Analysis::of(&msg);
    if json {
        match serde_json::to_string_pretty(&analysis) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("postern: {e}");
                return ExitCode::from(exit::TEMPFAIL);
            }
        }
    } else {
        print!("{}", analysis.human());
    }
    ExitCode::SUCCESS
}

fn read(file: Option<&Path>) -> std::io::Result<Vec<u8>> {
    match file {
        Some(path) => std::fs::read(path),
        None => {
            let mut raw = Vec::new();
            std::io::stdin().read_to_end(&mut raw)?;
            Ok(raw)
        }
    }
}

//! The limits of a message's structure: header fields and header bytes of each header
//! section, MIME nesting depth and part count (`[limits]` of the configuration file).
//!
//! Owns: [`Limits`] and the check of a parsed tree against them. Must not: cut or repair a
//! message. A message over a limit is not parsed further: it is refused as a whole (the
//! gateway keeps it raw with the reason, SMTP answers `554 5.6.0` with it), because a view
//! of part of it (the first thousand parts, the first thirty levels) could route it where
//! the whole would not go.
//!
//! Why these defaults: real mail has tens of header fields and a few kilobytes of header,
//! nests a few levels (a forward of a forward) and holds tens of parts; Postfix refuses a
//! header section over 100 KiB (`header_size_limit`) and nests at most 100 levels
//! (`mime_nesting_limit`). The defaults leave room above real mail and stop a message built
//! to make the parser do quadratic or deep work.

use crate::ParseError;
use crate::entity::{Body, Entity, MAX_DEPTH};

/// The limits of one message's structure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Header fields of one header section (the message's, or a part's).
    pub max_header_fields: usize,
    /// Bytes of one header section, unfolded (the sum of the names and values).
    pub max_header_bytes: usize,
    /// Nesting of multiparts and embedded messages: a plain message is depth 0, a multipart
    /// with text parts 1. At most [`Limits::DEEPEST`].
    pub max_depth: usize,
    /// MIME entities in the whole tree (the message counts as one).
    pub max_parts: usize,
}

impl Limits {
    /// The deepest nesting the parser follows; `max_depth` cannot be set above it.
    pub const DEEPEST: usize = MAX_DEPTH - 1;
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_header_fields: 1000,
            max_header_bytes: 256 * 1024,
            max_depth: 20,
            max_parts: 1000,
        }
    }
}

/// What the walk has seen so far.
struct Seen {
    parts: usize,
}

/// Checks the tree under `root` against `limits`; the first limit passed is the error.
pub(crate) fn check(root: &Entity<'_>, limits: &Limits) -> Result<(), ParseError> {
    let mut seen = Seen { parts: 0 };
    check_entity(root, 0, limits, &mut seen)
}

fn check_entity(
    entity: &Entity<'_>,
    depth: usize,
    limits: &Limits,
    seen: &mut Seen,
) -> Result<(), ParseError> {
    seen.parts += 1;
    if seen.parts > limits.max_parts {
        return Err(over(format!(
            "more than {} MIME parts (max_parts)",
            limits.max_parts
        )));
    }
    let fields = entity.headers.len();
    if fields > limits.max_header_fields {
        return Err(over(format!(
            "{fields} header fields in one header section, more than {} (max_header_fields)",
            limits.max_header_fields
        )));
    }
    let bytes = entity.headers.size();
    if bytes > limits.max_header_bytes {
        return Err(over(format!(
            "a header section of {bytes} bytes, more than {} (max_header_bytes)",
            limits.max_header_bytes
        )));
    }
    let children: Vec<&Entity<'_>> = match &entity.body {
        Body::Multipart(parts) => parts.iter().collect(),
        Body::Message(_, inner) => vec![inner],
        // The parser stops at its deepest level and keeps the rest as one leaf: a container
        // there is deeper than any limit.
        Body::Leaf(_) if is_container(entity) && depth >= MAX_DEPTH => {
            return Err(too_deep(limits));
        }
        Body::Leaf(_) => Vec::new(),
    };
    if !children.is_empty() && depth + 1 > limits.max_depth {
        return Err(too_deep(limits));
    }
    children
        .into_iter()
        .try_for_each(|child| check_entity(child, depth + 1, limits, seen))
}

fn is_container(entity: &Entity<'_>) -> bool {
    entity.mime.starts_with("multipart/") || crate::entity::is_embedded_message(&entity.mime)
}

fn too_deep(limits: &Limits) -> ParseError {
    over(format!(
        "MIME parts nested more than {} levels deep (max_depth)",
        limits.max_depth
    ))
}

fn over(what: String) -> ParseError {
    ParseError::OverLimit(what)
}

//! The checkpoint handed back to the host after a collection and passed to
//! the next one: where the audit-log stream resumes. Opaque to the host; to
//! us a versioned JSON document:
//!
//! ```json
//! {"v":1,
//!  "next":{"cursor":"opaque"} | {"url":"https://api.atlassian.com/…"} | null,
//!  "lastProcessedMs":1717243203000,
//!  "recentIds":["evt-0999","evt-1000"]}
//! ```
//!
//! - `next`: the position the stream announced after the last page read (or,
//!   when it announced none, the position of that last page, which is read
//!   again); the next run resumes there.
//! - `lastProcessedMs`: the newest event processing time seen; without a
//!   `next` the next run reads from a little before it.
//! - `recentIds`: the events of the last page and of the last few minutes,
//!   so that whatever is read twice across runs is emitted once.

use serde::{Deserialize, Serialize};

use crate::pagination::Position;

const VERSION: u32 = 1;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Checkpoint {
    pub next: Option<Position>,
    pub last_processed_ms: Option<i64>,
    pub recent_ids: Vec<String>,
}

#[derive(Serialize, Deserialize)]
struct Versioned {
    v: u32,
    #[serde(flatten)]
    checkpoint: Checkpoint,
}

/// Why a checkpoint cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum Unreadable {
    /// It is not one this integration wrote.
    #[error("the checkpoint is not one this integration wrote: {0}")]
    NotOurs(serde_json::Error),
    /// It has another version than [`VERSION`].
    #[error("the checkpoint has version {0}, this integration reads version {VERSION}")]
    Version(u32),
}

impl Checkpoint {
    pub fn encode(&self) -> String {
        serde_json::to_string(&Versioned {
            v: VERSION,
            checkpoint: self.clone(),
        })
        .expect("a checkpoint serializes")
    }

    /// Reads a checkpoint this integration wrote; the reason otherwise.
    pub fn decode(text: &str) -> Result<Checkpoint, Unreadable> {
        let versioned: Versioned = serde_json::from_str(text).map_err(Unreadable::NotOurs)?;
        if versioned.v != VERSION {
            return Err(Unreadable::Version(versioned.v));
        }
        Ok(versioned.checkpoint)
    }

    /// Whether it holds anything worth passing on.
    pub fn is_empty(&self) -> bool {
        self.next.is_none() && self.last_processed_ms.is_none() && self.recent_ids.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_strangers() {
        let c = Checkpoint {
            next: Some(Position::Cursor("abc".into())),
            last_processed_ms: Some(5),
            recent_ids: vec!["e1".into()],
        };
        let text = c.encode();
        assert_eq!(
            text,
            r#"{"v":1,"next":{"cursor":"abc"},"lastProcessedMs":5,"recentIds":["e1"]}"#
        );
        assert_eq!(Checkpoint::decode(&text).unwrap(), c);
        assert!(matches!(
            Checkpoint::decode("garbage"),
            Err(Unreadable::NotOurs(_))
        ));
        assert!(matches!(
            Checkpoint::decode(r#"{"v":2,"next":null,"lastProcessedMs":null,"recentIds":[]}"#),
            Err(Unreadable::Version(2))
        ));
    }
}

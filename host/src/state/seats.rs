//! The team's seats as the vendor counted them, one answer per real sync
//! (the connector's `seats`, contract 0.4.0): licensed (paid for) and
//! provisioned (in use). The report and the console read the last answer
//! ([`crate::views::seats`]); a sync whose call failed, or whose connector
//! has no such counts, is stored too, so the page says "unknown" and why
//! rather than showing an older answer as current.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};

/// The schema (appended to the state database's migrations).
pub const MIGRATION: &str = "
    CREATE TABLE run_seats (
        run_id INTEGER PRIMARY KEY,
        integration TEXT NOT NULL,
        at TEXT NOT NULL,
        outcome TEXT NOT NULL,
        licensed INTEGER,
        provisioned INTEGER,
        error TEXT
    );";

/// What a sync learned of the seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The vendor's counts; either may be unknown to the vendor.
    Counts {
        licensed: Option<u64>,
        provisioned: Option<u64>,
    },
    /// The connector has no notion of seats (or its contract predates
    /// `seats`).
    NoSeats,
    /// The call failed: the counts are unknown for this run. The text says
    /// why, for the log and the database (pages do not show it).
    Failed(String),
}

impl Answer {
    fn outcome(&self) -> &'static str {
        match self {
            Answer::Counts { .. } => "counts",
            Answer::NoSeats => "none",
            Answer::Failed(_) => "failed",
        }
    }
}

/// A stored answer, with the run it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub run_id: i64,
    pub integration: String,
    /// When it was asked (RFC 3339, UTC).
    pub at: String,
    pub answer: Answer,
}

/// Stores run `run_id`'s answer (a run answers once; a second answer
/// replaces the first).
pub fn record(
    conn: &Connection,
    run_id: i64,
    integration: &str,
    at: &str,
    answer: &Answer,
) -> Result<()> {
    let (licensed, provisioned, error) = match answer {
        Answer::Counts {
            licensed,
            provisioned,
        } => (*licensed, *provisioned, None),
        Answer::NoSeats => (None, None, None),
        Answer::Failed(why) => (None, None, Some(why.as_str())),
    };
    let int = |n: Option<u64>| n.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
    conn.execute(
        "INSERT OR REPLACE INTO run_seats (run_id, integration, at, outcome, licensed, provisioned, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            run_id,
            integration,
            at,
            answer.outcome(),
            int(licensed),
            int(provisioned),
            error
        ],
    )?;
    Ok(())
}

/// The last answer stored (of the latest run that asked), if any.
pub fn last(conn: &Connection) -> Result<Option<Stored>> {
    let row = conn
        .query_row(
            "SELECT run_id, integration, at, outcome, licensed, provisioned, error
             FROM run_seats ORDER BY run_id DESC LIMIT 1",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, Option<i64>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            },
        )
        .optional()?;
    Ok(row.map(
        |(run_id, integration, at, outcome, licensed, provisioned, error)| {
            let count = |n: Option<i64>| n.and_then(|n| u64::try_from(n).ok());
            let answer = match outcome.as_str() {
                "counts" => Answer::Counts {
                    licensed: count(licensed),
                    provisioned: count(provisioned),
                },
                "none" => Answer::NoSeats,
                _ => Answer::Failed(error.unwrap_or_default()),
            };
            Stored {
                run_id,
                integration,
                at,
                answer,
            }
        },
    ))
}

impl super::StateDb {
    /// Stores run `run_id`'s seats, asked now.
    pub fn record_seats(&self, run_id: i64, integration: &str, answer: &Answer) -> Result<()> {
        record(
            &self.conn,
            run_id,
            integration,
            &crate::clock::now(),
            answer,
        )
    }

    /// The last seats stored.
    pub fn last_seats(&self) -> Result<Option<Stored>> {
        last(&self.conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateDb;

    #[test]
    fn the_last_answer_is_read_back_whatever_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let db = StateDb::open(&dir.path().join("s.db")).unwrap();
        assert_eq!(last(&db.conn).unwrap(), None);
        let counts = Answer::Counts {
            licensed: Some(110),
            provisioned: None,
        };
        record(&db.conn, 1, "i", "2026-03-01T10:00:00Z", &counts).unwrap();
        let got = last(&db.conn).unwrap().unwrap();
        assert_eq!((got.run_id, got.answer), (1, counts));
        // A later run that could not ask leaves the seats unknown, not the
        // older answer.
        let failed = Answer::Failed("vendor unavailable".into());
        record(&db.conn, 3, "i", "2026-03-02T10:00:00Z", &failed).unwrap();
        record(&db.conn, 2, "i", "2026-03-01T12:00:00Z", &Answer::NoSeats).unwrap();
        let got = last(&db.conn).unwrap().unwrap();
        assert_eq!((got.run_id, got.answer), (3, failed));
        // Counts beyond i64 are kept as the largest the database holds.
        let huge = Answer::Counts {
            licensed: Some(u64::MAX),
            provisioned: Some(0),
        };
        record(&db.conn, 4, "i", "2026-03-03T10:00:00Z", &huge).unwrap();
        assert_eq!(
            last(&db.conn).unwrap().unwrap().answer,
            Answer::Counts {
                licensed: Some(i64::MAX as u64),
                provisioned: Some(0)
            }
        );
    }
}

//! The JSON bodies the Oomnitza bulk API takes and returns.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

/// `POST /api/v3/bulk`. Records are pre-serialized JSON objects, so a
/// dry run prints exactly what would be sent.
#[derive(Debug, Serialize)]
pub struct BulkRequest<'a> {
    pub connector_version: &'a str,
    pub connector_name: &'a str,
    pub portion: &'a str,
    pub data_type: &'a str,
    pub sync_field: &'a [String],
    pub insert_only: bool,
    pub update_only: bool,
    pub test_run: bool,
    pub records: &'a [Map<String, Json>],
    pub error: Option<&'a str>,
}

/// What the bulk API answered. Oomnitza's answer varies by version: the
/// counts are read when present, and an answer without any (an empty body,
/// `{}`, `{"portion": …}`) still acknowledges the batch, whose records
/// then count as accepted.
#[derive(Debug, Default, Deserialize)]
pub struct BulkResponse {
    #[serde(default)]
    pub created: Option<u64>,
    #[serde(default)]
    pub updated: Option<u64>,
    #[serde(default)]
    pub unchanged: Option<u64>,
    #[serde(default)]
    pub skipped: Option<u64>,
    #[serde(default)]
    pub failed: Option<u64>,
}

impl BulkResponse {
    /// Whether the answer carried any count.
    pub fn counted(&self) -> bool {
        [
            self.created,
            self.updated,
            self.unchanged,
            self.skipped,
            self.failed,
        ]
        .iter()
        .any(Option::is_some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_answers_with_and_without_counts() {
        let with: BulkResponse =
            serde_json::from_str(r#"{"portion":"p","created":2,"updated":0}"#).unwrap();
        assert!(with.counted());
        assert_eq!((with.created, with.unchanged), (Some(2), None));
        for body in ["{}", r#"{"portion":"p"}"#, r#"{"created":null}"#] {
            let without: BulkResponse = serde_json::from_str(body).unwrap();
            assert!(!without.counted(), "{body}");
        }
        assert!(!BulkResponse::default().counted(), "an empty body");
    }
}

/// `POST /api/v3/bulk/<connector>/add_ready_portion`: a run with nothing to
/// send, or one that failed.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ReadyPortion<'a> {
    Empty {
        correlation_id: &'a str,
        is_empty_run: bool,
    },
    Failed {
        correlation_id: &'a str,
        failed: u32,
        error_message: &'a str,
        test_run: bool,
        error_type: &'a str,
    },
}

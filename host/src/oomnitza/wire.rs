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

/// What the bulk API answered. Oomnitza's answer varies by version; the
/// counts are read when present.
#[derive(Debug, Default, Deserialize)]
pub struct BulkResponse {
    #[serde(default)]
    pub created: u64,
    #[serde(default)]
    pub updated: u64,
    #[serde(default)]
    pub unchanged: u64,
    #[serde(default)]
    pub skipped: u64,
    #[serde(default)]
    pub failed: u64,
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

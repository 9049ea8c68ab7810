//! Posting batches to Oomnitza: up to `concurrency` bulk requests in
//! flight, each batch leaving the outbox once acknowledged.
//!
//! Acknowledgements are written in groups (every [`ACK_GROUP`] batches, or
//! [`ACK_WAIT`] after the first unwritten one, and at the end): one commit
//! instead of one per batch. A process killed before a group is written
//! sends those batches again on resume; Oomnitza counts them as unchanged.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::{Batch, BatchContext, Db, db_call};
use crate::oomnitza::OomnitzaClient;
use crate::oomnitza::wire::BulkResponse;

/// Acknowledged batches written per commit, at most.
const ACK_GROUP: usize = 8;
/// How long an acknowledgement may wait for its group.
const ACK_WAIT: Duration = Duration::from_millis(20);

#[derive(Default)]
pub(super) struct Totals {
    pub sent: u64,
    pub batches: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Records of batches whose answer carried no counts: Oomnitza
    /// accepted them without saying what it did.
    pub accepted: u64,
}

impl Totals {
    fn add(&mut self, n: u64, resp: &BulkResponse) {
        self.sent += n;
        self.batches += 1;
        if !resp.counted() {
            self.accepted += n;
            return;
        }
        self.created += resp.created.unwrap_or(0);
        self.updated += resp.updated.unwrap_or(0);
        self.unchanged += resp.unchanged.unwrap_or(0);
        self.skipped += resp.skipped.unwrap_or(0);
        self.failed += resp.failed.unwrap_or(0);
    }
}

type Posted = Result<(i64, u64, BulkResponse)>;

/// Posts batches until the channel closes. The first failure stops it: it
/// drops the receiver, which stops the listing; unacknowledged batches stay
/// in the outbox.
pub(super) async fn forward(
    mut rx: mpsc::Receiver<Batch>,
    client: Option<OomnitzaClient>,
    ctx: Arc<BatchContext>,
    concurrency: usize,
    db: Db,
) -> Result<Totals> {
    let mut totals = Totals::default();
    let Some(client) = client else {
        // Dry run: batches never reach this task.
        while rx.recv().await.is_some() {}
        return Ok(totals);
    };
    let mut tasks: JoinSet<Posted> = JoinSet::new();
    let mut failure: Option<anyhow::Error> = None;
    let mut acked: Vec<i64> = Vec::with_capacity(ACK_GROUP);
    let mut flush_at: Option<Instant> = None;
    let mut open = true;
    loop {
        if !open && tasks.is_empty() {
            // Done: the last acknowledgements are written below, at once.
            break;
        }
        let room = open && failure.is_none() && tasks.len() < concurrency;
        tokio::select! {
            biased;
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                match done {
                    Ok(Ok((id, n, resp))) => {
                        totals.add(n, &resp);
                        acked.push(id);
                        flush_at.get_or_insert_with(|| Instant::now() + ACK_WAIT);
                    }
                    Ok(Err(e)) => {
                        failure.get_or_insert(e);
                    }
                    Err(e) => {
                        failure.get_or_insert(anyhow!("bulk task failed: {e}"));
                    }
                }
            }
            _ = tokio::time::sleep_until(flush_at.unwrap_or_else(Instant::now)), if flush_at.is_some() => {
                flush(&db, &ctx, &mut acked, &mut flush_at)?;
            }
            batch = rx.recv(), if room => match batch {
                Some(batch) => {
                    let (client, ctx) = (client.clone(), ctx.clone());
                    tasks.spawn(async move {
                        let body = ctx.envelope.body(batch.records.as_bytes());
                        let resp = client.bulk_body(body).await?;
                        Ok((batch.id, batch.n, resp))
                    });
                }
                None => open = false,
            },
            else => break,
        }
        if acked.len() >= ACK_GROUP {
            flush(&db, &ctx, &mut acked, &mut flush_at)?;
        }
        if failure.is_some() && open {
            // Stop the listing; batches in flight still finish.
            rx.close();
            open = false;
        }
    }
    flush(&db, &ctx, &mut acked, &mut flush_at)?;
    match failure {
        None => Ok(totals),
        // A refused token is the whole story; how far the run got is not.
        Some(e) if is_unauthorized(&e) => Err(e),
        Some(e) => Err(e).context(format!(
            "posting to Oomnitza failed after {} records in {} batches",
            totals.sent, totals.batches
        )),
    }
}

fn is_unauthorized(e: &anyhow::Error) -> bool {
    matches!(
        e.downcast_ref::<crate::oomnitza::OomnitzaError>(),
        Some(crate::oomnitza::OomnitzaError::Unauthorized { .. })
    )
}

/// The listing stopped because the forwarder did (it closed the channel):
/// the forwarder's error is the cause to report, not this.
#[derive(Debug)]
pub(super) struct ForwarderStopped;

impl std::fmt::Display for ForwarderStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("stopped: posting to Oomnitza failed")
    }
}

impl std::error::Error for ForwarderStopped {}

/// Writes the acknowledged batches: they must never be sent again.
fn flush(
    db: &Db,
    ctx: &BatchContext,
    acked: &mut Vec<i64>,
    flush_at: &mut Option<Instant>,
) -> Result<()> {
    if !acked.is_empty() {
        db_call(db, |d| d.ack_batches(&ctx.connector_name, acked))?;
        acked.clear();
    }
    *flush_at = None;
    Ok(())
}

//! What a run did: the counts, and the summary printed at the end.

use std::time::Duration;

/// What a run did; printed at the end and returned to tests.
#[derive(Debug, Clone, Default)]
pub struct SyncReport {
    pub portion: String,
    pub pages: u64,
    pub fetched: u64,
    pub mapped: u64,
    pub failed: u64,
    pub filtered: u64,
    /// Records posted to Oomnitza (mapped and failed-raw).
    pub sent: u64,
    pub batches: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
    pub rejected: u64,
    /// Records Oomnitza acknowledged in answers that carried no counts.
    pub accepted: u64,
    pub vendor_retries: u64,
    /// Retries of Oomnitza calls (429, 5xx, network).
    pub oomnitza_retries: u64,
    pub requests: u64,
    pub denied: u64,
    /// This run resumed an unfinished portion.
    pub resumed: bool,
    /// Records not sent because they did not change since last sent.
    pub unchanged_skipped: u64,
    /// Records not queued again because the portion already had them.
    pub already_queued: u64,
    /// Times the listing restarted after an expired cursor.
    pub cursor_restarts: u64,
    /// Batches still waiting in the outbox when the run ended.
    pub pending_batches: u64,
    /// Stopped by a signal, checkpointed.
    pub stopped: bool,
    /// SaaS users deactivated because Dropbox no longer lists them.
    pub saas_deactivated: u64,
    /// SaaS users this tool had deactivated, reactivated because Dropbox
    /// lists them again.
    pub saas_reactivated: u64,
    /// SaaS users a refused mass deactivation would have deactivated.
    pub saas_refused: u64,
    /// Why SaaS reconciliation did not run, when it was asked for.
    pub saas_note: Option<String>,
    pub elapsed: Duration,
    pub dry_run: bool,
    pub test_run: bool,
    /// The run (its portion) sends every record, changed or not.
    pub full: bool,
    /// Why the run failed, if it did.
    pub error: Option<String>,
}

impl SyncReport {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    /// The human summary printed at the end of a run.
    pub fn render(&self) -> String {
        let status = match &self.error {
            None if self.stopped => format!(
                "stopped by a signal: portion {} is checkpointed; run `oomnitza-connect sync` to resume it",
                self.portion
            ),
            None if self.dry_run => "dry run (nothing sent)".to_string(),
            None => "succeeded".to_string(),
            Some(e) => format!("FAILED: {e}"),
        };
        let rate = self.fetched as f64 / self.elapsed.as_secs_f64().max(1e-9);
        let mut s = format!(
            "sync {status}\n  portion        {}{}{}{}\n  pages          {}\n  fetched        {}\n  mapped         {}\n  failed         {}\n  filtered out   {}\n  {}{} in {} batches\n",
            self.portion,
            if self.test_run { " (test run)" } else { "" },
            if self.full && !self.test_run {
                " (full run)"
            } else {
                ""
            },
            if self.resumed { " (resumed)" } else { "" },
            self.pages,
            self.fetched,
            self.mapped,
            self.failed,
            self.filtered,
            if self.dry_run {
                "would send     "
            } else {
                "sent           "
            },
            self.sent,
            self.batches,
        );
        if !self.dry_run {
            s.push_str(&format!("  oomnitza       {}\n", self.oomnitza_counts()));
        }
        s.push_str(&format!(
            "  not sent       {} unchanged since last sent, {} already queued in this portion\n",
            self.unchanged_skipped, self.already_queued
        ));
        if self.pending_batches > 0 {
            s.push_str(&format!(
                "  outbox         {} batches wait for Oomnitza; the next run sends them first\n",
                self.pending_batches
            ));
        }
        if self.cursor_restarts > 0 {
            s.push_str(&format!(
                "  listing        restarted {} time(s) after an expired cursor\n",
                self.cursor_restarts
            ));
        }
        if self.saas_deactivated > 0
            || self.saas_reactivated > 0
            || self.saas_refused > 0
            || self.saas_note.is_some()
        {
            s.push_str(&format!(
                "  saas users     {} deactivated (no longer listed), {} reactivated (listed again){}{}\n",
                self.saas_deactivated,
                self.saas_reactivated,
                match self.saas_refused {
                    0 => String::new(),
                    n => format!("; {n} deactivations refused (saas.max_deactivations)"),
                },
                self.saas_note
                    .as_ref()
                    .map(|n| format!("; {n}"))
                    .unwrap_or_default()
            ));
        }
        s.push_str(&format!(
            "  vendor calls   {} ({} retried, {} refused by the sandbox); Oomnitza calls retried {}\n  time           {:.2} s ({:.0} records/s)",
            self.requests,
            self.vendor_retries,
            self.denied,
            self.oomnitza_retries,
            self.elapsed.as_secs_f64(),
            rate
        ));
        s
    }

    /// What Oomnitza did with the records sent. Answers without counts
    /// still acknowledged their records: those are "accepted".
    pub fn oomnitza_counts(&self) -> String {
        let counted = format!(
            "{} created, {} updated, {} unchanged, {} skipped, {} failed",
            self.created, self.updated, self.unchanged, self.skipped, self.rejected
        );
        if self.accepted == 0 {
            return counted;
        }
        let accepted = format!(
            "{} accepted (Oomnitza's answers carried no counts)",
            self.accepted
        );
        if self.accepted == self.sent {
            accepted
        } else {
            format!("{counted}; {accepted}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_says_what_oomnitza_accepted_and_what_a_dry_run_would_send() {
        let mut r = SyncReport {
            sent: 250,
            batches: 3,
            accepted: 250,
            full: true,
            ..Default::default()
        };
        let text = r.render();
        assert!(text.contains("(full run)"), "{text}");
        assert!(
            text.contains("oomnitza       250 accepted (Oomnitza's answers carried no counts)"),
            "{text}"
        );
        assert!(!text.contains("0 created"), "{text}");
        r.accepted = 50;
        r.created = 200;
        assert!(
            r.render()
                .contains("200 created, 0 updated, 0 unchanged, 0 skipped, 0 failed; 50 accepted"),
            "{}",
            r.render()
        );
        let dry = SyncReport {
            dry_run: true,
            sent: 230,
            batches: 3,
            ..Default::default()
        };
        let text = dry.render();
        assert!(text.contains("would send     230 in 3 batches"), "{text}");
        assert!(!text.contains("oomnitza "), "{text}");
    }
}

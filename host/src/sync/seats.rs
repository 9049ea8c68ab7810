//! The team's seats, asked of the connector once per real sync (`seats`,
//! contract 0.4.0), after a listing that ended well, and stored with the
//! run ([`crate::state::seats`]) for the report and the console.
//!
//! Only a number to show: a failure leaves the seats unknown for the run
//! (logged, stored as such) and never fails the sync.

use crate::integration::Integration;
use crate::state::seats::Answer;

/// The connector's answer, in its own instance.
pub(super) async fn ask(integration: &Integration) -> Answer {
    let answer = async {
        let mut inst = integration.instance().await?;
        inst.seats().await
    }
    .await;
    let unknown = |why: String| {
        tracing::warn!("the team's seats are unknown for this run: {why}");
        Answer::Failed(why)
    };
    match answer {
        Ok(Ok(Some(c))) => {
            let show = |n: Option<u64>| n.map_or_else(|| "unknown".to_owned(), |n| n.to_string());
            tracing::info!(
                "seats: {} licensed, {} provisioned (the vendor's counts)",
                show(c.licensed),
                show(c.provisioned)
            );
            Answer::Counts {
                licensed: c.licensed,
                provisioned: c.provisioned,
            }
        }
        Ok(Ok(None)) => {
            tracing::debug!("the connector gives no seat counts");
            Answer::NoSeats
        }
        Ok(Err(e)) => unknown(crate::vendor::describe(integration, &e)),
        Err(e) => unknown(format!("{e:#}")),
    }
}

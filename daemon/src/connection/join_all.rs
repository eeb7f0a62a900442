//! [`join_all`]: awaits several futures at once (the jobs a listing asks about, the hosts it
//! resolves), on the calling task.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

/// Awaits every future concurrently; their outputs in order.
pub async fn join_all<F: Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let mut running: Vec<Pin<Box<F>>> = futures.map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = running.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, fut) in out.iter_mut().zip(running.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn outputs_come_in_order_whatever_finishes_first() {
        let delays = [30u64, 10, 20];
        let out = join_all(delays.iter().map(|d| async move {
            tokio::time::sleep(std::time::Duration::from_millis(*d)).await;
            *d
        }))
        .await;
        assert_eq!(out, delays);
    }
}

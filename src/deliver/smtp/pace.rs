//! `smtp.max_per_second`: one schedule of send slots for the whole run, whatever the number of
//! connections (each try waits for the next slot before its MAIL), and, on a ledger that several
//! runners share (PostgreSQL), one schedule for all of them: the slots are reserved in the
//! database, one `1 / max_per_second` after the last one any runner reserved. Never the limit
//! times the connections or the runners.
//!
//! A slot is never earlier than now: an idle period builds no burst to spend later.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// Send slots shared by every runner of a store.
pub trait SharedPace: Send + Sync {
    /// Reserves for `server` the slot one `interval` after the last one any runner reserved, and
    /// not before now: how long from now it is. Blocking (a database call, asked once).
    fn reserve(&self, server: &str, interval: Duration) -> Result<Duration, String>;
}

/// The run's pace.
pub(super) struct Pace {
    interval: Duration,
    /// The next free slot of this process (its own schedule, and the one used should the shared
    /// one fail).
    next: Mutex<Option<Instant>>,
    shared: Option<(Arc<dyn SharedPace>, String)>,
    /// When the shared schedule last failed: this process keeps its own for [`SHARED_RETRY`] (the
    /// first failure is said, once).
    failed_at: Mutex<Option<Instant>>,
}

/// After the shared schedule failed, how long this process keeps its own before asking again (a
/// database that is down would otherwise cost each try a wait).
const SHARED_RETRY: Duration = Duration::from_secs(60);

/// The longest wait the shared schedule may give: longer means a clock stepped or a runner asked
/// with a far lower limit; this process then keeps its own schedule instead of sleeping on it.
const LONGEST_SHARED_WAIT: Duration = Duration::from_secs(60);

impl Pace {
    /// `per_second` slots a second.
    pub(super) fn new(per_second: u32) -> Pace {
        Pace {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(None),
            shared: None,
            failed_at: Mutex::new(None),
        }
    }

    /// The slots of `server` are reserved in `shared`.
    pub(super) fn share(&mut self, shared: Arc<dyn SharedPace>, server: String) {
        self.shared = Some((shared, server));
    }

    /// Returns at the next slot reserved for this caller.
    pub(super) async fn wait(&self) {
        let at = match &self.shared {
            Some(_) if self.shared_failed_lately() => self.reserve_here(),
            Some((shared, server)) => match self.reserve_shared(shared, server).await {
                Ok(at) => at,
                Err(why) => {
                    let earlier = self
                        .failed_at
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .replace(Instant::now());
                    if earlier.is_none() {
                        tracing::warn!(
                            "smtp.max_per_second: the slots shared with other runners cannot be \
                             reserved ({why}); this runner keeps to the limit alone"
                        );
                    }
                    self.reserve_here()
                }
            },
            None => self.reserve_here(),
        };
        tokio::time::sleep_until(at).await;
    }

    fn shared_failed_lately(&self) -> bool {
        let failed_at = *self.failed_at.lock().unwrap_or_else(|p| p.into_inner());
        failed_at.is_some_and(|at| at.elapsed() < SHARED_RETRY)
    }

    /// The next slot of this process's schedule.
    fn reserve_here(&self) -> Instant {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let at = next.map_or(now, |next| next.max(now));
        *next = Some(at + self.interval);
        at
    }

    async fn reserve_shared(
        &self,
        shared: &Arc<dyn SharedPace>,
        server: &str,
    ) -> Result<Instant, String> {
        let (shared, server, interval) = (shared.clone(), server.to_string(), self.interval);
        let wait = tokio::task::spawn_blocking(move || shared.reserve(&server, interval))
            .await
            .map_err(|e| format!("the reservation did not end: {e}"))??;
        if wait > LONGEST_SHARED_WAIT {
            return Err(format!("the next slot is {} s away", wait.as_secs()));
        }
        // From when the answer came: never earlier than the slot the database gave.
        Ok(Instant::now() + wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sixteen connections asking at once get slots exactly one interval apart: the limit, not
    /// the limit times the connections.
    #[tokio::test(start_paused = true)]
    async fn sixteen_connections_share_one_schedule() {
        let pace = Arc::new(Pace::new(100));
        let start = Instant::now();
        let sent = Arc::new(Mutex::new(Vec::new()));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (pace, sent) = (pace.clone(), sent.clone());
                tokio::spawn(async move {
                    for _ in 0..25 {
                        pace.wait().await;
                        sent.lock().unwrap().push(start.elapsed());
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let mut sent = sent.lock().unwrap().clone();
        sent.sort();
        assert_eq!(sent.len(), 400);
        for (n, at) in sent.iter().enumerate() {
            assert_eq!(*at, Duration::from_millis(10 * n as u64), "slot {n}");
        }
    }

    /// A pause builds no burst: after an idle second, slots are again one interval apart.
    #[tokio::test(start_paused = true)]
    async fn an_idle_period_builds_no_burst() {
        let pace = Pace::new(10);
        pace.wait().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let start = Instant::now();
        for _ in 0..3 {
            pace.wait().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(200));
    }

    /// A shared schedule that fails, or answers with an hour's wait, counting how often it is asked.
    struct Broken(std::sync::atomic::AtomicU32, Result<Duration, String>);
    impl SharedPace for Broken {
        fn reserve(&self, _: &str, _: Duration) -> Result<Duration, String> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.1.clone()
        }
    }

    /// A shared schedule that fails (or gives an hour's wait) leaves this process to its own
    /// limit, not none and not asleep, and is not asked again for a minute.
    #[tokio::test(start_paused = true)]
    async fn a_failing_shared_schedule_falls_back_to_the_local_one() {
        for answer in [
            Err("unreachable".to_string()),
            Ok(Duration::from_secs(3600)),
        ] {
            let broken = Arc::new(Broken(Default::default(), answer));
            let mut pace = Pace::new(10);
            pace.share(broken.clone(), "smtp://relay".into());
            let start = Instant::now();
            for _ in 0..4 {
                pace.wait().await;
            }
            assert_eq!(start.elapsed(), Duration::from_millis(300));
            assert_eq!(broken.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        }
    }
}

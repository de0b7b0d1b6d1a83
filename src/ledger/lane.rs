//! A thread of a ledger's own, that takes its calls one after another: for a store whose calls are
//! one at a time anyway (SQLite: one connection behind a lock). A run hands each call to it and
//! waits without blocking its own thread; a hop to the blocking pool costs more than the call
//! (tokio wakes or starts a pool thread for each), and a call made on the run's thread holds up
//! every other email of the run while it commits.

use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, Sender};

type Call = Box<dyn FnOnce() + Send>;

/// The thread, and the way to it. The thread ends once the lane is dropped and its calls are done.
pub struct Lane(Sender<Call>);

impl Lane {
    /// A new lane, on a thread named `tripmail-ledger`; `None` when no thread can be started (the
    /// calls then go to the blocking pool, as for any store).
    pub(crate) fn start() -> Option<Lane> {
        let (calls, taken) = channel::<Call>();
        std::thread::Builder::new()
            .name("tripmail-ledger".into())
            .spawn(move || {
                while let Ok(call) = taken.recv() {
                    // A panic (a bug) ends that call only: its caller is told the call failed.
                    let _ = std::panic::catch_unwind(AssertUnwindSafe(call));
                }
            })
            .ok()?;
        Some(Lane(calls))
    }

    /// `f`'s result, run on the lane after the calls handed to it before; `None` when it did not
    /// run to its end (it panicked) or the lane's thread is gone.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let call: Call = Box::new(move || {
            // The caller gone (its run dropped): nobody to tell.
            let _ = answer.send(f());
        });
        self.0.send(call).ok()?;
        answered.await.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::Lane;

    #[tokio::test]
    async fn calls_run_in_order_on_one_thread_and_a_panic_ends_only_its_own() {
        let lane = Lane::start().unwrap();
        let first = lane.run(|| std::thread::current().id()).await;
        let panicked = lane.run(|| -> u8 { panic!("a bug") }).await;
        let after = lane.run(|| std::thread::current().id()).await;
        assert_eq!(panicked, None);
        assert!(first.is_some());
        assert_eq!(first, after, "one thread for every call");
        assert_ne!(first, Some(std::thread::current().id()));
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let runs = (0..20).map(|n| {
            let order = order.clone();
            lane.run(move || order.lock().unwrap().push(n))
        });
        futures::future::join_all(runs).await;
        assert_eq!(*order.lock().unwrap(), (0..20).collect::<Vec<_>>());
    }
}

//! A thread of a ledger's own, that takes its calls one after another: for a store whose calls are
//! one at a time anyway (SQLite: one connection behind a lock). A run hands each call to it and
//! waits without blocking its own thread; a hop to the blocking pool costs more than the call
//! (tokio wakes or starts a pool thread for each), and a call made on the run's thread holds up
//! every other email of the run while it commits.
//!
//! Calls that record the end of a send go first ([`Lane::run_first`]): the time from a server's
//! reply to its commit is the window in which a crash leaves the email in doubt, and it should not
//! wait behind the claims and lookups of emails still being prepared.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::mpsc::{channel, Receiver, Sender};

type Call = Box<dyn FnOnce() + Send>;

/// A call, and whether it goes before the others waiting.
struct Queued {
    first: bool,
    call: Call,
}

/// The thread, and the way to it. The thread ends once the lane is dropped and its calls are done.
pub struct Lane(Sender<Queued>);

impl Lane {
    /// A new lane, on a thread named `tripmail-ledger`; `None` when no thread can be started (the
    /// calls then go to the blocking pool, as for any store).
    pub(crate) fn start() -> Option<Lane> {
        let (calls, taken) = channel::<Queued>();
        std::thread::Builder::new()
            .name("tripmail-ledger".into())
            .spawn(move || serve(&taken))
            .ok()?;
        Some(Lane(calls))
    }

    /// `f`'s result, run on the lane after the calls handed to it before; `None` when it did not
    /// run to its end (it panicked) or the lane's thread is gone.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        self.queue(false, f).await
    }

    /// [`run`](Self::run), before the calls waiting that were not handed over with `run_first`.
    pub async fn run_first<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        self.queue(true, f).await
    }

    async fn queue<T: Send + 'static>(
        &self,
        first: bool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let call: Call = Box::new(move || {
            // The caller gone (its run dropped): nobody to tell.
            let _ = answer.send(f());
        });
        self.0.send(Queued { first, call }).ok()?;
        answered.await.ok()
    }
}

/// The lane's thread: every call handed over, those marked first before the others (each kind in
/// the order it came), until the lane is dropped and nothing is left.
fn serve(taken: &Receiver<Queued>) {
    let (mut first, mut then) = (VecDeque::new(), VecDeque::new());
    loop {
        if first.is_empty() && then.is_empty() {
            match taken.recv() {
                Ok(q) => (if q.first { &mut first } else { &mut then }).push_back(q.call),
                Err(_) => return,
            }
        }
        while let Ok(q) = taken.try_recv() {
            (if q.first { &mut first } else { &mut then }).push_back(q.call);
        }
        if let Some(call) = first.pop_front().or_else(|| then.pop_front()) {
            // A panic (a bug) ends that call only: its caller is told the call failed.
            let _ = std::panic::catch_unwind(AssertUnwindSafe(call));
        }
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

    #[tokio::test]
    async fn calls_marked_first_pass_those_waiting() {
        let lane = Lane::start().unwrap();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (hold, held) = std::sync::mpsc::channel::<()>();
        // The lane is busy with this one while the others queue.
        let busy = lane.run(move || held.recv().is_ok());
        let push = |n: u32| {
            let order = order.clone();
            move || order.lock().unwrap().push(n)
        };
        let later = futures::future::join_all((0..3).map(|n| lane.run(push(n))));
        let first = futures::future::join_all((10..12).map(|n| lane.run_first(push(n))));
        let release = async {
            // Every call is handed over once each future is polled; then the busy one may end.
            tokio::task::yield_now().await;
            hold.send(()).unwrap();
        };
        let (busy, _, _, ()) = tokio::join!(busy, later, first, release);
        assert_eq!(busy, Some(true));
        assert_eq!(*order.lock().unwrap(), vec![10, 11, 0, 1, 2]);
    }
}

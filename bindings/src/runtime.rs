//! Where the work runs.
//!
//! Blocking calls (`*_blocking`) run the core's future on the caller's thread with a small
//! thread-parking executor: no thread hop, so a call costs what the core costs. Async calls hand
//! the same work to a blocking thread of one shared tokio runtime and let the host's executor
//! (asyncio, coroutines, Swift tasks) await it, so a UI or event-loop thread never does crypto
//! or waits on a host callback. Both enter the runtime's context, which the built-in did:web
//! client (reqwest) needs.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use crate::error::{DidCommError, Result};

static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();

/// The shared runtime, started on first use.
fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                // I/O only (did:web, and the agent's transports): the envelope work runs on
                // blocking threads or on the caller's.
                .worker_threads(2)
                .thread_name("didcomm-edge")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
        .ok_or_else(|| DidCommError::invalid_state("could not start the async runtime"))
}

/// Wakes a thread parked in [`block_on`].
struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Drive `future` to completion on this thread. Safe to nest (a host callback may call a
/// blocking method again) and to call from any thread, including the runtime's own.
pub(crate) fn block_on<F: Future>(future: F) -> Result<F::Output> {
    let _context = runtime()?.enter();
    let mut future = pin!(future);
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return Ok(output),
            // A spurious unpark only costs one more poll.
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Poll `future` once on this thread, in the runtime's context, with a waker that does nothing:
/// its output when it finishes without waiting. Pending, it is to be finished by
/// [`finish_off_thread`] (whose polls bring their own waker).
#[cfg(feature = "python")]
pub(crate) fn poll_once<F: Future + Unpin>(future: &mut F) -> Result<Poll<F::Output>> {
    let _context = runtime()?.enter();
    let mut cx = Context::from_waker(Waker::noop());
    Ok(std::pin::Pin::new(future).poll(&mut cx))
}

/// Finish `future` on a blocking thread of the runtime and hand its output to `done` there.
#[cfg(feature = "python")]
pub(crate) fn finish_off_thread<F, D>(future: F, done: D) -> Result<()>
where
    F: Future + Send + 'static,
    F::Output: Send,
    D: FnOnce(Result<F::Output>) + Send + 'static,
{
    drop(runtime()?.spawn_blocking(move || done(block_on(future))));
    Ok(())
}

/// Run `work` (which may block: crypto, host callbacks) on a blocking thread of the runtime
/// and await its result from any executor.
pub(crate) async fn off_thread<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    runtime()?
        .spawn_blocking(work)
        .await
        .map_err(|_| DidCommError::invalid_state("the operation's thread stopped unexpectedly"))?
}

/// Run `future` as a task of the runtime (the agent's transports, timers and background tasks
/// need one) and await it from any executor. Dropping the returned future (the host cancelled
/// its call) aborts the task, as dropping a Rust future cancels it.
pub(crate) async fn on_runtime<F>(future: F) -> Result<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    struct AbortOnDrop(tokio::task::JoinHandle<()>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let (done, output) = tokio::sync::oneshot::channel();
    let task = runtime()?.spawn(async move {
        let _ = done.send(future.await);
    });
    let _abort = AbortOnDrop(task);
    output
        .await
        .map_err(|_| DidCommError::invalid_state("the operation's task stopped unexpectedly"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_on_waits_for_wakeups_from_other_threads() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            let _ = tx.send(7);
        });
        assert_eq!(block_on(rx).unwrap().unwrap(), 7);
    }

    #[test]
    fn block_on_nests() {
        let inner = block_on(async { block_on(async { 3 }).unwrap() + 1 }).unwrap();
        assert_eq!(inner, 4);
    }

    #[test]
    fn on_runtime_runs_in_the_runtime_and_returns() {
        // tokio::time needs the runtime's context: it is there although the caller's executor
        // (here block_on, standing in for asyncio or coroutines) is not tokio.
        let slept = block_on(async {
            on_runtime(async {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                tokio::runtime::Handle::try_current().is_ok()
            })
            .await
        })
        .unwrap()
        .unwrap();
        assert!(slept);
    }

    #[test]
    fn off_thread_runs_elsewhere_and_returns() {
        let caller = std::thread::current().id();
        let other = block_on(off_thread(
            move || Ok(std::thread::current().id() != caller),
        ))
        .unwrap()
        .unwrap();
        assert!(other);
    }
}

//! Where guest code runs.
//!
//! A guest starts on the caller's own task, so an honest card that spends
//! its time waiting on HTTP costs no thread hop. Guests yield at every epoch
//! tick ([`crate::engine::EPOCH_TICK`]); a guest that is still computing when
//! a tick comes — one that spins, or just computes for long — is moved at that
//! moment to threads of its own: a small multi-threaded tokio runtime, one
//! thread per CPU by default. So a guest holds a thread that serves requests
//! for at most one tick, after which spinning guests cost the server a share
//! of the CPU, never its event loop: `/healthz`, the OAuth callback, other
//! invocations and shutdown keep being answered. On the guest threads guests
//! keep yielding every tick, so they share those threads fairly, and a
//! cancelled invocation (its caller gone, its deadline passed) is dropped at
//! its next tick.
//!
//! Why not always run guests on their own threads: the hop there and back
//! costs two thread wake-ups per invocation, tens of microseconds on a
//! virtual machine, which is more than an I/O-free card costs in all. Why not
//! only yield on the caller's runtime: each spinning guest would then hold a
//! server worker a tick at a time, for as long as it spins, so with more
//! spinners than cores every request waits a tick or two. BENCHMARKS.md
//! ("Health while guests spin") has the figures.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

/// The guest thread pool (or, with `guest_threads = 0`, the caller's own
/// runtime).
pub struct GuestExecutor {
    runtime: Option<tokio::runtime::Runtime>,
    threads: usize,
}

impl std::fmt::Debug for GuestExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestExecutor")
            .field("threads", &self.threads)
            .finish()
    }
}

/// The guest task ended without a result: it panicked in the host, or the
/// pool shut down under it.
#[derive(Debug, thiserror::Error)]
#[error("the guest task ended abnormally: {0}")]
pub struct TaskLost(String);

impl GuestExecutor {
    /// A pool of `threads` guest threads (`None`: one per CPU; `Some(0)`: no
    /// pool, guests run on the caller's runtime).
    pub fn new(threads: Option<usize>) -> std::io::Result<Self> {
        let threads = threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(usize::from)
                .unwrap_or(2)
        });
        if threads == 0 {
            return Ok(Self {
                runtime: None,
                threads,
            });
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("cardhost-guest")
            .max_blocking_threads(threads.max(4))
            .enable_all()
            .build()?;
        Ok(Self {
            runtime: Some(runtime),
            threads,
        })
    }

    /// Guest threads (0 when guests run on the caller's runtime).
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `work` on the caller's task until `moved` is set (by the guest's
    /// epoch callback, when a tick finds it still computing) and it next
    /// yields; from then on on the guest pool. Dropping the returned future
    /// cancels the work at its next yield, wherever it runs. The work stays
    /// in the caller's tracing span on either side, so what it logs and the
    /// spans it opens (the broker's upstream requests) belong to the caller's
    /// invocation.
    pub async fn run_moving<T, F>(&self, work: F, moved: Arc<AtomicBool>) -> Result<T, TaskLost>
    where
        F: Future<Output = T> + Send + 'static,
        T: Send + 'static,
    {
        use tracing::Instrument as _;
        let work = work.instrument(tracing::Span::current());
        let Some(runtime) = &self.runtime else {
            return Ok(work.await);
        };
        let mut work = Box::pin(work);
        let finished_here = std::future::poll_fn(|cx| match work.as_mut().poll(cx) {
            Poll::Ready(value) => Poll::Ready(Some(value)),
            Poll::Pending if moved.load(Ordering::Acquire) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        })
        .await;
        match finished_here {
            Some(value) => Ok(value),
            None => {
                let task = AbortOnDrop(runtime.spawn(work));
                task.await.map_err(|e| TaskLost(e.to_string()))
            }
        }
    }
}

impl Drop for GuestExecutor {
    fn drop(&mut self) {
        // Dropping a runtime from inside another one would panic; let its
        // threads finish in the background instead.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Runs blocking work (a SQLite call, compiling a component, deriving a
/// key) without holding up an async worker: on a multi-threaded runtime the
/// worker first hands its queued tasks to another thread
/// (`tokio::task::block_in_place`); outside one, it simply runs.
pub fn blocking<R>(work: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}

/// Aborts the spawned task when the waiting side goes away.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl<T> Future for AbortOnDrop<T> {
    type Output = Result<T, tokio::task::JoinError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.0).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn work_runs_on_guest_threads() {
        let pool = GuestExecutor::new(Some(1)).unwrap();
        let moved = Arc::new(AtomicBool::new(true));
        let name = pool
            .run_moving(
                async {
                    tokio::task::yield_now().await;
                    std::thread::current().name().map(str::to_string)
                },
                moved,
            )
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("cardhost-guest"));
    }

    #[tokio::test]
    async fn dropping_the_wait_cancels_the_work() {
        let pool = GuestExecutor::new(Some(1)).unwrap();
        let finished = Arc::new(AtomicBool::new(false));
        let flag = finished.clone();
        let wait = pool.run_moving(
            async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                flag.store(true, Ordering::SeqCst);
            },
            Arc::new(AtomicBool::new(true)),
        );
        assert!(
            tokio::time::timeout(Duration::from_millis(20), wait)
                .await
                .is_err()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(
            !finished.load(Ordering::SeqCst),
            "the work was not cancelled"
        );
    }

    #[tokio::test]
    async fn work_moves_to_the_guest_threads_only_when_told() {
        let pool = GuestExecutor::new(Some(1)).unwrap();
        let here = std::thread::current().id();
        let moved = Arc::new(AtomicBool::new(false));
        let stayed = pool
            .run_moving(async move { std::thread::current().id() }, moved.clone())
            .await
            .unwrap();
        assert_eq!(stayed, here, "a guest that never computes long stays put");
        let flag = moved.clone();
        let name = pool
            .run_moving(
                async move {
                    flag.store(true, Ordering::Release);
                    tokio::task::yield_now().await;
                    std::thread::current().name().map(str::to_string)
                },
                moved,
            )
            .await
            .unwrap();
        assert_eq!(name.as_deref(), Some("cardhost-guest"));
    }

    #[tokio::test]
    async fn zero_threads_runs_on_the_caller() {
        let pool = GuestExecutor::new(Some(0)).unwrap();
        assert_eq!(pool.threads(), 0);
        let moved = Arc::new(AtomicBool::new(true));
        assert_eq!(pool.run_moving(async { 7 }, moved).await.unwrap(), 7);
    }
}

//! A fixed set of worker threads behind a bounded queue.
//!
//! This starts from the pool of The Rust Programming Language (chapter 21),
//! and adds the three properties a server needs that it lacks:
//!
//! - **A bound.** The queue holds at most `capacity` items. When it is full,
//!   [`ThreadPool::try_submit`] hands the item straight back, so the caller
//!   (the accepting thread) can answer `503` at once instead of letting
//!   waiting connections pile up without limit (back-pressure).
//! - **Panics do not kill workers.** Each item is handled inside
//!   [`std::panic::catch_unwind`]; a panicking handler is logged and its
//!   worker takes the next item. The book's pool silently loses a worker per
//!   panic until none are left.
//! - **A drain on drop.** Dropping the pool stops intake, lets the workers
//!   finish every item already queued, and joins them: nothing accepted is
//!   lost.
//!
//! The pool is generic over the item type `T` rather than holding boxed
//! closures: the server queues `TcpStream`s, and a full queue must give the
//! stream back so it can still be answered.

use std::any::Any;
use std::collections::VecDeque;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};

use crate::log;

// ANCHOR: types
/// `workers` named threads that each take items from one bounded FIFO queue
/// and pass them to the same handler.
pub struct ThreadPool<T: Send + 'static> {
    /// The queue and its condition variable, shared with every worker.
    shared: Arc<Shared<T>>,
    /// One handle per worker, joined on drop.
    workers: Vec<Worker>,
}
// ANCHOR_END: types

// ANCHOR: shared
/// What the accepting thread and the workers share.
struct Shared<T> {
    /// The queue. The lock is held only to push or pop, never while an item
    /// is handled, so a slow item never blocks the accepting thread.
    queue: Mutex<Queue<T>>,
    /// Signalled when an item is pushed or the pool closes; idle workers
    /// sleep on it instead of spinning.
    available: Condvar,
}
// ANCHOR_END: shared

struct Queue<T> {
    /// Items waiting for a worker, oldest first.
    items: VecDeque<T>,
    /// The most items `items` may hold.
    capacity: usize,
    /// Set once, on drop: no more submissions; workers exit when `items` is empty.
    closed: bool,
}

/// A worker thread. The `id` appears in its thread name (`worker-3`), which
/// shows up in panic messages, `top -H` and `/proc/PID/task/*/comm`.
struct Worker {
    id: usize,
    thread: JoinHandle<()>,
}

impl<T: Send + 'static> ThreadPool<T> {
    /// Starts `workers` threads that call `handle(item)` for each submitted
    /// item, with room for `capacity` items waiting.
    ///
    /// # Errors
    /// `InvalidInput` if `workers` or `capacity` is zero; the OS error if a
    /// thread cannot be spawned (the threads already started are stopped).
    pub fn new<F>(workers: usize, capacity: usize, handle: F) -> io::Result<ThreadPool<T>>
    where
        F: Fn(T) + Send + Sync + 'static,
    {
        if workers == 0 || capacity == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "a pool needs at least one worker and room for one item",
            ));
        }
        let shared: Arc<Shared<T>> = Arc::new(Shared {
            queue: Mutex::new(Queue {
                // Grown on demand: a large bound must not cost memory up front.
                items: VecDeque::new(),
                capacity,
                closed: false,
            }),
            available: Condvar::new(),
        });
        let handle = Arc::new(handle);

        // ANCHOR: start
        // ANCHOR: milestone_3_1
        let mut pool = ThreadPool {
            shared,
            workers: Vec::with_capacity(workers),
        };
        for id in 0..workers {
            let shared = Arc::clone(&pool.shared);
            let handle = Arc::clone(&handle);
            // On error `pool` is dropped here, which stops and joins the
            // workers spawned so far.
            let thread = thread::Builder::new()
                .name(format!("worker-{id}"))
                .spawn(move || work(id, &shared, &*handle))?;
            pool.workers.push(Worker { id, thread });
        }
        Ok(pool)
        // ANCHOR_END: milestone_3_1
        // ANCHOR_END: start
    }

    // ANCHOR: try_submit
    /// Queues `item` for a worker, or gives it back if the queue is full.
    ///
    /// Never blocks: the caller is the accepting thread, which must stay free
    /// to accept (and refuse) connections.
    ///
    /// # Errors
    /// `Err(item)` when `capacity` items are already waiting.
    pub fn try_submit(&self, item: T) -> Result<(), T> {
        // ANCHOR: milestone_3_2
        let mut queue = lock(&self.shared.queue);
        if queue.closed || queue.items.len() >= queue.capacity {
            return Err(item);
        }
        queue.items.push_back(item);
        // Release the lock before waking a worker, so the worker does not
        // wake up only to block on the mutex we still hold.
        drop(queue);
        self.shared.available.notify_one();
        Ok(())
        // ANCHOR_END: milestone_3_2
    }
    // ANCHOR_END: try_submit

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// Stops intake, runs every queued item, and joins every worker. The same
    /// as dropping the pool, but reads better where the wait is the point.
    pub fn shutdown(self) {
        drop(self);
    }
}

// ANCHOR: drop
impl<T: Send + 'static> Drop for ThreadPool<T> {
    fn drop(&mut self) {
        // ANCHOR: milestone_3_4
        lock(&self.shared.queue).closed = true;
        // Every worker must see `closed`: those asleep on the condvar are
        // woken, and they exit only once the queue is empty.
        self.shared.available.notify_all();
        for worker in self.workers.drain(..) {
            if worker.thread.join().is_err() {
                // Unreachable in practice: items run under catch_unwind.
                log::error(&format!("worker-{} ended by a panic", worker.id));
            }
        }
        // ANCHOR_END: milestone_3_4
    }
}
// ANCHOR_END: drop

// ANCHOR: work
/// The body of a worker thread: take the oldest item, handle it without
/// holding the lock, repeat until the pool is closed and empty.
fn work<T>(id: usize, shared: &Shared<T>, handle: &(dyn Fn(T) + Send + Sync)) {
    // ANCHOR: milestone_3_3
    loop {
        let item = {
            let mut queue = lock(&shared.queue);
            loop {
                if let Some(item) = queue.items.pop_front() {
                    break item;
                }
                if queue.closed {
                    return;
                }
                // `wait` releases the lock while asleep and retakes it before
                // returning. Wake-ups can be spurious, hence the loop.
                queue = shared
                    .available
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }; // The lock is released here, before the item is handled.

        // AssertUnwindSafe: after a panic the item is gone and the worker
        // keeps no state from it, so nothing half-updated is observed later.
        if let Err(payload) = panic::catch_unwind(AssertUnwindSafe(|| handle(item))) {
            log::error(&format!(
                "worker-{id}: a request handler panicked ({}); the worker carries on",
                panic_message(payload.as_ref())
            ));
        }
    }
    // ANCHOR_END: milestone_3_3
}
// ANCHOR_END: work

/// Locks the queue. The lock is never held while user code runs, so it cannot
/// be poisoned by a handler's panic; if it ever were, the queue itself is
/// still consistent (every operation on it is a single push or pop).
fn lock<T>(queue: &Mutex<Queue<T>>) -> MutexGuard<'_, Queue<T>> {
    queue.lock().unwrap_or_else(PoisonError::into_inner)
}

fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "non-string panic payload"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    type Job = Box<dyn FnOnce() + Send>;

    /// A pool of closures: the simplest `T` to test the pool with.
    fn job_pool(workers: usize, capacity: usize) -> ThreadPool<Job> {
        ThreadPool::new(workers, capacity, |job: Job| job()).expect("pool starts")
    }

    /// Bound on every wait in these tests; reached only when the pool is broken.
    const PATIENCE: Duration = Duration::from_secs(10);

    /// Submits jobs that each report that they started, then block until
    /// released. Returns once all `count` have started, which can only happen
    /// if `count` workers run them at the same time.
    fn occupy_workers(pool: &ThreadPool<Job>, count: usize) -> Vec<mpsc::Sender<()>> {
        let (started_tx, started_rx) = mpsc::channel();
        let mut releases = Vec::new();
        for _ in 0..count {
            let started_tx = started_tx.clone();
            let (release_tx, release_rx) = mpsc::channel::<()>();
            releases.push(release_tx);
            let job: Job = Box::new(move || {
                started_tx.send(()).unwrap();
                // Returns when released, or when the sender is dropped.
                let _ = release_rx.recv_timeout(PATIENCE);
            });
            assert!(pool.try_submit(job).is_ok(), "queue has room");
        }
        for _ in 0..count {
            started_rx
                .recv_timeout(PATIENCE)
                .expect("every blocked job starts: the workers run in parallel");
        }
        releases
    }

    #[test]
    fn every_job_runs_exactly_once() {
        const JOBS: usize = 1000;
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new((0..JOBS).map(|_| AtomicUsize::new(0)).collect());
        let pool = job_pool(4, JOBS);
        for index in 0..JOBS {
            let counts = Arc::clone(&counts);
            let job: Job = Box::new(move || {
                counts[index].fetch_add(1, Ordering::SeqCst);
            });
            assert!(pool.try_submit(job).is_ok());
        }
        drop(pool);
        assert!(counts.iter().all(|count| count.load(Ordering::SeqCst) == 1));
    }

    #[test]
    fn n_slow_jobs_on_n_workers_run_in_parallel() {
        let pool = job_pool(4, 4);
        let releases = occupy_workers(&pool, 4);
        drop(releases);
    }

    #[test]
    fn panicking_jobs_leave_every_worker_alive() {
        const WORKERS: usize = 3;
        let pool = job_pool(WORKERS, 3 * WORKERS);
        for _ in 0..2 * WORKERS {
            let job: Job = Box::new(|| panic!("a handler bug"));
            assert!(pool.try_submit(job).is_ok());
        }
        // If any worker had died, fewer than WORKERS blocked jobs could start.
        let releases = occupy_workers(&pool, WORKERS);
        assert_eq!(pool.workers(), WORKERS);
        drop(releases);
    }

    #[test]
    fn full_queue_gives_the_item_back() {
        let pool = job_pool(1, 2);
        let releases = occupy_workers(&pool, 1);
        assert!(pool.try_submit(Box::new(|| {})).is_ok());
        assert!(pool.try_submit(Box::new(|| {})).is_ok());
        let refused = pool.try_submit(Box::new(|| {}));
        assert!(
            refused.is_err(),
            "third waiting item exceeds the capacity of 2"
        );
        drop(releases);
    }

    #[test]
    fn drop_runs_every_queued_job() {
        const QUEUED: usize = 50;
        let done = Arc::new(AtomicUsize::new(0));
        let pool = job_pool(1, QUEUED);
        let releases = occupy_workers(&pool, 1);
        for _ in 0..QUEUED - 1 {
            let done = Arc::clone(&done);
            let job: Job = Box::new(move || {
                done.fetch_add(1, Ordering::SeqCst);
            });
            assert!(pool.try_submit(job).is_ok());
        }
        // The only worker is busy and 49 jobs wait. Another thread releases
        // the worker while this one drops the pool: whichever happens first,
        // drop must not return before every queued job has run.
        let releaser = thread::spawn(move || drop(releases));
        drop(pool);
        assert_eq!(done.load(Ordering::SeqCst), QUEUED - 1);
        releaser.join().expect("releaser ends");
    }

    #[test]
    fn zero_workers_is_an_error() {
        assert!(ThreadPool::new(0, 1, |_: Job| {}).is_err());
        assert!(ThreadPool::new(1, 0, |_: Job| {}).is_err());
    }
}

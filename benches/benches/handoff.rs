//! Cross-thread handoff: how fast one producer thread can hand `u64` items
//! to a task on a tokio current-thread runtime through a bounded queue.
//!
//! - `array_queue_atomic_waker`: `crossbeam::queue::ArrayQueue` plus an
//!   `atomic_waker::AtomicWaker` that the producer wakes after every push;
//! - `tokio_mpsc`: `tokio::sync::mpsc::channel` (which wakes its receiver on
//!   every send).
//!
//! Both sides are written the same way so only the queue differs: the
//! producer is a std thread that offers each item without blocking
//! (`push` / `try_send`) and, when the queue is full, yields its time slice
//! and retries; the consumer drains everything available each time it is
//! woken (`pop` until empty / `recv_many`). Each iteration moves [`ITEMS`]
//! items through a queue of [`CAPACITY`] slots, including spawning the
//! producer thread and allocating the queue, which both variants pay alike.
//!
//! Run: `cargo bench -p tickforge-benches --bench handoff`. Figures are in
//! `benches/RESULTS.md`.

use std::future::poll_fn;
use std::hint::black_box;
use std::sync::Arc;
use std::task::Poll;
use std::thread;

use atomic_waker::AtomicWaker;
use criterion::{Criterion, Throughput, criterion_main};
use crossbeam::queue::ArrayQueue;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Items handed over per iteration (one batch).
const ITEMS: u64 = 100_000;
/// Slots in each bounded queue.
const CAPACITY: usize = 1024;
/// Sum of `0..ITEMS`, checked once per variant so a lost item cannot go unnoticed.
const EXPECTED_SUM: u64 = ITEMS * (ITEMS - 1) / 2;

fn current_thread_runtime() -> Runtime {
    match tokio::runtime::Builder::new_current_thread().build() {
        Ok(rt) => rt,
        Err(e) => panic!("cannot build a current-thread runtime: {e}"),
    }
}

fn join(producer: thread::JoinHandle<()>) {
    if let Err(panic) = producer.join() {
        std::panic::resume_unwind(panic);
    }
}

/// The queue and the consumer's waker, shared with the producer thread.
struct Handoff {
    queue: ArrayQueue<u64>,
    waker: AtomicWaker,
}

/// Moves one batch through `ArrayQueue` + `AtomicWaker`; returns the consumer's sum.
fn array_queue_batch(rt: &Runtime) -> u64 {
    let shared = Arc::new(Handoff {
        queue: ArrayQueue::new(CAPACITY),
        waker: AtomicWaker::new(),
    });
    let producer = {
        let shared = Arc::clone(&shared);
        thread::spawn(move || {
            for i in 0..ITEMS {
                let mut item = i;
                while let Err(rejected) = shared.queue.push(item) {
                    item = rejected;
                    thread::yield_now();
                }
                shared.waker.wake();
            }
        })
    };

    let (mut received, mut sum) = (0u64, 0u64);
    let sum = rt.block_on(poll_fn(|cx| {
        loop {
            while let Some(item) = shared.queue.pop() {
                sum += item;
                received += 1;
            }
            if received == ITEMS {
                return Poll::Ready(sum);
            }
            shared.waker.register(cx.waker());
            // An item pushed between the last pop and `register` woke nobody: look again.
            if shared.queue.is_empty() {
                return Poll::Pending;
            }
        }
    }));
    join(producer);
    sum
}

/// Moves one batch through a bounded `tokio::sync::mpsc` channel; returns the consumer's sum.
fn tokio_mpsc_batch(rt: &Runtime) -> u64 {
    let (tx, mut rx) = mpsc::channel::<u64>(CAPACITY);
    let producer = thread::spawn(move || {
        for i in 0..ITEMS {
            let mut item = i;
            loop {
                match tx.try_send(item) {
                    Ok(()) => break,
                    Err(TrySendError::Full(rejected)) => {
                        item = rejected;
                        thread::yield_now();
                    }
                    Err(TrySendError::Closed(_)) => panic!("the consumer stopped early"),
                }
            }
        }
    });

    let sum = rt.block_on(async {
        let mut buf = Vec::with_capacity(CAPACITY);
        let mut sum = 0u64;
        while rx.recv_many(&mut buf, CAPACITY).await > 0 {
            sum += buf.iter().sum::<u64>();
            buf.clear();
        }
        sum
    });
    join(producer);
    sum
}

fn bench_handoff(c: &mut Criterion) {
    let rt = current_thread_runtime();
    assert_eq!(array_queue_batch(&rt), EXPECTED_SUM);
    assert_eq!(tokio_mpsc_batch(&rt), EXPECTED_SUM);

    let mut group = c.benchmark_group("handoff");
    group.throughput(Throughput::Elements(ITEMS));
    group.sample_size(20);
    group.bench_function("array_queue_atomic_waker", |b| {
        b.iter(|| black_box(array_queue_batch(&rt)))
    });
    group.bench_function("tokio_mpsc", |b| {
        b.iter(|| black_box(tokio_mpsc_batch(&rt)))
    });
    group.finish();
}

/// The benchmark group; written out rather than with `criterion_group!`,
/// whose generated `pub fn` trips the workspace's `missing_docs` lint.
fn benches() {
    let mut criterion = Criterion::default().configure_from_args();
    bench_handoff(&mut criterion);
}

criterion_main!(benches);

//! Order-preserving data parallelism for the pure core: [`map`] runs a
//! function over a slice on scoped threads, one contiguous chunk per core,
//! and returns the results in the slice's order, so output stays
//! deterministic whatever the core count.
//!
//! Loading and validating thousands of manifests is CPU-bound and every item
//! is independent; small inputs stay on the calling thread, where spawning
//! would cost more than it saves.

use std::num::NonZeroUsize;

/// Below this many items, [`map`] does not spawn threads.
const MIN_PARALLEL_ITEMS: usize = 64;

/// Most threads [`map`] uses.
const MAX_THREADS: usize = 8;

/// `items.iter().map(f).collect()`, on up to one thread per core.
pub fn map<T, R, F>(items: &[T], f: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> R + Sync,
{
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(MAX_THREADS);
    if threads < 2 || items.len() < MIN_PARALLEL_ITEMS {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|scope| {
        let mut chunks = items.chunks(chunk);
        // The calling thread takes the first chunk itself.
        let first = chunks.next().unwrap_or_default();
        let handles: Vec<_> = chunks
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        let mut out: Vec<R> = first.iter().map(f).collect();
        out.reserve(items.len() - out.len());
        for handle in handles {
            match handle.join() {
                Ok(part) => out.extend(part),
                // A panic in `f` is a bug; carry it to the caller as the
                // sequential version would.
                Err(payload) => std::panic::resume_unwind(payload),
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::map;

    #[test]
    fn keeps_order_for_small_and_large_inputs() {
        for n in [0, 1, 63, 64, 65, 1000, 1001] {
            let items: Vec<usize> = (0..n).collect();
            let doubled = map(&items, |i| i * 2);
            assert_eq!(doubled, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
    }
}

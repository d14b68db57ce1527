//! The test binary's allocator: `gregor::alloc::GuardedAllocator` (huge requests
//! become lazily committed mappings, so a hostile wire length decoded in this
//! process is a decode error and not an abort) plus a per-thread note of the
//! largest huge request. The hostile tests use that note as an oracle: a mutated
//! frame whose decoding asked for ≥ 1 GiB really reached kafka-protocol's
//! `Vec::with_capacity(n)` hazard, and is worth sending to the real binary.
#![allow(unsafe_code, reason = "a GlobalAlloc is an unsafe trait; every call is forwarded unchanged")]

use gregor::alloc::{GuardedAllocator, HUGE_ALLOCATION_BYTES};
use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

pub struct ProbingAllocator;

thread_local! {
    // const-initialised and without Drop: touching it never allocates
    static LARGEST_HUGE_BYTES: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    if size >= HUGE_ALLOCATION_BYTES {
        let _ = LARGEST_HUGE_BYTES.try_with(|c| c.set(c.get().max(size)));
    }
}

/// The largest huge allocation this thread asked for since the last call (0 if none).
pub fn take_largest_huge_bytes() -> usize {
    LARGEST_HUGE_BYTES.with(|c| c.replace(0))
}

// SAFETY: every method forwards its arguments unchanged to `GuardedAllocator`, which
// upholds the GlobalAlloc contract; `note` only reads a size and never allocates.
unsafe impl GlobalAlloc for ProbingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        GuardedAllocator.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        GuardedAllocator.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        GuardedAllocator.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        GuardedAllocator.realloc(ptr, layout, new_size)
    }
}

//! The hostile-allocation guard: a global allocator that serves huge requests with
//! lazily committed memory.
//!
//! Why it exists: kafka-protocol 0.18's array decoders call `Vec::with_capacity(n)`
//! with `n` read straight off the wire. A 16-byte frame can claim two billion
//! elements; the system allocator then fails and Rust aborts the whole process
//! (an allocation failure is not a panic, so `catch_unwind` cannot stop it).
//!
//! What it does: requests of at least [`HUGE_ALLOCATION_BYTES`] are mapped with
//! `mmap(MAP_NORESERVE)`: address space only, pages committed when touched. The
//! decoder then fails at the first missing byte of the frame, the `Vec` is dropped
//! and the mapping returned, having touched at most a few pages. Legitimate
//! allocations never reach that size: frames are capped far below it
//! (`limits.frame_bytes_max`), and records are kept as slices of the frame.
//!
//! Our own bound beside it: the codec caps frame sizes before reading them, and at
//! start-up `check_overcommit` warns when the kernel runs in strict overcommit mode
//! (`vm.overcommit_memory=2`), where `MAP_NORESERVE` is ignored and this guard
//! cannot help.
#![allow(unsafe_code, reason = "a GlobalAlloc is an unsafe trait; see the module docs")]

use std::alloc::{GlobalAlloc, Layout, System};

/// Allocations at or above this size are mapped lazily. Far above any frame we accept.
pub const HUGE_ALLOCATION_BYTES: usize = 1 << 30;

/// The process allocator: the system allocator, with lazily committed huge mappings.
pub struct GuardedAllocator;

// SAFETY: small requests go to `System` unchanged. Huge requests get a fresh anonymous
// mapping, which is page aligned (page size ≥ any alignment Rust asks of a huge Vec, and
// we fall back to `System` for larger alignments), zero-filled, and unmapped in
// `dealloc` with the same length. `realloc` of a huge block copies into a new block.
unsafe impl GlobalAlloc for GuardedAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout) {
            return map_lazy(layout.size());
        }
        System.alloc(layout)
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout) {
            // anonymous mappings are zero-filled
            return map_lazy(layout.size());
        }
        System.alloc_zeroed(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(layout) {
            libc::munmap(ptr.cast(), layout.size());
            return;
        }
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
        if !is_huge(layout) && !is_huge(new_layout) {
            return System.realloc(ptr, layout, new_size);
        }
        let new_ptr = self.alloc(new_layout);
        if !new_ptr.is_null() {
            std::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
            self.dealloc(ptr, layout);
        }
        new_ptr
    }
}

fn is_huge(layout: Layout) -> bool {
    layout.size() >= HUGE_ALLOCATION_BYTES && layout.align() <= 4096
}

unsafe fn map_lazy(size: usize) -> *mut u8 {
    let ptr = libc::mmap(
        std::ptr::null_mut(),
        size,
        libc::PROT_READ | libc::PROT_WRITE,
        libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
        -1,
        0,
    );
    if ptr == libc::MAP_FAILED {
        std::ptr::null_mut()
    } else {
        ptr.cast()
    }
}

/// Warns when strict overcommit makes the guard ineffective.
pub fn check_overcommit() {
    if let Ok(mode) = std::fs::read_to_string("/proc/sys/vm/overcommit_memory") {
        if mode.trim() == "2" {
            tracing::warn!(
                "vm.overcommit_memory=2 (strict): hostile request frames may exhaust memory; \
                 set it to 0 or 1 on hosts exposed to untrusted clients"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_allocation_is_lazy_and_released() {
        let a = GuardedAllocator;
        let layout = Layout::from_size_align(200 << 30, 8).unwrap();
        // SAFETY: layout is non-zero; the block is written within bounds and freed once.
        unsafe {
            let p = a.alloc(layout);
            assert!(!p.is_null());
            *p = 7;
            *p.add((200 << 30) - 1) = 9;
            assert_eq!(*p, 7);
            a.dealloc(p, layout);
        }
    }
}

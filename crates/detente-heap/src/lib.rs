//! Gives the heap's free pages back to the operating system.
//!
//! Under a steady mix of requests, glibc's allocator keeps pages that were freed inside its
//! arenas: the node's live heap stays flat while its resident memory creeps up (measured in
//! `docs/node.md`, "Mixed load from several members"). `malloc_trim(0)` hands every whole
//! free page in every arena back with `madvise(MADV_DONTNEED)`, so calling it now and then
//! keeps the resident size at the live heap plus what the allocator holds between two calls.
//!
//! This is the workspace's one use of `unsafe`: a call into the C library, with no pointers.

/// Returns free heap pages to the operating system; true if any memory was released.
/// Does nothing (and returns false) where the C library is not glibc.
pub fn trim() -> bool {
    imp::trim()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod imp {
    #[allow(unsafe_code)]
    pub(super) fn trim() -> bool {
        // SAFETY: `malloc_trim` takes an integer, touches no memory of ours, and takes each
        // arena's lock itself, so calling it from any thread at any time is sound.
        unsafe { libc::malloc_trim(0) == 1 }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod imp {
    pub(super) fn trim() -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn trim_releases_freed_pages_and_can_be_called_again() {
        // Many blocks below the mmap threshold, freed except the last, leave free pages
        // inside the heap that only a trim gives back.
        let mut blocks: Vec<Vec<u8>> = (0..2_000).map(|i| vec![i as u8; 64 * 1024]).collect();
        let last = blocks.pop();
        drop(blocks);
        let released = super::trim();
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(released, "glibc had free pages to give back");
        } else {
            assert!(!released);
        }
        assert_eq!(last.map(|b| b.len()), Some(64 * 1024));
        super::trim();
    }
}

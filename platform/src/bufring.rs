//! A provided-buffer ring (`IORING_REGISTER_PBUF_RING`): buffers one ring's
//! receives take from, shared by every connection of that ring. Used by the
//! server's io-uring backend and by the load generator's io_uring driver.
//! The only module of this crate that may contain `unsafe`: its memory is
//! shared with the kernel.
//!
//! Memory layout: one page-aligned array of `entries` ring slots
//! ([`BufRingEntry`], 16 bytes each; the kernel reads the tail from the
//! reserved field of slot 0), then one allocation of `entries` buffers of
//! `size` bytes. The application writes slots and publishes the tail; the
//! kernel takes buffers at the head and names them (buffer id) in each
//! completion. A buffer is the application's again from that completion until
//! [`BufRing::recycle`] puts it back.
//!
//! **Lifetime.** The kernel may write a buffer from the moment an operation
//! takes it until that operation's completion arrives, and it takes buffers
//! for as long as the ring is registered. So the memory is freed (on drop)
//! only once the kernel no longer knows it: registration failed, or the
//! owner called [`BufRing::unregister`], whose contract is that no
//! operation that may take a buffer is in flight. A `BufRing` dropped while
//! still registered keeps its memory for good, deliberately: dropping an
//! io_uring does not wait for its operations (teardown is asynchronous), so
//! without that contract there is no moment at which freeing is known to be
//! safe. The server's loops end only when the process exits, with receives
//! still armed, and take that path; the load generator's driver, which runs
//! once per run and may run hundreds of times in one process (`sweep`),
//! cancels its receives, waits for their last completions and unregisters.

use std::alloc::{Layout, alloc_zeroed, dealloc};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

/// One buffer group's ring and buffers. Freed when dropped only if the
/// kernel no longer knows them (see the module doc and [`unregister`]).
///
/// [`unregister`]: BufRing::unregister
pub struct BufRing {
    slots: NonNull<BufRingEntry>,
    slots_layout: Layout,
    bufs: NonNull<u8>,
    bufs_layout: Layout,
    entries: u16,
    size: usize,
    /// The tail as written so far; published to the kernel by `publish`.
    tail: u16,
    group: u16,
    /// The io_uring this is registered with, while it is (see the module
    /// doc: while registered, the memory is never freed).
    registered: Option<RawFd>,
}

impl BufRing {
    /// Allocate `entries` (a power of two, at most 32768) buffers of `size`
    /// bytes, register them with `ring` as buffer group `group`, and hand
    /// all of them to the kernel.
    pub fn new(ring: &IoUring, entries: u16, size: usize, group: u16) -> io::Result<Self> {
        assert!(entries.is_power_of_two() && entries <= 1 << 15, "buffer ring entries {entries}");
        assert!(size > 0 && size <= u32::MAX as usize);
        let page = 4096;
        let slots_layout = Layout::from_size_align(entries as usize * size_of::<BufRingEntry>(), page)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let bufs_layout = Layout::from_size_align(entries as usize * size, page)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let out_of_memory = || io::Error::from(io::ErrorKind::OutOfMemory);
        // SAFETY: the layout has a non-zero size (entries >= 1).
        let slots = NonNull::new(unsafe { alloc_zeroed(slots_layout) }.cast::<BufRingEntry>())
            .ok_or_else(out_of_memory)?;
        // SAFETY: the layout has a non-zero size (entries >= 1, size >= 1).
        let Some(bufs) = NonNull::new(unsafe { alloc_zeroed(bufs_layout) }) else {
            // SAFETY: allocated just above with this layout, and not shared
            // with anyone yet.
            unsafe { dealloc(slots.as_ptr().cast(), slots_layout) };
            return Err(out_of_memory());
        };
        // Not registered yet: should registering fail, dropping `this`
        // frees both allocations.
        let mut this = BufRing {
            slots,
            slots_layout,
            bufs,
            bufs_layout,
            entries,
            size,
            tail: 0,
            group,
            registered: None,
        };
        // SAFETY: `slots` points to `entries` zeroed, page-aligned ring
        // slots, which are not freed while registered (see `Drop`).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(this.slots.as_ptr() as u64, entries, group, 0)?;
        }
        this.registered = Some(ring.as_raw_fd());
        for id in 0..entries {
            this.recycle(id);
        }
        this.publish();
        Ok(this)
    }

    pub fn group(&self) -> u16 {
        self.group
    }

    /// The first `len` bytes of buffer `id`, which a completion has just
    /// handed back to the application.
    pub fn get(&self, id: u16, len: usize) -> &[u8] {
        assert!(id < self.entries && len <= self.size, "buffer {id} of {} ({len} bytes)", self.entries);
        // SAFETY: `id` and `len` are within the buffers allocation (checked
        // above), and the kernel is done writing buffer `id`: its completion
        // arrived and it has not been recycled yet, so nobody writes it while
        // this borrow lives (recycling needs `&mut self`).
        unsafe { std::slice::from_raw_parts(self.bufs.as_ptr().add(id as usize * self.size), len) }
    }

    /// Give buffer `id` back to the kernel (visible after [`publish`]).
    ///
    /// [`publish`]: BufRing::publish
    pub fn recycle(&mut self, id: u16) {
        let mask = self.entries - 1;
        // SAFETY: `tail & mask` is within the `entries` slots. The kernel
        // only reads slots between its head and the published tail, and this
        // slot is past the published tail, so the kernel is not reading it.
        let slot = unsafe { &mut *self.slots.as_ptr().add((self.tail & mask) as usize) };
        // SAFETY: `id` is within the buffers allocation (it came from a
        // completion of this ring, or from `new`).
        slot.set_addr(unsafe { self.bufs.as_ptr().add(id as usize * self.size) } as u64);
        slot.set_len(self.size as u32);
        slot.set_bid(id);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Make recycled buffers visible to the kernel: one release store of the
    /// tail, after the slots it covers were written.
    pub fn publish(&self) {
        // SAFETY: `slots` is the ring's base, properly initialised; the tail
        // lives in slot 0's reserved field, which `recycle` never writes, and
        // is a naturally aligned u16 the kernel reads atomically.
        let tail = unsafe { &*BufRingEntry::tail(self.slots.as_ptr()).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }

    /// Take the buffers back from the kernel (`IORING_UNREGISTER_PBUF_RING`),
    /// so that dropping `self` frees them. On an error they stay
    /// registered, and dropping `self` keeps them (see the module doc).
    ///
    /// # Safety
    ///
    /// No operation that may take a buffer from this group is in flight on
    /// `ring`: the last completion of each (for a multishot receive, the one
    /// without `IORING_CQE_F_MORE`) has been reaped. A buffer an operation
    /// has already taken is written without looking at the ring again, so
    /// unregistering does not stop that write; freeing would let the kernel
    /// write memory that is no longer this ring's.
    ///
    /// # Panics
    ///
    /// If `ring` is not the io_uring `self` was registered with.
    pub unsafe fn unregister(&mut self, ring: &IoUring) -> io::Result<()> {
        let Some(fd) = self.registered else { return Ok(()) };
        assert_eq!(fd, ring.as_raw_fd(), "unregistering buffer group {} from another io_uring", self.group);
        ring.submitter().unregister_buf_ring(self.group)?;
        self.registered = None;
        Ok(())
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        if self.registered.is_some() {
            // The kernel may still take and write these buffers: keep them
            // for good rather than free memory it may write (module doc).
            return;
        }
        // SAFETY: the kernel no longer knows this memory: registration
        // failed, or `unregister` succeeded, whose contract is that no
        // operation that took a buffer is in flight. Both were allocated
        // with these layouts and are freed only here.
        unsafe {
            dealloc(self.slots.as_ptr().cast(), self.slots_layout);
            dealloc(self.bufs.as_ptr(), self.bufs_layout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring, or `None` (with the reason printed) where this kernel or its
    /// settings refuse io_uring.
    fn ring(test: &str) -> Option<IoUring> {
        match IoUring::new(8) {
            Ok(ring) => Some(ring),
            Err(e) => {
                eprintln!("SKIPPED {test}: io_uring_setup: {e}");
                None
            }
        }
    }

    /// Unregistering really hands the group back: registering it again
    /// succeeds, where a group still registered is refused.
    #[test]
    fn unregister_frees_the_group() {
        let Some(ring) = ring("unregister_frees_the_group") else { return };
        let mut bufs = match BufRing::new(&ring, 8, 64, 3) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("SKIPPED unregister_frees_the_group: no buffer rings here (Linux 5.19): {e}");
                return;
            }
        };
        let again = BufRing::new(&ring, 8, 64, 3).err().expect("group 3 is taken");
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists, "{again}");
        // SAFETY: nothing was ever submitted on this ring.
        unsafe { bufs.unregister(&ring) }.unwrap();
        // Twice is harmless.
        // SAFETY: as above.
        unsafe { bufs.unregister(&ring) }.unwrap();
        drop(bufs);
        let mut bufs = BufRing::new(&ring, 8, 64, 3).expect("group 3 is free again");
        // SAFETY: as above.
        unsafe { bufs.unregister(&ring) }.unwrap();
    }

    /// What a completion would hand back is what `get` reads.
    #[test]
    fn buffers_start_zeroed_and_in_bounds() {
        let Some(ring) = ring("buffers_start_zeroed_and_in_bounds") else { return };
        let Ok(mut bufs) = BufRing::new(&ring, 4, 16, 0) else {
            eprintln!("SKIPPED buffers_start_zeroed_and_in_bounds: no buffer rings here (Linux 5.19)");
            return;
        };
        assert_eq!(bufs.group(), 0);
        assert_eq!(bufs.get(3, 16), &[0; 16]);
        // SAFETY: nothing was ever submitted on this ring.
        unsafe { bufs.unregister(&ring) }.unwrap();
    }
}

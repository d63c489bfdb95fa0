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
//! The memory is never freed. The kernel may write a buffer until every
//! operation that can take from the ring has ended, and tearing an io_uring
//! down is asynchronous: there is no point at which freeing is known to be
//! safe short of process exit. There is one ring per loop thread and loops
//! run until the process exits, so nothing accumulates.

use std::alloc::{Layout, alloc_zeroed};
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::IoUring;
use io_uring::types::BufRingEntry;

pub struct BufRing {
    slots: NonNull<BufRingEntry>,
    bufs: NonNull<u8>,
    entries: u16,
    size: usize,
    /// The tail as written so far; published to the kernel by `publish`.
    tail: u16,
    group: u16,
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
        // SAFETY: both layouts have a non-zero size (entries >= 1, size >= 1).
        let slots = NonNull::new(unsafe { alloc_zeroed(slots_layout) }.cast::<BufRingEntry>());
        // SAFETY: as above.
        let bufs = NonNull::new(unsafe { alloc_zeroed(bufs_layout) });
        let (Some(slots), Some(bufs)) = (slots, bufs) else {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        };
        let mut this = BufRing { slots, bufs, entries, size, tail: 0, group };
        // SAFETY: `slots` points to `entries` zeroed, page-aligned ring slots
        // that are never freed (see the module doc).
        unsafe {
            ring.submitter().register_buf_ring_with_flags(this.slots.as_ptr() as u64, entries, group, 0)?;
        }
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
}

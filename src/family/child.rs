//! Module implementing a family's child: one allocation holding a reference count, the
//! child's bookkeeping, its metric and its text (key and rendered labels).
//!
//! A family with a million children pays this allocation a million times (see BENCHMARKS.md,
//! memory per child), so it is one block instead of an `Arc` (with a weak count nobody uses)
//! pointing at a separate boxed text, and the label values are stored once: in the rendered
//! labels, which double as the key (see [`LabelKey`]), unless a value needed escaping.

use core::alloc::Layout;
use core::marker::PhantomData;
use core::mem::size_of;
use core::ptr::NonNull;

use super::key::{LabelKey, LabelQuery};
use crate::encode::escape::label_value_changes;
use crate::sync::{fence, AtomicU32, Ordering};

/// Texts up to this many bytes (key and labels each) keep their lengths in the header;
/// longer ones keep them in a 16-byte prefix of the text (see [`Lens`]). Low under test so
/// that the long form is exercised.
#[cfg(not(test))]
const SHORT_MAX: usize = u32::MAX as usize - 1;
#[cfg(test)]
const SHORT_MAX: usize = 40;

/// `key_len` value meaning "the lengths are in the text's prefix".
const LONG: u32 = u32::MAX;

/// Bytes of the long form's prefix: the key's and the labels' lengths, `u64` little-endian.
const PREFIX: usize = 16;

/// Reference counts above this abort the process (as `Arc` does): only this crate clones a
/// child (the index, the order list, per-thread caches, a scrape's list), so reaching it
/// means a leak, never a legitimate count.
const MAX_REFS: u32 = u32::MAX / 2;

/// The fixed part of a child. Its text (the explicit key, if any, then the rendered labels)
/// follows it in the same allocation, so it is only reachable through a [`ChildRef`].
#[derive(Debug)]
pub(crate) struct Child<M> {
    refs: AtomicU32,
    /// Position in the creation-order list (see `order.rs`); only under the writer lock.
    pub(crate) pos: AtomicU32,
    /// Bytes of the explicit key at the start of the text: 0 when the rendered labels are
    /// the key (no value needed escaping), [`LONG`] for the long form.
    key_len: u32,
    /// Bytes of the rendered labels (unused in the long form).
    labels_len: u32,
    /// Process-unique identity, never reused: remote write caches each series' encoded
    /// labels under it (an address could be reused by a later child once this one is freed).
    pub(crate) id: u64,
    /// When the child was created, in seconds since the Unix epoch (`_created`).
    pub(crate) created: f64,
    pub(crate) metric: M,
}

/// Where a child's key and labels lie in its text.
struct Lens {
    prefix: usize,
    key: usize,
    labels: usize,
}

/// A counted reference to a [`Child`], like an `Arc` (one pointer; no weak count).
#[repr(transparent)]
pub(crate) struct ChildRef<M> {
    ptr: NonNull<Child<M>>,
    _owns: PhantomData<Child<M>>,
}

// SAFETY: a `ChildRef` shares its child like an `Arc` does: it hands out `&Child<M>` (so `&M`)
// to whichever thread holds it, and the last one to drop it drops the `M`. That needs `M` to
// be both `Send` and `Sync`, exactly `Arc<T>`'s bounds; the count itself is atomic.
#[allow(unsafe_code)]
unsafe impl<M: Send + Sync> Send for ChildRef<M> {}
// SAFETY: as for `Send`.
#[allow(unsafe_code)]
unsafe impl<M: Send + Sync> Sync for ChildRef<M> {}

#[allow(unsafe_code)] // the block is laid out by hand: header, then text
impl<M> ChildRef<M> {
    /// A child for `values` whose labels render as `labels` (see `render_labels`).
    pub(crate) fn new(
        values: LabelQuery<'_>,
        labels: &str,
        created: f64,
        id: u64,
        metric: M,
    ) -> Self {
        let mut text = Vec::new();
        // The labels hold each value verbatim unless one needed escaping; only then is the
        // key stored on its own.
        let key_len = if values.0.iter().any(|v| label_value_changes(v)) {
            values.key_len()
        } else {
            0
        };
        let long = key_len > SHORT_MAX || labels.len() > SHORT_MAX;
        if long {
            text.extend_from_slice(&(key_len as u64).to_le_bytes());
            text.extend_from_slice(&(labels.len() as u64).to_le_bytes());
        }
        if key_len > 0 {
            values.write_key(&mut text);
        }
        text.extend_from_slice(labels.as_bytes());
        let header = Child {
            refs: AtomicU32::new(1),
            pos: AtomicU32::new(0),
            // Both fit: `long` is false only when each is at most SHORT_MAX < u32::MAX.
            key_len: if long { LONG } else { key_len as u32 },
            labels_len: if long { 0 } else { labels.len() as u32 },
            id,
            created,
            metric,
        };
        let layout = Self::layout(text.len());
        // SAFETY: the layout's size is at least `size_of::<Child<M>>()`, which is not zero
        // (the header has integer fields).
        let raw = unsafe { std::alloc::alloc(layout) };
        let Some(block) = NonNull::new(raw) else {
            std::alloc::handle_alloc_error(layout)
        };
        let ptr = block.cast::<Child<M>>();
        // SAFETY: `block` is a fresh allocation of `layout`: the header fits at its start
        // (aligned for `Child<M>`), and `text.len()` bytes fit right after the header, where
        // `layout` put them (`u8` needs no alignment). Nothing else refers to the block yet.
        unsafe {
            ptr.as_ptr().write(header);
            core::ptr::copy_nonoverlapping(
                text.as_ptr(),
                raw.add(size_of::<Child<M>>()),
                text.len(),
            );
        }
        ChildRef {
            ptr,
            _owns: PhantomData,
        }
    }

    /// The block's layout for a text of `len` bytes (header first, text at
    /// `size_of::<Child<M>>()`).
    fn layout(len: usize) -> Layout {
        Layout::new::<Child<M>>()
            .extend(Layout::array::<u8>(len).expect("a text that is already in memory"))
            .expect("a text that is already in memory")
            .0
    }

    fn lens(&self) -> Lens {
        let header = &**self;
        if header.key_len != LONG {
            return Lens {
                prefix: 0,
                key: header.key_len as usize,
                labels: header.labels_len as usize,
            };
        }
        // SAFETY: the long form's text starts with its 16-byte prefix (see `new`); the block
        // is alive while `self` holds a count and the text is never written after `new`.
        let prefix = unsafe { core::slice::from_raw_parts(self.text_start(), PREFIX) };
        let word = |i: usize| {
            let mut b = [0; 8];
            b.copy_from_slice(&prefix[i..i + 8]);
            u64::from_le_bytes(b) as usize
        };
        Lens {
            prefix: PREFIX,
            key: word(0),
            labels: word(8),
        }
    }

    fn text_start(&self) -> *const u8 {
        // SAFETY: the header and the text are one allocation (see `new`), so the text's
        // first byte is `size_of::<Child<M>>()` past the start, in bounds (one past the end
        // at most, for an empty text); `ptr` carries the whole block's provenance.
        unsafe { self.ptr.as_ptr().cast::<u8>().add(size_of::<Child<M>>()) }
    }

    /// The text's bytes from `start`, `len` of them.
    fn text(&self, start: usize, len: usize) -> &[u8] {
        // SAFETY: `lens` describes the text `new` wrote (prefix, key, labels, in that order,
        // exactly its length), and callers ask only for those parts; the block lives as long
        // as `self`, and the text is never written after `new`.
        unsafe { core::slice::from_raw_parts(self.text_start().add(start), len) }
    }

    /// The label values (the map's key).
    #[inline]
    pub(crate) fn key(&self) -> LabelKey<'_> {
        let l = self.lens();
        if l.key == 0 {
            LabelKey::rendered(self.text(l.prefix, l.labels))
        } else {
            LabelKey::explicit(self.text(l.prefix, l.key))
        }
    }

    /// The rendered label pairs (`a="x",b="y"`; empty for an unlabelled family).
    #[inline]
    pub(crate) fn labels(&self) -> &str {
        let l = self.lens();
        let bytes = self.text(l.prefix + l.key, l.labels);
        // SAFETY: `new` copied these bytes from a `&str` and they are never modified, so they
        // are valid UTF-8 (validating on every scrape would cost more than the encode).
        unsafe { core::str::from_utf8_unchecked(bytes) }
    }

    /// Bytes of this child's block (header and text).
    pub(crate) fn heap_bytes(&self) -> usize {
        let l = self.lens();
        Self::layout(l.prefix + l.key + l.labels).size()
    }

    /// Whether `a` and `b` are the same child (not just equal labels).
    #[inline]
    pub(crate) fn ptr_eq(a: &Self, b: &Self) -> bool {
        a.ptr == b.ptr
    }

    /// Gives up this reference as a type-erased pointer (for the per-thread cache); undo
    /// with [`from_erased`](Self::from_erased) or [`borrow_erased`](Self::borrow_erased).
    pub(crate) fn into_erased(self) -> NonNull<()> {
        let p = self.ptr.cast();
        core::mem::forget(self);
        p
    }

    /// Takes back a reference given up by [`into_erased`](Self::into_erased).
    ///
    /// # Safety
    ///
    /// `p` came from `ChildRef::<M>::into_erased` (this very `M`) and is taken back once.
    pub(crate) unsafe fn from_erased(p: NonNull<()>) -> Self {
        ChildRef {
            ptr: p.cast(),
            _owns: PhantomData,
        }
    }

    /// Borrows the reference that an erased pointer stands for.
    ///
    /// # Safety
    ///
    /// `*p` came from `ChildRef::<M>::into_erased` (this very `M`) and is not taken back
    /// while the borrow lasts.
    pub(crate) unsafe fn borrow_erased(p: &NonNull<()>) -> &Self {
        // SAFETY: `ChildRef<M>` is `repr(transparent)` over `NonNull<Child<M>>`, which has the
        // layout of `NonNull<()>` (both thin pointers); the caller vouches that the pointer is
        // a live reference of this type, and the borrow keeps `*p` (hence the count) alive.
        unsafe { &*(p as *const NonNull<()>).cast::<Self>() }
    }
}

impl<M> core::ops::Deref for ChildRef<M> {
    type Target = Child<M>;
    #[inline]
    #[allow(unsafe_code)]
    fn deref(&self) -> &Child<M> {
        // SAFETY: `self` holds one of the block's counts, so the header is initialised and
        // alive; it is only ever shared (its mutable parts are atomics).
        unsafe { self.ptr.as_ref() }
    }
}

impl<M> Clone for ChildRef<M> {
    #[inline]
    fn clone(&self) -> Self {
        // Relaxed, as in `Arc::clone`: a new reference is made from an existing one, which
        // keeps the block alive meanwhile, and the increment publishes nothing.
        if self.refs.fetch_add(1, Ordering::Relaxed) > MAX_REFS {
            std::process::abort();
        }
        ChildRef {
            ptr: self.ptr,
            _owns: PhantomData,
        }
    }
}

impl<M> Drop for ChildRef<M> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        // Release, as in `Arc::drop`: this thread's uses of the child happen before the
        // decrement; the last owner's Acquire fence below pairs with every such Release, so
        // the drop sees all of them.
        if self.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        fence(Ordering::Acquire);
        let l = self.lens();
        let layout = Self::layout(l.prefix + l.key + l.labels);
        // SAFETY: this was the last reference (the count reached 0 and nobody can make a new
        // one from nothing), so the header is dropped exactly once and the block, allocated
        // in `new` with this same layout (the lengths were read before the drop), is freed.
        unsafe {
            core::ptr::drop_in_place(self.ptr.as_ptr());
            std::alloc::dealloc(self.ptr.as_ptr().cast(), layout);
        }
    }
}

impl<M> core::fmt::Debug for ChildRef<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id)
            .field("labels", &self.labels())
            .finish_non_exhaustive()
    }
}

/// The child block's reference counting alone, for the loom models (`loom-tests/`): a child
/// with no labels holding `T`.
#[cfg(tachymeter_loom)]
#[doc(hidden)]
pub struct LoomChild<T>(ChildRef<T>);

#[cfg(tachymeter_loom)]
impl<T> LoomChild<T> {
    /// One reference to a fresh child holding `metric`.
    pub fn new(metric: T) -> Self {
        LoomChild(ChildRef::new(LabelQuery(&[]), "", 0.0, 0, metric))
    }

    /// The child's metric.
    pub fn metric(&self) -> &T {
        &self.0.metric
    }
}

#[cfg(tachymeter_loom)]
impl<T> Clone for LoomChild<T> {
    fn clone(&self) -> Self {
        LoomChild(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(values: &[&str], labels: &str) -> ChildRef<Vec<u8>> {
        ChildRef::new(LabelQuery(values), labels, 1.5e9, 7, vec![1, 2, 3])
    }

    #[test]
    fn plain_values_are_stored_once_in_the_labels() {
        let c = child(&["x", "ü"], "a=\"x\",b=\"ü\"");
        assert_eq!(c.key_len, 0, "no separate key");
        assert_eq!(
            (c.created, c.id, &c.metric[..]),
            (1.5e9, 7, &[1u8, 2, 3][..])
        );
        assert_eq!(c.labels(), "a=\"x\",b=\"ü\"");
        assert!(LabelQuery(&["x", "ü"]).matches(c.key()));
        assert!(!LabelQuery(&["x", "u"]).matches(c.key()));
        let values: Vec<&[u8]> = c.key().values().collect();
        assert_eq!(values, [&b"x"[..], "ü".as_bytes()]);
    }

    #[test]
    fn escaped_values_keep_an_explicit_key() {
        let c = child(&["a\"b", "c"], "a=\"a\\\"b\",b=\"c\"");
        assert_eq!(c.key_len as usize, LabelQuery(&["a\"b", "c"]).key_len());
        assert_eq!(c.labels(), "a=\"a\\\"b\",b=\"c\"");
        assert!(LabelQuery(&["a\"b", "c"]).matches(c.key()));
        assert!(!LabelQuery(&["a\\\"b", "c"]).matches(c.key()));
    }

    #[test]
    fn long_texts_keep_their_lengths_in_a_prefix() {
        let v = "v".repeat(SHORT_MAX + 1);
        let labels = format!("a=\"{v}\"");
        let c = child(&[&v], &labels);
        assert_eq!(c.key_len, LONG);
        assert_eq!(c.labels(), labels);
        assert!(LabelQuery(&[&v]).matches(c.key()));
        let quoted = format!("{v}\"");
        let c = child(&[&quoted], &format!("a=\"{v}\\\"\""));
        assert_eq!(c.key_len, LONG);
        assert_eq!(c.labels(), format!("a=\"{v}\\\"\""));
        assert!(LabelQuery(&[&quoted]).matches(c.key()));
        assert!(!LabelQuery(&[&v]).matches(c.key()));
    }

    #[test]
    fn an_unlabelled_child_has_an_empty_key_and_labels() {
        let c = child(&[], "");
        assert_eq!(c.labels(), "");
        assert!(LabelQuery(&[]).matches(c.key()));
        assert_eq!(c.key().values().count(), 0);
    }

    #[test]
    #[allow(unsafe_code)]
    fn the_last_reference_drops_the_metric_once() {
        let metric = std::sync::Arc::new(());
        let c = ChildRef::new(LabelQuery(&["x"]), "a=\"x\"", 0.0, 1, metric.clone());
        let d = c.clone();
        let erased = d.clone().into_erased();
        assert!(ChildRef::ptr_eq(&c, &d));
        drop(c);
        assert_eq!(std::sync::Arc::strong_count(&metric), 2);
        // SAFETY: `erased` came from `into_erased` of this type and is taken back once.
        let e = unsafe { ChildRef::<std::sync::Arc<()>>::from_erased(erased) };
        drop(d);
        assert_eq!(std::sync::Arc::strong_count(&metric), 2);
        drop(e);
        assert_eq!(std::sync::Arc::strong_count(&metric), 1);
    }
}

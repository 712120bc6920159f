//! How many bytes an item holds: what channels bounded in bytes count (see
//! [`PipelineConfig::memory_limit`](crate::PipelineConfig::memory_limit)).
//!
//! A type's weigher is registered once for the whole process ([`register`]); channels created
//! afterwards weigh each item they carry with it. A type without one weighs its size in memory
//! (`size_of`), which is right for items that own nothing on the heap.
//!
//! ```
//! struct Line(String);
//! sluice_core::weigh::register::<Line>(|line| std::mem::size_of::<Line>() + line.0.len());
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{OnceLock, PoisonError, RwLock};

/// Bytes an item holds: its own size and what it owns on the heap (an estimate is fine).
pub type Weigher<T> = fn(&T) -> usize;

type Registry = RwLock<HashMap<TypeId, Box<dyn Any + Send + Sync>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// Registers `weigh` as the weigher of `T` for channels created from now on; a later call
/// replaces it.
pub fn register<T: 'static>(weigh: Weigher<T>) {
    registry()
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(TypeId::of::<T>(), Box::new(weigh));
}

/// The weigher of `T`: the registered one, or its size in memory.
pub(crate) fn weigher<T: 'static>() -> Weigher<T> {
    registry()
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&TypeId::of::<T>())
        .and_then(|w| w.downcast_ref::<Weigher<T>>())
        .copied()
        .unwrap_or(|_| std::mem::size_of::<T>())
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Blob(Vec<u8>);

    #[test]
    fn a_registered_weigher_counts_the_heap_and_others_their_size() {
        register::<Blob>(|b| b.0.len());
        assert_eq!(weigher::<Blob>()(&Blob(vec![0; 1000])), 1000);
        assert_eq!(weigher::<u64>()(&7), 8);
    }
}

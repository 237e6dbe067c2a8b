//! Memory of a compiled table, counted by a counting allocator: the bytes the table holds per
//! rule, and the peak bytes of loading and compiling per rule, for the simple rules of
//! `benches/compile.rs` (a prefix `uri` and an exact header each, one destination with a
//! subset), in VirtualServices of 1,000 rules.
//!
//! `cargo run --release --example table_memory -- [RULES...]` (default 1000 10000 100000).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};

use meshroute::{CompileOptions, Config, compile};

#[path = "../benches/common/simple_rules.rs"]
mod simple_rules;
use simple_rules::yaml_texts;

/// The system allocator, keeping the bytes currently allocated and their peak.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

fn grew(by: isize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` with the same arguments; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size() as isize);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grew(new_size as isize - layout.size() as isize);
        // SAFETY: as for `alloc`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number of rules"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1000, 10_000, 100_000]
    } else {
        sizes
    };
    let options = CompileOptions::strict();
    println!(
        "{:>8} {:>14} {:>10} {:>16} {:>10}",
        "rules", "table bytes", "per rule", "peak load+comp", "per rule"
    );
    for n in sizes {
        let texts = yaml_texts(n);
        let text_bytes: usize = texts.iter().map(String::len).sum();
        let base = LIVE.load(Ordering::Relaxed);
        PEAK.store(base, Ordering::Relaxed);
        let mut config = Config::new();
        for t in &texts {
            config.add_str(t, "rules.yaml").expect("loads");
        }
        let table = compile(&config, &options).expect("compiles").table;
        let peak = PEAK.load(Ordering::Relaxed) - base;
        drop(config);
        let held = LIVE.load(Ordering::Relaxed) - base;
        assert_eq!(table.rules().len(), n);
        println!(
            "{n:>8} {held:>14} {:>10} {peak:>16} {:>10}   (input text {text_bytes} bytes, not counted)",
            held / n as isize,
            peak / n as isize
        );
        if std::env::var_os("TABLE_MEMORY_KEEP").is_some() {
            std::mem::forget(table);
        }
    }
}

use std::time::Instant;
use sluice_core::{Pipeline, PipelineConfig};

fn main() {
    let n: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10_000_000);
    let bs: usize = std::env::var("BS").ok().and_then(|s| s.parse().ok()).unwrap_or(256);
    let cap: usize = std::env::var("CAP").ok().and_then(|s| s.parse().ok()).unwrap_or(2048);
    let threads: usize = std::env::var("TH").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().unwrap();
    for _ in 0..3 {
        let t = Instant::now();
        let s: u64 = (1..=n).map(|x| std::hint::black_box(x).wrapping_mul(x)).fold(0u64, |a, x| a.wrapping_add(x));
        let plain = t.elapsed();
        let t = Instant::now();
        let p = Pipeline::with_config("b", PipelineConfig::default().batch_size(bs).capacity(cap));
        let s2 = rt.block_on(p.from_iter(1..=n).map(|x: u64| x.wrapping_mul(x)).fold(0u64, |a, x| a.wrapping_add(x))).unwrap();
        let fl = t.elapsed();
        let t = Instant::now();
        let p = Pipeline::with_config("b", PipelineConfig::default().batch_size(bs).capacity(cap));
        let s3 = rt.block_on(p.from_iter(1..=n).map(|x: u64| x.wrapping_mul(x)).map(|x| x).map(|x|x).fold(0u64, |a, x| a.wrapping_add(x))).unwrap();
        let fl3 = t.elapsed();
        assert_eq!(s, s2); assert_eq!(s, s3);
        println!("plain {:.1} M/s  sluice {:.1} M/s ({:.2} ns/item)  sluice+2maps {:.1} M/s", n as f64/plain.as_secs_f64()/1e6, n as f64/fl.as_secs_f64()/1e6, fl.as_nanos() as f64 / n as f64, n as f64/fl3.as_secs_f64()/1e6);
    }
}

//! Map-reduce (seed 002): split lines into words (map), route each word to one of four
//! reducers by hash so every count of a word meets in one place (shuffle), count (reduce).

use std::collections::HashMap;

use sluice_core::{Flow, Operators, Pipeline};

const TEXT: &str = "the quick brown fox jumps over the lazy dog
the dog barks and the fox runs
a quick brown dog jumps";

#[tokio::main]
async fn main() -> Result<(), sluice_core::Error> {
    let p = Pipeline::new("word-count");
    let lanes = p
        .from_iter(TEXT.lines().map(str::to_owned).collect::<Vec<_>>())
        .flat_map(|line| {
            line.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .partition_by_key(4, std::clone::Clone::clone);
    let reduced = lanes.into_iter().map(|lane| {
        lane.key_by(std::clone::Clone::clone)
            .fold(|_| 0u32, |count, _| *count += 1)
    });
    let counts: HashMap<String, u32> = Flow::merge(reduced).collect().await?.into_iter().collect();
    let mut top: Vec<(&String, &u32)> = counts.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (word, count) in top.iter().take(4) {
        println!("{word}: {count}");
    }
    Ok(())
}

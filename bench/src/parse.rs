//! Output parsing: the host parses every card's output into the tree its
//! schema validator reads. This case times that parse on a real SmartHR
//! crew (the record the HTTP card returns, as the emulator serves it)
//! against other parsers: `serde_json` into its `Value` without the
//! duplicate-key check, and `sonic-rs` (SIMD) into the same `Value` and into
//! its own tree. All run in this process, one after the other, in rounds.

use crate::Plan;
use crate::cases::{NativeSmartHr, crew_ids};
use crate::upstream::Addresses;
use anyhow::ensure;
use serde_json::Value;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// One parser's time per parse: the median of the rounds' means.
#[derive(Debug, Clone)]
pub struct Parser {
    pub name: &'static str,
    pub per_parse: Duration,
}

#[derive(Debug, Clone)]
pub struct OutputParse {
    /// Bytes of the crew record parsed.
    pub bytes: usize,
    pub parsers: Vec<Parser>,
}

type ParseFn = fn(&str) -> bool;

const PARSERS: [(&str, ParseFn); 4] = [
    ("the host's parser (serde_json, keys checked unique)", |t| {
        cardhost_runtime::invoke::parse_output(t).is_ok()
    }),
    ("serde_json into `serde_json::Value`", |t| {
        serde_json::from_str::<Value>(t).is_ok()
    }),
    ("sonic-rs into `serde_json::Value`", |t| {
        sonic_rs::from_str::<Value>(t).is_ok()
    }),
    ("sonic-rs into its own `sonic_rs::Value`", |t| {
        sonic_rs::from_str::<sonic_rs::Value>(t).is_ok()
    }),
];

pub async fn output_parse(plan: &Plan, addresses: &Addresses) -> anyhow::Result<OutputParse> {
    let native = NativeSmartHr::new(addresses)?;
    let id = crew_ids(&native).await?.remove(0);
    let text = native
        .get(&format!("/api/v1/crews/{id}"), &[])
        .await?
        .text()
        .await?;
    // Every parser must read the same tree.
    let expected: Value = serde_json::from_str(&text)?;
    ensure!(cardhost_runtime::invoke::parse_output(&text).as_ref() == Ok(&expected));
    ensure!(sonic_rs::from_str::<Value>(&text)? == expected);
    let per_round = plan.overhead_per_round;
    let mut means: Vec<Vec<Duration>> = vec![Vec::new(); PARSERS.len()];
    for _ in 0..plan.rounds {
        for (i, (_, parse)) in PARSERS.iter().enumerate() {
            let started = Instant::now();
            for _ in 0..per_round {
                ensure!(parse(black_box(&text)));
            }
            means[i].push(started.elapsed() / per_round as u32);
        }
    }
    let parsers = PARSERS
        .iter()
        .zip(means)
        .map(|((name, _), mut rounds)| {
            rounds.sort();
            Parser {
                name,
                per_parse: rounds[rounds.len() / 2],
            }
        })
        .collect();
    Ok(OutputParse {
        bytes: text.len(),
        parsers,
    })
}
